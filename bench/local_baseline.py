"""Benchmark 5: the local stack at a steady rate (the baseline), latency against offered rate, and the emulator's ceiling.

The whole local stack (`courier local up`'s: moto server, the Lambda runtime, the
NiFi receiver) runs in this process on ports of its own, fed by the local
stack's own uploader (``courier.local.traffic``, several threads so the rate
holds). Each phase uploads at one rate for a while, then waits until the queue
is empty; per phase: files uploaded, delivered, lost, duplicated, in the DLQ,
and the S3-event-to-NiFi-ack percentiles (``courier.operator.slo``, as ``courier
slo-report`` computes them). Before that, the same run measures the emulator's
own ceiling: a PUT -> SQS -> GET -> delete loop against a bare moto server with
no courier in it, as fast as it goes.

    python -m bench.local_baseline [--baseline-rate 25] [--baseline-duration 600]
                                   [--sweep 10,20,30,40] [--sweep-duration 60] [--ceiling-seconds 30]

Short run: ``--baseline-duration 60 --sweep "" --ceiling-seconds 15``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import report, save

COMMAND = ".venv/bin/python -m bench.local_baseline"
AWS_PORT, NIFI_PORT, CEILING_PORT = 4577, 8457, 4578  # courier local up: 4566/8443; make chaos: 4576/8453
PER_UPLOADER = 8.0  # files/s one uploader thread is asked for: one PUT per 125 ms, well within the emulator's answer
TARGET_RATE, TARGET_P99_SECONDS = 25.0, 10.0
DRAIN_SECONDS = 180.0
# The timings these figures have been measured with since the first baseline, stated (the stack's defaults are the
# deployment's since: a 20-s batching window, batches of 1000, a 120-s function): a 2-s window and batches of 100.
BENCH_TIMINGS = {
    "batch_size": 100,
    "batching_window_seconds": 2,
    "function_timeout_seconds": 30,
    "visibility_timeout_seconds": 10,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline-rate", type=float, default=TARGET_RATE, help="files/s of the baseline phase")
    parser.add_argument("--baseline-duration", type=float, default=600.0, help="seconds of the baseline phase")
    parser.add_argument("--sweep", default="10,20,30,40", help="offered rates (files/s) for the latency graph; '' for none")
    parser.add_argument("--sweep-duration", type=float, default=60.0, help="seconds per sweep rate")
    parser.add_argument("--ceiling-seconds", type=float, default=30.0, help="seconds of the emulator-only loop")


@dataclass
class Phase:
    name: str
    offered: float
    duration: float
    uploaded: list[tuple[str, str]] = field(default_factory=list)  # (key, revision)
    upload_failures: int = 0
    started: float = 0.0
    upload_seconds: float = 0.0
    drained: bool = False

    def figures(self, stack: Any, latencies: list[float], sustained: float) -> dict[str, Any]:
        from courier.operator import slo

        with stack.fake_nifi.state.lock:
            deliveries = dict(stack.fake_nifi.state.deliveries)
        bucket = stack.resources.landing_bucket
        delivered = [k for k in self.uploaded if (bucket, k[0], k[1]) in deliveries]
        summary = slo.summarise(latencies)
        return {
            "offered_files_per_s": self.offered,
            "duration_s": self.duration,
            "uploaded": len(self.uploaded),
            "upload_failures": self.upload_failures,
            "uploaded_files_per_s": len(self.uploaded) / self.upload_seconds if self.upload_seconds else 0.0,
            "delivered": len(delivered),
            "lost": len(self.uploaded) - len(delivered),
            "duplicated": sum(deliveries.get((bucket, k[0], k[1]), 1) - 1 for k in self.uploaded),
            "sustained_files_per_s": sustained,
            "drained": self.drained,
            "dlq": stack.depths()[2],  # the DLQ's depth after the phase (cumulative over the run)
            "latency": summary,
        }


def emulator_ceiling(seconds: float, workers: int = 4, size: int = 27_000) -> dict[str, Any]:
    """Files/s of PUT -> (S3 event) SQS -> GET -> delete on a bare moto server: the emulator's own limit."""
    import random

    import boto3

    from courier.local.emulator import Emulator
    from courier.local.provision import provision
    from courier.local.traffic import realistic_file
    from courier.stackfile import FAKE_CREDENTIALS, REGION

    emulator = Emulator(CEILING_PORT).start()
    try:
        session = boto3.session.Session(
            region_name=REGION,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        os.environ["AWS_ENDPOINT_URL"] = emulator.endpoint
        try:
            stack = provision(session, {"username": "bench", "password": "bench"})
            s3, sqs = session.client("s3"), session.client("sqs")
        finally:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        body = realistic_file(random.Random(5), size)
        done = [0] * workers
        stop = threading.Event()

        def loop(n: int) -> None:
            sequence = 0
            while not stop.is_set():
                s3.put_object(Bucket=stack.landing_bucket, Key=f"ceiling/{n}/{sequence:07d}.json", Body=body)
                sequence += 1
                got = sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
                messages = got.get("Messages", [])
                for message in messages:
                    record = _first_record(message["Body"])
                    if record is not None:
                        s3.get_object(Bucket=record[0], Key=record[1])["Body"].read()
                        if not stop.is_set():
                            done[n] += 1
                if messages:
                    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
                    sqs.delete_message_batch(QueueUrl=stack.queue_url, Entries=entries)

        threads = [threading.Thread(target=loop, args=(n,), daemon=True) for n in range(workers)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        elapsed = time.monotonic() - started
        for thread in threads:
            thread.join(10)
        return {"seconds": elapsed, "workers": workers, "files": sum(done), "files_per_s": sum(done) / elapsed}
    finally:
        emulator.stop()


def _first_record(body: str) -> tuple[str, str] | None:
    import json
    from urllib.parse import unquote_plus

    records = json.loads(body).get("Records") or []
    if not records:
        return None  # s3:TestEvent
    s3 = records[0]["s3"]
    return s3["bucket"]["name"], unquote_plus(s3["object"]["key"])


def run_phase(stack: Any, phase: Phase) -> Phase:
    from courier.local.traffic import Uploader

    s3 = stack.session.client("s3")
    uploaders = max(1, math.ceil(phase.offered / PER_UPLOADER))
    running = [
        Uploader(s3, stack.resources.landing_bucket, rate=phase.offered / uploaders, prefix=f"bench/{phase.name}/u{i}", seed=i)
        for i in range(uploaders)
    ]
    phase.started = time.time()
    start = time.monotonic()
    for uploader in running:
        uploader.start(duration=phase.duration)
    for uploader in running:
        assert uploader.thread is not None
        uploader.thread.join()
    phase.upload_seconds = time.monotonic() - start
    for uploader in running:
        phase.uploaded += uploader.stats.keys
        phase.upload_failures += uploader.stats.failed
    phase.drained = stack.drain(DRAIN_SECONDS)
    return phase


def acknowledged(state_dir: Path, phase: Phase) -> tuple[list[float], float]:
    """Latencies of the files acknowledged since the phase started, and the files/s acknowledged while
    uploads ran, after the first tenth of the phase (the pipeline's filling): the rate it sustained."""
    import json

    from courier.operator import slo

    latencies = slo.local_latencies(state_dir, datetime.fromtimestamp(phase.started, UTC))
    journal = state_dir / "received.jsonl"
    entries = [json.loads(line) for line in journal.read_text().splitlines()] if journal.exists() else []
    window = (phase.started + phase.upload_seconds * 0.1, phase.started + phase.upload_seconds)
    files = sum(e["file_count"] for e in entries if window[0] <= e["time"] < window[1] and not e.get("replay"))
    return latencies, files / (window[1] - window[0]) if window[1] > window[0] else 0.0


@contextlib.contextmanager
def bench_stack(prefix: str, aws_port: int, nifi_port: int) -> Iterator[tuple[Any, Path]]:
    """A local stack with BENCH_TIMINGS in a scratch state dir; stopped, its environment restored, the dir removed."""
    from courier.local.stack import LocalConfig, LocalStack

    state_dir = Path(tempfile.mkdtemp(prefix=prefix))
    saved_env = dict(os.environ)
    stack = LocalStack(LocalConfig(state_dir=state_dir, aws_port=aws_port, nifi_port=nifi_port, **BENCH_TIMINGS))
    try:
        stack.start()
        yield stack, state_dir
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved_env)
        shutil.rmtree(state_dir, ignore_errors=True)


def main(args: argparse.Namespace | None = None) -> dict[str, Any]:
    if args is None:
        parser = argparse.ArgumentParser(prog="python -m bench.local_baseline")
        add_arguments(parser)
        args = parser.parse_args()
    ceiling = emulator_ceiling(args.ceiling_seconds)
    sweep = [float(r) for r in str(args.sweep).split(",") if r.strip()]
    phases = [Phase(f"sweep-{rate:g}", rate, args.sweep_duration) for rate in sweep]
    phases.append(Phase("baseline", args.baseline_rate, args.baseline_duration))
    results: dict[str, dict[str, Any]] = {}
    with bench_stack("courier-bench-", AWS_PORT, NIFI_PORT) as (stack, state_dir):
        for phase in phases:
            run_phase(stack, phase)
            latencies, sustained = acknowledged(state_dir, phase)
            results[phase.name] = phase.figures(stack, latencies, sustained)
    baseline = results["baseline"]
    baseline["fraction_of_emulator_ceiling"] = baseline["sustained_files_per_s"] / ceiling["files_per_s"]
    figures = {"emulator_ceiling": ceiling, "baseline": baseline, "sweep": [results[p.name] for p in phases]}
    seconds = baseline["latency"].get("seconds", {})
    rows = [
        (
            "emulator ceiling",
            f"{ceiling['files_per_s']:.1f} files/s",
            f"PUT->SQS->GET->delete, no courier, {ceiling['workers']} loops",
        ),
        ("offered", f"{baseline['offered_files_per_s']:g} files/s", f"for {baseline['duration_s']:.0f} s; target 25 for 600"),
        ("uploaded", f"{baseline['uploaded']} ({baseline['uploaded_files_per_s']:.1f}/s)", ""),
        ("delivered / lost", f"{baseline['delivered']} / {baseline['lost']}", "target: 0 lost"),
        (
            "duplicated / DLQ",
            f"{baseline['duplicated']} / {baseline['dlq']}",
            "drained" if baseline["drained"] else "NOT drained",
        ),
        (
            "sustained",
            f"{baseline['sustained_files_per_s']:.1f} files/s",
            "acknowledged while uploads ran, after the first tenth",
        ),
        ("of the emulator ceiling", f"{baseline['fraction_of_emulator_ceiling'] * 100:.0f}%", ""),
        ("p50 / p95", f"{seconds.get('p50', 0):.1f} / {seconds.get('p95', 0):.1f} s", "S3 event to NiFi ack"),
        ("p99", f"{seconds.get('p99', 0):.1f} s", f"target <= {TARGET_P99_SECONDS:g} s"),
    ]
    for phase in figures["sweep"][:-1]:
        s = phase["latency"].get("seconds", {})
        rows.append(
            (
                f"sweep {phase['offered_files_per_s']:g}/s",
                f"p99 {s.get('p99', 0):.1f} s",
                f"sustained {phase['sustained_files_per_s']:.1f}/s, lost {phase['lost']}",
            )
        )
    report("local stack baseline (moto server + Lambda runtime + NiFi receiver, one process)", rows, COMMAND)
    save("local_baseline", figures, COMMAND)
    return figures


if __name__ == "__main__":
    main()
