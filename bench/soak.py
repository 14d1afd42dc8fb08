"""Benchmark 4: many warm invocations in one process, as Lambda reuses an environment.

RSS, open file descriptors and threads after warm-up vs at the end. The emulator
(moto server) runs in a separate process so its growing storage is not counted.

    python -m bench.soak [invocations]
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.common import report, save

COMMAND = ".venv/bin/python -m bench.soak"
INVOCATIONS = 10_000
WARMUP = 1_000


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def emulator(port: int) -> subprocess.Popen:
    code = (
        "import sys, time; from moto.server import ThreadedMotoServer; "
        "from courier.local.emulator import make_conditional_writes_atomic; make_conditional_writes_atomic(); "
        f"s = ThreadedMotoServer(ip_address='127.0.0.1', port={port}, verbose=False); s.start(); print('up', flush=True); "
        "sys.stdin.read()"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "up"
    return proc


def main(invocations: int = INVOCATIONS) -> dict:
    from bench.world import new_session, provisioned, receiver, record_for
    from courier import handler
    from courier.local.emulator import ensure_port_free
    from courier.local.lambda_runtime import LambdaContext

    port = 4598
    ensure_port_free(port, "soak emulator", "(edit bench/soak.py)")
    proc = emulator(port)
    os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", POWERTOOLS_METRICS_DISABLED="true", COURIER_LOG_LEVEL="ERROR")
    samples = []
    try:
        with receiver() as (nifi, ca):
            session = new_session()
            stack = provisioned(session)
            os.environ.update(COURIER_ARCHIVE_BUCKET=stack.archive_bucket, COURIER_NIFI_URL=nifi.url(), COURIER_NIFI_CA_BUNDLE=ca)
            handler.reset()
            s3 = session.client("s3")
            # No notifications piling up in the emulator: the records are built here.
            s3.put_bucket_notification_configuration(Bucket=stack.landing_bucket, NotificationConfiguration={})
            start = time.perf_counter()
            for i in range(invocations):
                key, body = f"soak/{i:06d}.json", b'{"i": %d}' % i
                put = s3.put_object(Bucket=stack.landing_bucket, Key=key, Body=body)
                records = [record_for(stack.landing_bucket, key, put, len(body), stack.queue_arn)]
                response = handler.lambda_handler({"Records": records}, LambdaContext(60, "eu-west-2"))
                assert response == {"batchItemFailures": []}, response
                if i + 1 == WARMUP or (i + 1) % 1000 == 0:
                    samples.append({"invocation": i + 1, "rss_mb": rss_mb(), "fds": fds(), "threads": threading.active_count()})
            elapsed = time.perf_counter() - start
            handler.reset()
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    warm, end = samples[0], samples[-1]
    figures = {
        "invocations": invocations,
        "seconds": elapsed,
        "warm": warm,
        "end": end,
        "rss_growth": end["rss_mb"] / warm["rss_mb"] - 1,
        "fd_growth": end["fds"] - warm["fds"],
        "thread_growth": end["threads"] - warm["threads"],
        "samples": samples,
    }
    report(
        f"soak: {invocations:,} warm invocations in one process ({elapsed:.0f} s)",
        [
            ("RSS after warm-up", f"{warm['rss_mb']:.1f} MB", f"at invocation {warm['invocation']}"),
            ("RSS at the end", f"{end['rss_mb']:.1f} MB", ""),
            ("RSS growth", f"{figures['rss_growth'] * 100:+.1f}%", "target <= +5%"),
            ("file descriptors", f"{warm['fds']} -> {end['fds']}", "target: no growth"),
            ("threads", f"{warm['threads']} -> {end['threads']}", "target: no growth"),
        ],
        COMMAND,
    )
    save("soak", figures, COMMAND)
    return figures


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else INVOCATIONS)
