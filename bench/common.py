"""Shared helpers of the benchmarks: realistic files, latency injection, result files."""

from __future__ import annotations

import functools
import json
import logging
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any, TextIO, TypeVar

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

_figures: list[TextIO] = []  # where report() prints while a benchmark's own stdout goes to its log
Main = TypeVar("Main", bound=Callable[..., Any])


def figures_only(main: Main) -> Main:
    """Run a benchmark that drives the handler with its stdout in results/<name>.log.

    The handler prints EMF documents and JSON logs to stdout, as Lambda wants; between
    the figures they were a flood. report() still prints to the terminal.
    """

    @functools.wraps(main)
    def run(*args: Any, **kwargs: Any) -> Any:
        RESULTS.mkdir(exist_ok=True)
        name = Path(main.__code__.co_filename).stem  # "__main__" as a module name under python -m
        handlers = [h for h in logging.getLogger("courier").handlers if isinstance(h, logging.StreamHandler)]
        _figures.append(sys.stdout)  # the stdout of whoever runs the benchmark, before ours is redirected
        with open(RESULTS / f"{name}.log", "w", encoding="utf-8") as sink, redirect_stdout(sink):
            previous = [h.setStream(sink) for h in handlers]
            try:
                return main(*args, **kwargs)
            finally:
                for handler, stream in zip(handlers, previous, strict=True):
                    handler.setStream(stream)
        _figures.pop()

    return run  # type: ignore[return-value]


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


def run_child(module: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``python -m <module> --child <spec file>`` and return the JSON of its last line of output.

    One invocation per child process, so that its VmHWM is the handler's own peak.
    """
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(spec, file)
    try:
        out = subprocess.run(
            [sys.executable, "-m", module, "--child", file.name],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    finally:
        os.unlink(file.name)
    return json.loads(out.stdout.strip().splitlines()[-1])


def status_mb(field: str) -> float:
    """VmHWM / VmRSS of this process in MB. Not ru_maxrss: Linux carries that over from the
    parent across fork and exec, so a child would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


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
    out = _figures[-1] if _figures else sys.stdout
    print(f"\n== {title}", file=out)
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f"  {name:<{width}}  {value:>16}   {target}", file=out)
    print(f"  reproduce: {command}", file=out)


@contextmanager
def timer() -> Iterator[dict[str, float]]:
    out: dict[str, float] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    yield out
    out["wall"] = time.perf_counter() - wall
    out["cpu"] = time.process_time() - cpu
