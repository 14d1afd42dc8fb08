"""docs/performance.md's figures, from the benchmarks' JSON (bench/results/): the table and the two graphs.

Replaces what lies between the ``<!-- bench:figures -->`` and ``<!-- /bench:figures -->``
markers of docs/performance.md (and the cost model's lines between ``<!-- bench:cost -->`` and
``<!-- /bench:cost -->``), and draws docs/img/peak-rss-by-batch.png and
docs/img/latency-vs-rate.png. A benchmark whose JSON is missing leaves its rows
as "not measured" and is named, so a partial run never passes for a whole one.
`make bench` runs this last; alone:

    python -m bench.render_docs
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.common import RESULTS

DOC = Path(__file__).parent.parent / "docs" / "performance.md"
IMG = DOC.parent / "img"
START, END = "<!-- bench:figures -->", "<!-- /bench:figures -->"
COST_START, COST_END = "<!-- bench:cost -->", "<!-- /bench:cost -->"
NOT_MEASURED = "not measured"


def load(results: Path = RESULTS) -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(results.glob("*.json"))}


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("met" if ok else "**missed**")


def rows(r: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(figure, measured, target, met/missed) for every target of issue 13 and the earlier ones still tracked."""
    out: list[tuple[str, str, str, str]] = []
    b = r.get("bundle_throughput")
    if b:
        out.append(("bundle build vs `gzip -6`", f"{b['throughput_ratio']:.1f}x", ">= 5x", verdict(b["throughput_ratio"] >= 5)))
        out.append(
            ("bundle size vs `gzip -6`", f"{b['size_vs_gzip6'] * 100:+.1f}%", "<= +5%", verdict(b["size_vs_gzip6"] <= 0.05))
        )
    else:
        out += [
            ("bundle build vs `gzip -6`", NOT_MEASURED, ">= 5x", ""),
            ("bundle size vs `gzip -6`", NOT_MEASURED, "<= +5%", ""),
        ]
    h = r.get("handler_latency")
    if h:
        s = h["latency_only_stub"]
        out.append(("AWS calls, 100-file batch", str(s["aws_calls"]), "fewer than ~210", verdict(s["aws_calls"] < 210)))
        out.append(
            (
                "100-file batch vs its critical-path bound",
                f"{s['ratio_to_bound']:.2f}x ({s['warm_invocation_s'] * 1000:.0f} / {s['critical_path_bound_s'] * 1000:.0f} ms)",
                "<= 1.3x",
                verdict(s["ratio_to_bound"] <= 1.3),
            )
        )
        out.append(
            (
                "100-file batch vs sequential",
                f"{s['speedup_vs_sequential']:.1f}x faster",
                ">= 10x",
                verdict(s["speedup_vs_sequential"] >= 10),
            )
        )
    else:
        out += [
            ("AWS calls, 100-file batch", NOT_MEASURED, "fewer than ~210", ""),
            ("100-file batch vs its critical-path bound", NOT_MEASURED, "<= 1.3x", ""),
            ("100-file batch vs sequential", NOT_MEASURED, ">= 10x", ""),
        ]
    c = (r.get("cost_memory") or {}).get("lambda_cost")
    if c:
        recommended = c["recommended_mb"]
        for memory, figures in c["by_memory_mb"].items():
            at_recommended = int(memory) == recommended
            out.append(
                (
                    f"GB-s per file at {memory} MB" + (" (README's size)" if at_recommended else ""),
                    f"{figures['gb_s_per_file']:.4f}",
                    "<= 0.004" if at_recommended else "",
                    verdict(figures["gb_s_per_file"] <= 0.004) if at_recommended else "",
                )
            )
    else:
        out.append(("GB-s per file at the README's memory size", NOT_MEASURED, "<= 0.004", ""))
    large = r.get("large_file")
    if large:
        for name, run in large.get("batches", {}).items():
            out.append(
                (
                    f"peak RSS, {name}",
                    f"{run['peak_rss_mb']:.0f} MB",
                    f"<= budget {run['budget_mb']} MB",
                    verdict(run["peak_rss_mb"] <= run["budget_mb"]),
                )
            )
        if "large" in large:
            big = large["large"]
            out.append(
                (
                    f"peak RSS, one {big['size_bytes'] / 2**30:.1f} GiB file end to end",
                    f"{big['peak_rss_mb']:.0f} MB, receiver verified: {big['receiver_verified']}",
                    "<= 300 MB, verified",
                    verdict(big["peak_rss_mb"] <= 300 and big["receiver_verified"]),
                )
            )
    else:
        out.append(("peak RSS by batch composition, large file", NOT_MEASURED, "<= budget; <= 300 MB", ""))
    lb = r.get("local_baseline")
    if lb:
        base, ceiling = lb["baseline"], lb["emulator_ceiling"]
        p99 = base["latency"].get("seconds", {}).get("p99")
        full = base["offered_files_per_s"] >= 25 and base["duration_s"] >= 600
        out.append(
            (
                "local stack: offered rate, duration",
                f"{base['offered_files_per_s']:g} files/s for {base['duration_s']:.0f} s ({base['uploaded']} files)",
                "25 files/s for 600 s",
                verdict(full),
            )
        )
        out.append(
            (
                "local stack: lost / duplicated / DLQ",
                f"{base['lost']} / {base['duplicated']} / {base['dlq']}",
                "0 lost",
                verdict(base["lost"] == 0),
            )
        )
        out.append(
            (
                "local stack: p99, S3 event to NiFi ack",
                f"{p99:.1f} s" if p99 is not None else "-",
                "<= 10 s",
                verdict(p99 is not None and p99 <= 10),
            )
        )
        out.append(("emulator's own ceiling (PUT->SQS->GET->delete)", f"{ceiling['files_per_s']:.1f} files/s", "", ""))
        out.append(
            (
                "local stack's sustained rate, of that ceiling",
                f"{base['sustained_files_per_s']:.1f} files/s = {base['fraction_of_emulator_ceiling'] * 100:.0f}%",
                "",
                "",
            )
        )
    else:
        out.append(("local stack baseline (25 files/s, 10 min)", NOT_MEASURED, "0 lost, p99 <= 10 s", ""))
    out += burst_rows(r.get("local_burst"))
    so = r.get("soak")
    if so:
        out.append(
            (
                "soak: RSS growth over 10,000 invocations",
                f"{so['rss_growth'] * 100:+.1f}%",
                "<= +5%",
                verdict(so["rss_growth"] <= 0.05),
            )
        )
    c = r.get("cost_model")
    if c:
        own = c["courier_own_gbp_per_month"]
        out.append(
            (
                "courier's own AWS calls at the design's volume",
                f"£{own:.2f}/month (£{c['courier_own_gbp_per_million_files']:.2f} per million files)",
                f"<= £{c['target_gbp_per_month']}/month",
                verdict(own <= c["target_gbp_per_month"]),
            )
        )
    else:
        out.append(("courier's own AWS calls at the design's volume", NOT_MEASURED, "<= £30/month", ""))
    return out


