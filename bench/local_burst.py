"""Benchmark 6: the seed's load profile on the local stack: a burst of 100 files/s for 10 s over a 10 files/s baseline.

The baseline runs for ``--before + burst + --after`` seconds; during the burst 100 files/s more are offered
(110 in all). Then the queue is drained and every file uploaded in the run is looked for at the receiver:
offered against achieved (uploaded) rate, delivered, lost, and the S3-event-to-NiFi-ack latency of every
delivered file (p50 / p95 / p99.9) against the design's SLO: 95% within 2 minutes, 99.9% within 3.
The stack runs with the same stated timings as the baseline benchmark (``local_baseline.BENCH_TIMINGS``).

    python -m bench.local_burst [--before 20] [--after 30]
"""

from __future__ import annotations

import argparse
import math
import time
from datetime import UTC, datetime
from typing import Any

from bench.common import report, save
from bench.local_baseline import BENCH_TIMINGS, DRAIN_SECONDS, PER_UPLOADER, bench_stack

COMMAND = ".venv/bin/python -m bench.local_burst"
AWS_PORT, NIFI_PORT = 4579, 8459  # the baseline benchmark: 4577/8457
BASELINE_RATE, BURST_RATE, BURST_SECONDS = 10.0, 100.0, 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--before", type=float, default=20.0, help="seconds of baseline before the burst")
    parser.add_argument("--after", type=float, default=30.0, help="seconds of baseline after the burst")


def uploaders(stack: Any, rate: float, prefix: str) -> list[Any]:
    from courier.local.traffic import Uploader

    s3 = stack.session.client("s3")
    count = max(1, math.ceil(rate / PER_UPLOADER))
    bucket = stack.resources.landing_bucket
    return [Uploader(s3, bucket, rate=rate / count, prefix=f"{prefix}/u{i}", seed=100 + i) for i in range(count)]


def run(stack: Any, before: float, after: float) -> dict[str, Any]:
    """Upload the profile, drain, and count: the figures of the run."""
    from courier.operator import slo

    baseline = uploaders(stack, BASELINE_RATE, "burst/baseline")
    burst = uploaders(stack, BURST_RATE, "burst/burst")
    started = time.time()
    for uploader in baseline:
        uploader.start(duration=before + BURST_SECONDS + after)
    time.sleep(before)
    burst_started = time.monotonic()
    for uploader in burst:
        uploader.start(duration=BURST_SECONDS)
    for uploader in burst:
        assert uploader.thread is not None
        uploader.thread.join()
    burst_seconds = time.monotonic() - burst_started
    for uploader in baseline:
        assert uploader.thread is not None
        uploader.thread.join()
    drained = stack.drain(DRAIN_SECONDS)
    keys = [k for u in baseline + burst for k in u.stats.keys]
    burst_keys = [k for u in burst for k in u.stats.keys]
    with stack.fake_nifi.state.lock:
        deliveries = dict(stack.fake_nifi.state.deliveries)
    bucket = stack.resources.landing_bucket
    delivered = [k for k in keys if (bucket, k[0], k[1]) in deliveries]
    latencies = slo.local_latencies(stack.state_dir, datetime.fromtimestamp(started, UTC))
    return {
        "baseline_files_per_s": BASELINE_RATE,
        "burst_offered_files_per_s": BURST_RATE,
        "burst_seconds": BURST_SECONDS,
        "burst_uploaded": len(burst_keys),
        "burst_achieved_files_per_s": len(burst_keys) / burst_seconds if burst_seconds else 0.0,
        "upload_failures": sum(u.stats.failed for u in baseline + burst),
        "uploaded": len(keys),
        "delivered": len(delivered),
        "lost": len(keys) - len(delivered),
        "duplicated": sum(deliveries.get((bucket, k[0], k[1]), 1) - 1 for k in keys),
        "dlq": stack.depths()[2],
        "drained": drained,
        "latency": slo.summarise(latencies),
        "timings": BENCH_TIMINGS,
    }


def main(args: argparse.Namespace | None = None) -> dict[str, Any]:
    if args is None:
        parser = argparse.ArgumentParser(prog="python -m bench.local_burst")
        add_arguments(parser)
        args = parser.parse_args()
    with bench_stack("courier-burst-", AWS_PORT, NIFI_PORT) as (stack, _):
        figures = run(stack, args.before, args.after)
    latency = figures["latency"]
    seconds = latency.get("seconds", {})
    rows = [
        (
            "burst offered / achieved",
            f"{figures['burst_offered_files_per_s']:g} / {figures['burst_achieved_files_per_s']:.1f} files/s",
            f"for {figures['burst_seconds']:g} s over {figures['baseline_files_per_s']:g} files/s",
        ),
        ("uploaded / delivered / lost", f"{figures['uploaded']} / {figures['delivered']} / {figures['lost']}", "target: 0 lost"),
        ("duplicated / DLQ", f"{figures['duplicated']} / {figures['dlq']}", "drained" if figures["drained"] else "NOT drained"),
        (
            "p50 / p95 / p99.9",
            f"{seconds.get('p50', 0):.1f} / {seconds.get('p95', 0):.1f} / {seconds.get('p99.9', 0):.1f} s",
            "S3 event to NiFi ack",
        ),
        (
            "within 2 / 3 minutes",
            f"{latency.get('within_2_minutes', 0) * 100:.2f}% / {latency.get('within_3_minutes', 0) * 100:.2f}%",
            "SLO: 95% / 99.9% " + ("met" if latency.get("slo_met") else "NOT met"),
        ),
    ]
    report("local stack burst (100 files/s for 10 s over 10 files/s)", rows, COMMAND)
    save("local_burst", figures, COMMAND)
    return figures


if __name__ == "__main__":
    main()
