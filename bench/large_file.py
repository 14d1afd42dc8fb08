"""Benchmark: peak RSS against the memory budget by batch composition, and a 2 GB file end to end.

The emulator (moto server) and the HTTPS receiver run in this process; each batch is
handled by one invocation in a child process announced as a 1024 MB function
(``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``), so the child's VmHWM is the handler's own peak.

* 1000 x 1 MB, 20 x 60 MB, a mixed batch and 10,000 x 100 B (each spool takes a page and its objects,
  which the budget counts: spool.charge): peak RSS against the budget (half the function's memory);
* one large file (2 GB; ``--size-mb`` for a smaller check) delivered alone, streamed end to end:
  peak RSS <= 300 MB, SHA-256 verified by the receiver, and the rate it moved at, from
  which the ceiling follows (how many GB fit in the function timeout).

    python -m bench.large_file [--only batches|tiny|large] [--size-mb 2048]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import report, run_child, save, status_mb
from bench.world import fake_nifi, new_session, provisioned, record_for
from courier import budget
from courier.local.traffic import realistic_file

COMMAND = ".venv/bin/python -m bench.large_file"
FUNCTION_MB = 512  # the memory size the README recommends; its budget is half of it
LARGE_RSS_TARGET_MB = 300
MB = 10**6
PORT = 4597
BLOCK = 4 * 2**20


def child(spec_path: str) -> None:
    """One invocation of the records in spec_path; prints wall, CPU, peak RSS and what was delivered."""
    from bench.world import new_session as session_factory
    from courier.compose import build_runtime
    from courier.config import Settings

    spec = json.loads(Path(spec_path).read_text())
    os.environ.update(spec["process_env"])
    runtime = build_runtime(Settings.from_env({**spec["env"], **spec["process_env"]}), session_factory())
    baseline = status_mb("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    result = runtime.aggregator.process(spec["records"])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu,
                "peak_rss_mb": status_mb("VmHWM"),
                "baseline_rss_mb": baseline,
                "budget_mb": runtime.settings.memory_budget_mb,
                "failed": {**result.failed, **dict.fromkeys(result.deferred, "deferred")},  # as before: deferrals too
                "bundles": [[b.sha256, b.size] for _, b in result.bundles],
                "raw_bytes": sum(b.raw_bytes for _, b in result.bundles),
            }
        )
    )


def _content(rng: random.Random, size: int) -> bytes:
    """Realistic JSON lines; big ones are a 4 MiB realistic block repeated (deflate's window is 32 KiB, so the
    repetition compresses no better than the block)."""
    if size <= BLOCK:
        return realistic_file(rng, size)[:size]
    block = realistic_file(rng, BLOCK)[:BLOCK]
    return (block * (size // BLOCK + 1))[:size]


def _land(s3: Any, stack: Any, key: str, body: bytes) -> dict[str, Any]:
    put = s3.put_object(Bucket=stack.landing_bucket, Key=key, Body=body)
    return record_for(stack.landing_bucket, key, put, len(body), stack.queue_arn)


def _land_large(s3: Any, stack: Any, key: str, size: int, rng: random.Random) -> tuple[dict[str, Any], str]:
    """Write the file to disk in blocks (never whole in memory), upload it, return its record and SHA-256."""
    block = realistic_file(rng, BLOCK)[:BLOCK]
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(suffix=".bin") as local:
        left = size
        while left:
            chunk = block[: min(left, BLOCK)]
            local.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
        local.flush()
        s3.upload_file(local.name, stack.landing_bucket, key)
    head = s3.head_object(Bucket=stack.landing_bucket, Key=key)
    return record_for(stack.landing_bucket, key, head, size, stack.queue_arn), digest.hexdigest()


def _invoke(records: list[dict[str, Any]], env: dict[str, str], process_env: dict[str, str]) -> dict[str, Any]:
    run = run_child("bench.large_file", {"env": env, "records": records, "process_env": process_env})
    assert not run["failed"], run["failed"]
    return run


def plot(figures: dict[str, Any], path: Path) -> None:
    """Peak RSS by batch composition against the budget and the large-file target (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name.split(":")[0] for name in figures.get("batches", {})]
    peaks = [run["peak_rss_mb"] for run in figures.get("batches", {}).values()]
    if "large" in figures:
        names.append(f"1 x {figures['large']['size_bytes'] / 2**30:.0f} GiB")
        peaks.append(figures["large"]["peak_rss_mb"])
    budget_mb = budget.memory_budget_mb(figures["function_mb"])
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(names, peaks, color="#4c72b0")
    ax.axhline(budget_mb, color="#c44e52", linestyle="--", label=f"budget {budget_mb} MB (half of {figures['function_mb']} MB)")
    ax.axhline(LARGE_RSS_TARGET_MB, color="#55a868", linestyle=":", label=f"large-file target {LARGE_RSS_TARGET_MB} MB")
    for x, peak in enumerate(peaks):
        ax.text(x, peak + 8, f"{peak:.0f}", ha="center")
    ax.set_ylabel("peak RSS (MB, VmHWM)")
    ax.set_title("peak RSS of one invocation by batch composition")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(only: str | None = None, size_mb: int = 2048, function_mb: int = FUNCTION_MB) -> dict[str, Any]:
    import logging

    from moto.server import ThreadedMotoServer

    from courier.local.emulator import ensure_port_free, make_conditional_writes_atomic

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    make_conditional_writes_atomic()
    ensure_port_free(PORT, "benchmark emulator", "(edit bench/large_file.py)")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=PORT, verbose=False)
    server.start()
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{PORT}"
    rows: list[tuple[str, str, str]] = []
    figures: dict[str, Any] = {"function_mb": function_mb, "batches": {}}
    process_env = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function_mb)}
    try:
        with fake_nifi() as (nifi, ca), tempfile.TemporaryDirectory() as spools:
            session = new_session()
            stack = provisioned(session)
            s3 = session.client("s3")
            s3.put_bucket_notification_configuration(Bucket=stack.landing_bucket, NotificationConfiguration={})
            env = {
                "COURIER_ARCHIVE_BUCKET": stack.archive_bucket,
                "COURIER_NIFI_URL": nifi.url(),
                "COURIER_NIFI_CA_BUNDLE": ca,
                "COURIER_SPOOL_DIR": spools,
                # As a deployment that takes large files is set: the longest timeout, the largest /tmp.
                "COURIER_FUNCTION_TIMEOUT_SECONDS": "900",
                "COURIER_EPHEMERAL_STORAGE_MB": "10240",
            }
            rng = random.Random(13)
            if only in (None, "batches", "tiny"):
                batches = {
                    "1000 x 1 MB": [(1000, 1 * MB)],
                    "20 x 60 MB": [(20, 60 * MB)],
                    "mixed: 500 x 100 kB, 10 x 60 MB, 1 x 300 MB": [(500, 100_000), (10, 60 * MB), (1, 300 * MB)],
                    "10000 x 100 B": [(10_000, 100)],
                }
                if only == "tiny":
                    batches = {"10000 x 100 B": batches["10000 x 100 B"]}
                for name, composition in batches.items():
                    records = [
                        _land(s3, stack, f"{name[:4].strip()}/{size}/{i:05d}.json", _content(rng, size))
                        for count, size in composition
                        for i in range(count)
                    ]
                    run = _invoke(records, env, process_env)
                    figures["batches"][name] = run
                    for count, size in composition:  # moto holds every landed byte in this process: free them
                        for i in range(count):
                            s3.delete_object(Bucket=stack.landing_bucket, Key=f"{name[:4].strip()}/{size}/{i:05d}.json")
                    verdict = "ok" if run["peak_rss_mb"] <= run["budget_mb"] else "OVER"
                    rows.append(
                        (
                            name,
                            f"{run['peak_rss_mb']:.0f} MB peak",
                            f"budget {run['budget_mb']} MB ({verdict}); {run['raw_bytes'] / MB:.0f} MB"
                            f" in {len(run['bundles'])} bundles, {run['wall']:.1f} s",
                        )
                    )
            if only in (None, "large"):
                size = size_mb * 2**20
                record, file_sha = _land_large(s3, stack, "large/export.bin", size, rng)
                run = _invoke([record], env, process_env)
                ((bundle_sha, bundle_size),) = run["bundles"]
                received = [b.sha256 for b in nifi.state.bundles]
                stored = Path(nifi.state.state_dir, "received", f"{bundle_sha}.tar.gz")
                verified = bundle_sha in received and stored.stat().st_size == bundle_size
                rate = size / run["wall"]
                work_120 = budget.work_seconds(120, budget.max_post_budget_seconds(120))
                work_900 = budget.work_seconds(900, budget.max_post_budget_seconds(900))
                figures["large"] = {
                    **run,
                    "size_bytes": size,
                    "file_sha256": file_sha,
                    "receiver_verified": verified,
                    "bytes_per_second": rate,
                    # moved once, then each POST attempt's transfer (budget.object_ceiling_bytes)
                    "ceiling_gb_at_120s": rate * work_120 / (1 + budget.POST_ATTEMPTS) / 1e9,
                    "ceiling_gb_at_900s": rate * work_900 / (1 + budget.POST_ATTEMPTS) / 1e9,
                }
                verdict = "ok" if run["peak_rss_mb"] <= LARGE_RSS_TARGET_MB else "OVER"
                rows.append(
                    (
                        f"1 x {size_mb} MiB",
                        f"{run['peak_rss_mb']:.0f} MB peak",
                        f"target <= {LARGE_RSS_TARGET_MB} MB ({verdict}); SHA-256 verified by the receiver: {verified}",
                    )
                )
                rows.append(
                    (
                        "  stream rate",
                        f"{rate / MB:.0f} MB/s",
                        f"{run['wall']:.1f} s end to end; at this rate one invocation moves a file once and POSTs it"
                        f" up to {budget.POST_ATTEMPTS} times: {figures['large']['ceiling_gb_at_120s']:.1f} GB in a 120 s"
                        f" timeout ({work_120:.0f} s of work), {figures['large']['ceiling_gb_at_900s']:.1f} GB in 900 s",
                    )
                )
    finally:
        server.stop()
    report(f"memory by batch composition, large files (function of {function_mb} MB)", rows, COMMAND)
    save("large_file", figures, COMMAND)
    try:
        plot(figures, Path(__file__).parent / "results" / "large_file.png")
    except ImportError:
        pass  # the graph needs matplotlib (courier[report]); the figures are in the JSON
    return figures


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--only", choices=["batches", "tiny", "large"], help="tiny: the 10,000 x 100 B batch alone")
        parser.add_argument("--size-mb", type=int, default=2048, help="size of the large file in MiB (2048)")
        parser.add_argument("--function-mb", type=int, default=FUNCTION_MB, help=f"the function's memory ({FUNCTION_MB})")
        args = parser.parse_args()
        main(args.only, args.size_mb, args.function_mb)
