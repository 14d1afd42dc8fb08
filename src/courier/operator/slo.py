"""End-to-end latency report against NFR-02 (95% within 2 minutes, 99.9% within 3).

Locally every file's latency is known exactly: the NiFi receiver's journal says
when each bundle was acknowledged and the bundle's manifest says when S3
announced each file. On AWS the ``DeliveryLatency`` EMF metric gives the
percentiles through CloudWatch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from courier.bundle import manifest_files
from courier.events import parse_event_time
from courier.observability import NAMESPACE, SERVICE
from courier.ports import Metrics

SLO_P95_SECONDS = 120.0
SLO_P999_SECONDS = 180.0
QUANTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99, "p99.9": 0.999}


def quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted values."""
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def percentiles(values: list[float]) -> dict[str, float | None]:
    """Count, p50/p95/p99/p99.9 and max of ``values`` (None when empty), as the live view and stats show them."""
    ordered = sorted(values)

    def at(q: float) -> float | None:
        if not ordered:
            return None
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"count": len(ordered), "p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "p999": at(0.999), "max": at(1.0)}


def local_latencies(state_dir: Path, since: datetime | None = None) -> list[float]:
    """Seconds from S3 event to NiFi's acknowledgement, per delivered file (replays excluded)."""
    latencies = []
    journal = state_dir / "received.jsonl"
    for line in journal.read_text().splitlines() if journal.exists() else []:
        entry = json.loads(line)
        if entry.get("replay") or (since and entry["time"] < since.timestamp()):
            continue
        bundle = state_dir / "received" / f"{entry['sha256']}.tar.gz"
        if not bundle.exists():
            continue
        for f in manifest_files(bundle.read_bytes()):
            latencies.append(entry["time"] - parse_event_time(f["event_time"]).timestamp())
    return latencies


def summarise(latencies: Iterable[float]) -> dict[str, Any]:
    ordered = sorted(latencies)
    if not ordered:
        return {"files": 0}
    within_2m = sum(1 for v in ordered if v <= SLO_P95_SECONDS) / len(ordered)
    within_3m = sum(1 for v in ordered if v <= SLO_P999_SECONDS) / len(ordered)
    return {
        "files": len(ordered),
        "seconds": {name: round(quantile(ordered, q), 3) for name, q in QUANTILES.items()} | {"max": round(ordered[-1], 3)},
        "within_2_minutes": within_2m,
        "within_3_minutes": within_3m,
        "slo_met": within_2m >= 0.95 and within_3m >= 0.999,
    }


def plot(latencies: list[float], summary: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"p50": "#55a868", "p95": "#8172b3", "p99": "#937860", "p99.9": "#da8bc3"}
    fig, (whole, zoom) = plt.subplots(1, 2, figsize=(13, 5), dpi=110, gridspec_kw={"width_ratios": [3, 2]})
    upper = max(SLO_P999_SECONDS * 1.05, max(latencies) * 1.05)
    zoom_upper = max(latencies) * 1.1 or 1.0
    for ax, limit, bins in ((whole, upper, 120), (zoom, zoom_upper, 60)):
        ax.hist(latencies, bins=bins, range=(0, limit), color="#4c72b0")
        ax.set_yscale("log")
        ax.set_xlabel("seconds from S3 event to NiFi acknowledgement")
        for name, value in summary["seconds"].items():
            if name in colours:
                ax.axvline(value, color=colours[name], linewidth=1.5, label=f"{name} = {value:.1f} s")
    slo_lines = ((SLO_P95_SECONDS, "2-minute SLO (95%)", "#dd8452"), (SLO_P999_SECONDS, "3-minute SLO (99.9%)", "#c44e52"))
    for value, label, colour in slo_lines:
        whole.axvline(value, color=colour, linestyle="--", label=label)
        if value <= zoom_upper:
            zoom.axvline(value, color=colour, linestyle="--")
    whole.set_ylabel("files (log scale)")
    whole.set_title("whole range, with the SLO lines", fontsize=10)
    zoom.set_title(f"0 to {zoom_upper:.1f} s", fontsize=10)
    whole.legend(loc="upper right", fontsize=8)
    fig.suptitle(
        f"{title}: {summary['files']} files, {summary['within_2_minutes'] * 100:.2f}% within 2 min, "
        f"{summary['within_3_minutes'] * 100:.3f}% within 3 min"
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def cloudwatch_summary(metrics: Metrics, since: datetime, until: datetime, service: str = SERVICE) -> dict[str, Any]:
    """Percentiles of the DeliveryLatency EMF metric (no per-file values: no histogram) of one environment:
    ``service`` is its metrics' `service` dimension, its name (courier-<env>)."""
    points = metrics.datapoints(
        NAMESPACE,
        "DeliveryLatency",
        {"service": service},
        since,
        until,
        max(60, int((until - since).total_seconds()) // 60 * 60),
        statistics=["SampleCount", "Maximum"],
        extended_statistics=list(QUANTILES),
    )
    if not points:
        return {"files": 0}
    point = max(points, key=lambda p: p["SampleCount"])
    seconds = {name: point["ExtendedStatistics"].get(name) for name in QUANTILES} | {"max": point["Maximum"]}
    return {
        "files": int(point["SampleCount"]),
        "seconds": seconds,
        "slo_met": (seconds["p95"] or 0) <= SLO_P95_SECONDS and (seconds["p99.9"] or 0) <= SLO_P999_SECONDS,
        "source": "CloudWatch DeliveryLatency",
    }
