"""Benchmark 3: wall, CPU, peak RSS and Lambda GB-seconds by batch size (10, 100, 1,000, 5,000).

The emulator runs in this process (moto server); each batch is handled in a child
process, so the child's peak RSS is the handler's own.

    python -m bench.cost_memory
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from bench.common import figures_only, files, report, run_child, save, status_mb
from bench.world import fake_nifi, new_session, provisioned, record_for

COMMAND = ".venv/bin/python -m bench.cost_memory"
SIZES = (10, 100, 1000, 5000)
MEMORY_MB = 1024  # the Terraform default of the aggregator
MEMORY_SIZES = (512, 1024, 1769)  # Lambda memory sizes the GB-s per file is printed for
RECOMMENDED_MB = 512  # what the README recommends (its "Memory size" paragraph); the GB-s target applies here
FULL_VCPU_MB = 1769  # Lambda gives a function one full vCPU at 1769 MB, and that share of one below
GB_S_TARGET = 0.004


def lambda_seconds(wall: float, cpu: float, memory_mb: int) -> float:
    """The invocation's duration on Lambda at ``memory_mb``, from a run on at least one whole core.

    Below 1769 MB Lambda gives the function ``memory_mb / 1769`` of a vCPU, so the
    CPU part (``cpu``) takes ``1769 / memory_mb`` times as long; the waiting does
    not. Conservative: it assumes none of that CPU overlapped the waiting.
    """
    return wall + cpu * max(0.0, FULL_VCPU_MB / memory_mb - 1)


def gb_s_per_file(wall: float, cpu: float, memory_mb: int, files: int) -> float:
    return lambda_seconds(wall, cpu, memory_mb) * memory_mb / 1024 / files


def lambda_cost(stub: dict, files: int) -> tuple[dict, list[tuple[str, str, str]]]:
    """GB-s per file at each memory size, from the latency-only stub's warm invocation (benchmark 2)."""
    figures: dict = {"files": files, "wall_s": stub["warm_invocation_s"], "cpu_s": stub["warm_cpu_s"], "by_memory_mb": {}}
    rows = []
    for memory in MEMORY_SIZES:
        per_file = gb_s_per_file(stub["warm_invocation_s"], stub["warm_cpu_s"], memory, files)
        figures["by_memory_mb"][str(memory)] = {
            "lambda_seconds": lambda_seconds(stub["warm_invocation_s"], stub["warm_cpu_s"], memory),
            "gb_s_per_file": per_file,
        }
        target = f"target <= {GB_S_TARGET} (README's size)" if memory == RECOMMENDED_MB else ""
        rows.append((f"{memory} MB", f"{per_file:.5f} GB-s/file", target))
    figures["recommended_mb"] = RECOMMENDED_MB
    figures["recommended_gb_s_per_file"] = figures["by_memory_mb"][str(RECOMMENDED_MB)]["gb_s_per_file"]
    return figures, rows


def child(spec_path: str) -> None:
    """Run one invocation of the records in spec_path; print wall, CPU, RSS."""
    from bench.common import inject_latency
    from bench.world import new_session as session_factory
    from courier.compose import build_runtime
    from courier.config import Settings

    spec = json.loads(Path(spec_path).read_text())
    session = session_factory()
    inject_latency(session)
    runtime = build_runtime(Settings.from_env(spec["env"]), session)
    records = spec["records"]
    baseline = status_mb("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    result = runtime.aggregator.process(records)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = status_mb("VmHWM")
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu,
                "peak_rss_mb": peak,
                "baseline_rss_mb": baseline,
                "failed": len(result.returned),  # deferred ones too, as before
                "bundles": len(result.bundles),
                "raw_bytes": sum(b.raw_bytes for _, b in result.bundles),
            }
        )
    )


def main(stub: dict | None = None) -> dict:
    """``stub``: benchmark 2's latency-only figures of the same run; measured here when not given."""
    import logging

    from moto.server import ThreadedMotoServer

    from courier.local.emulator import ensure_port_free, make_conditional_writes_atomic

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    make_conditional_writes_atomic()
    port = 4599
    ensure_port_free(port, "benchmark emulator", "(edit bench/cost_memory.py)")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    rows, figures = [], {"memory_mb": MEMORY_MB, "sizes": {}}
    try:
        with fake_nifi(delay=0.050) as (nifi, ca):
            session = new_session()
            stack = provisioned(session)
            s3 = session.client("s3")
            # moto's S3 -> SQS notifications slow down as the queue grows: build the records here.
            s3.put_bucket_notification_configuration(Bucket=stack.landing_bucket, NotificationConfiguration={})
            for size in SIZES:
                records = []
                for i, body in enumerate(files(size, seed=size)):
                    key = f"cost{size}/{i:06d}.json"
                    put = s3.put_object(Bucket=stack.landing_bucket, Key=key, Body=body)
                    records.append(record_for(stack.landing_bucket, key, put, len(body), stack.queue_arn))
                env = {
                    "COURIER_ARCHIVE_BUCKET": stack.archive_bucket,
                    "COURIER_NIFI_URL": nifi.url(),
                    "COURIER_NIFI_CA_BUNDLE": ca,
                }
                run = run_child("bench.cost_memory", {"env": env, "records": records})
                assert run["failed"] == 0, run
                gb_s_per_file = run["wall"] * MEMORY_MB / 1024 / size
                raw_mb = run["raw_bytes"] / 1e6
                allowed = 2.5 * raw_mb + 150
                run.update(
                    gb_s_per_file=gb_s_per_file,
                    gb_s_per_million_files=gb_s_per_file * 1e6,
                    memory_target_mb=allowed,
                    raw_mb=raw_mb,
                )
                figures["sizes"][str(size)] = run
                rows.append((f"{size:>5} files", f"{run['wall']:.2f} s wall", f"CPU {run['cpu']:.2f} s"))
                rows.append(
                    ("", f"{run['peak_rss_mb']:.0f} MB peak", f"target <= {allowed:.0f} MB (2.5 x {raw_mb:.0f} MB + 150)")
                )
                rows.append(("", f"{gb_s_per_file:.5f} GB-s/file", "moto's wall, not Lambda's: the target is the stub's, below"))
    finally:
        server.stop()
        os.environ.pop("AWS_ENDPOINT_URL", None)
    report(f"cost and memory by batch size (Lambda at {MEMORY_MB} MB, AWS-like latencies injected)", rows, COMMAND)
    if stub is None:
        from bench.handler_latency import with_stub

        stub = figures_only(with_stub)(files(100), sequential_rounds=0)
    figures["lambda_cost"], cost_rows = lambda_cost(stub, 100)
    report(
        f"Lambda GB-s per file, 100-file batch, latency-only stub: {stub['warm_invocation_s'] * 1000:.0f} ms wall, "
        f"{stub['warm_cpu_s'] * 1000:.0f} ms CPU, CPU scaled to Lambda's share below {FULL_VCPU_MB} MB",
        cost_rows,
        COMMAND,
    )
    save("cost_memory", figures, COMMAND)
    return figures


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
