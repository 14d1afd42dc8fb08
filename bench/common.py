"""Shared helpers of the benchmarks: realistic files, latency injection, result files."""

from __future__ import annotations

import json
import os
import platform
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from courier.local.traffic import realistic_file

RESULTS = Path(__file__).parent / "results"

# Per-call latencies like AWS's, from the performance issue.
AWS_LATENCY = {
    ("s3", "GetObject"): 0.020,
    ("s3", "PutObject"): 0.030,
    ("s3", "PutObjectTagging"): 0.030,
    ("dynamodb", "*"): 0.008,
    ("secretsmanager", "GetSecretValue"): 0.015,
    ("sqs", "*"): 0.008,
}
NIFI_LATENCY = 0.050


def files(count: int, seed: int = 7, size: int = 27_000) -> list[bytes]:
    rng = random.Random(seed)
    return [realistic_file(rng, size) for _ in range(count)]


def inject_latency(session: Any, table: dict[tuple[str, str], float] = AWS_LATENCY) -> None:
    """Sleep before every AWS call of clients made from ``session``, as the network would."""

    def delay(model: Any, **_: Any) -> None:
        service = model.service_model.service_name if hasattr(model, "service_model") else ""
        seconds = table.get((service, model.name), table.get((service, "*"), 0.0))
        if seconds:
            time.sleep(seconds)

    session._session.register("before-call", delay)  # before moto (or the network) answers


def machine() -> dict[str, Any]:
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "python": platform.python_version()}


def save(name: str, figures: dict[str, Any], command: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "benchmark": name,
        "command": command,
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **figures,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2))


def report(title: str, rows: list[tuple[str, str, str]], command: str) -> None:
    print(f"\n== {title}")
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f"  {name:<{width}}  {value:>16}   {target}")
    print(f"  reproduce: {command}")


@contextmanager
def timer() -> Iterator[dict[str, float]]:
    out: dict[str, float] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    yield out
    out["wall"] = time.perf_counter() - wall
    out["cpu"] = time.process_time() - cpu