def burst_rows(burst: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
    """The seed's load profile on the local stack: offered against achieved, lost, latency against the SLO."""
    if not burst:
        return [("local stack burst (100 files/s for 10 s over 10/s)", NOT_MEASURED, "0 lost; 95% <= 2 min, 99.9% <= 3 min", "")]
    latency = burst["latency"]
    seconds = latency.get("seconds", {})
    return [
        (
            "burst: offered / achieved upload rate",
            f"{burst['burst_offered_files_per_s']:g} / {burst['burst_achieved_files_per_s']:.1f} files/s for "
            f"{burst['burst_seconds']:g} s over {burst['baseline_files_per_s']:g} files/s",
            "100 files/s for 10 s",
            verdict(burst["burst_achieved_files_per_s"] >= 0.95 * burst["burst_offered_files_per_s"]),
        ),
        ("burst: lost (of uploaded)", f"{burst['lost']} of {burst['uploaded']}", "0", verdict(burst["lost"] == 0)),
        (
            "burst: p50 / p95 / p99.9, S3 event to NiFi ack",
            f"{seconds.get('p50', 0):.1f} / {seconds.get('p95', 0):.1f} / {seconds.get('p99.9', 0):.1f} s",
            "95% <= 120 s, 99.9% <= 180 s",
            verdict(bool(latency.get("slo_met"))),
        ),
    ]


def table(r: dict[str, dict[str, Any]]) -> str:
    lines = ["| figure | measured | target | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows(r)]
    runs = sorted({(v.get("when", "?"), k) for k, v in r.items()})
    machine = next(iter(r.values()), {}).get("machine", {})
    benchmarks = ("bundle_throughput", "handler_latency", "cost_memory", "large_file", "local_baseline", "local_burst", "soak")
    missing = [n for n in benchmarks if n not in r]
    lines.append("")
    if runs:
        lines.append(
            f"Measured {runs[0][0]} to {runs[-1][0]} on {machine.get('cores', '?')} cores ({machine.get('cpu', '?')}), "
            f"Python {machine.get('python', '?')}."
        )
    if missing:
        lines.append(f"**Not in this run:** {', '.join(missing)} (their rows say so); rerun `make bench`.")
    graphs = []
    if plot_rss(r):
        graphs.append("![peak RSS by batch composition](img/peak-rss-by-batch.png)")
    if plot_latency(r):
        graphs.append("![latency against offered rate on the local stack](img/latency-vs-rate.png)")
    return "\n".join(lines + [""] + graphs)


def plot_rss(r: dict[str, dict[str, Any]]) -> bool:
    """Peak RSS of one invocation by batch composition, with the memory budget (and the 300 MB line of the large file)."""
    bars: list[tuple[str, float, float | None]] = []  # (label, peak MB, limit MB)
    for size, run in (r.get("cost_memory") or {}).get("sizes", {}).items():
        bars.append((f"{int(size):,} x 27 kB", run["peak_rss_mb"], None))
    large = r.get("large_file") or {}
    for name, run in large.get("batches", {}).items():
        bars.append((name.replace(", ", ",\n").replace(": ", ":\n"), run["peak_rss_mb"], run["budget_mb"]))
    if "large" in large:
        bars.append((f"1 x {large['large']['size_bytes'] / 2**30:.1f} GiB", large["large"]["peak_rss_mb"], 300))
    if not bars:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4.8), dpi=110)
    xs = range(len(bars))
    ax.bar(xs, [b[1] for b in bars], color="#4c72b0")
    for x, (_, peak, limit) in zip(xs, bars, strict=True):
        ax.text(x, peak, f"{peak:.0f}", ha="center", va="bottom", fontsize=8)
        if limit is not None:
            ax.hlines(limit, x - 0.4, x + 0.4, colors="#c44e52", linestyles="--")
    ax.set_xticks(list(xs), [b[0] for b in bars], fontsize=8)
    ax.set_ylabel("peak RSS of the invocation (MB)")
    ax.set_title("peak RSS by batch composition (dashed: the budget, or 300 MB for the large file)", fontsize=10)
    fig.tight_layout()
    IMG.mkdir(parents=True, exist_ok=True)
    fig.savefig(IMG / "peak-rss-by-batch.png")
    plt.close(fig)
    return True


def plot_latency(r: dict[str, dict[str, Any]]) -> bool:
    """p50/p95/p99 of S3 event to NiFi ack against the offered rate, with the 10-s target and the emulator's ceiling."""
    lb = r.get("local_baseline")
    if not lb:
        return False
    phases = sorted(
        (p for p in lb["sweep"] if p["latency"].get("seconds")),
        key=lambda p: p["offered_files_per_s"],
    )
    if not phases:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.8), dpi=110)
    offered = [p["offered_files_per_s"] for p in phases]
    for name, colour in (("p50", "#55a868"), ("p95", "#8172b3"), ("p99", "#937860")):
        ax.plot(offered, [p["latency"]["seconds"][name] for p in phases], marker="o", color=colour, label=name)
    ax.axhline(10, color="#c44e52", linestyle="--", label="p99 target (10 s)")
    ax.axvline(lb["emulator_ceiling"]["files_per_s"], color="#dd8452", linestyle=":", label="emulator's own ceiling")
    for p in phases:
        ax.annotate(f"{p['sustained_files_per_s']:.0f}/s", (p["offered_files_per_s"], p["latency"]["seconds"]["p99"]), fontsize=7)
    ax.set_xlabel("offered rate (files/s); labels: sustained delivery rate")
    ax.set_ylabel("seconds from S3 event to NiFi ack")
    ax.set_title("local stack: latency against offered rate", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    IMG.mkdir(parents=True, exist_ok=True)
    fig.savefig(IMG / "latency-vs-rate.png")
    plt.close(fig)
    return True


def cost_table(r: dict[str, dict[str, Any]]) -> str:
    """benchmark 7's lines: what each service costs a month at the design's volume, its quantity, the design's estimate."""
    c = r.get("cost_model")
    if not c:
        return f"cost model: {NOT_MEASURED} (`python -m bench.cost_model`)"
    lines = ["| service | what | quantity | £/month |", "|---|---|---|---|"]
    for line in c["lines"]:
        quantity = f"{line['quantity']:.4g} {'a month' if line['monthly'] else 'per file'}"
        amount = f"{line['gbp_per_month']:.2f}" if line.get("in_total", True) else f"({line['gbp_per_month']:.2f})"
        lines.append(f"| {line['service']} | {line['what']} | {quantity} | {amount} |")
    design = c["design_gbp_per_month"]
    for service, amount in c["by_service"].items():
        estimate = f"£{design[service]}" if service in design else "none"
        lines.append(f"| **{service}** | total (design §7: {estimate}) | | **{amount:.2f}** |")
    lines.append(
        f"| **all** | £{c['gbp_per_million_files']:.2f} per million files (design §7: £{sum(design.values())}/month) | "
        f"{c['files_per_month'] / 1e6:.2f}M files | **{c['gbp_per_month']:.2f}** |"
    )
    lines.append(
        f"| **courier's own** | all but S3's notification sends; £{c['courier_own_gbp_per_million_files']:.2f} per million files "
        f"(target <= £{c['target_gbp_per_month']}/month) | | **{c['courier_own_gbp_per_month']:.2f}** |"
    )
    lines.append("")
    lines.append(f"Measured {c['when']}, £1 = ${1 / c['gbp_per_usd']:.3f}: `{c['command']}`.")
    return "\n".join(lines)


def _between(doc: str, start: str, end: str, body: str) -> str:
    if start not in doc or end not in doc:
        raise ValueError(f"{DOC} lacks the {start} ... {end} markers")
    head, rest = doc.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def render(doc: str, r: dict[str, dict[str, Any]]) -> str:
    return _between(_between(doc, START, END, table(r)), COST_START, COST_END, cost_table(r))


def main(cost_only: bool = False) -> None:
    """Rewrite the figures table and the cost lines; ``cost_only``: the cost lines alone (the other benchmarks did not run)."""
    doc, figures = DOC.read_text(), load()
    DOC.write_text(_between(doc, COST_START, COST_END, cost_table(figures)) if cost_only else render(doc, figures))
    what = "cost lines" if cost_only else "figures table and graphs"
    print(f"\n== {DOC.relative_to(DOC.parent.parent)}: {what} rewritten from {RESULTS}")


if __name__ == "__main__":
    main()
