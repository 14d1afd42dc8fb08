"""Benchmark 4: many warm invocations in one process, as Lambda reuses an environment.

RSS, open file descriptors and threads after warm-up vs at the end. The AWS side
is the in-memory stub of benchmark 2 (it keeps nothing it does not have to), so
what grows is courier's.

    python -m bench.soak [invocations]
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from pathlib import Path

from bench.common import figures_only, report, save

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


@figures_only
def main(invocations: int = INVOCATIONS) -> dict:
    from bench.stub_aws import StubAWS
    from bench.world import fake_nifi, new_session, record_for
    from courier import handler
    from courier.local.lambda_runtime import LambdaContext

    os.environ.update(POWERTOOLS_METRICS_DISABLED="true", COURIER_LOG_LEVEL="ERROR")
    samples = []
    with fake_nifi() as (nifi, ca):
        # The AWS side is the in-memory stub, so this process's memory is courier's and the
        # run is short; the handler is the real one, reused as Lambda reuses it.
        stub = StubAWS({"username": "bench", "password": "bench"}, keep_writes=False)
        os.environ.update(COURIER_ARCHIVE_BUCKET="courier-archive", COURIER_NIFI_URL=nifi.url(), COURIER_NIFI_CA_BUNDLE=ca)
        original = handler.build_runtime

        def stubbed(settings, session=None):
            session = new_session()
            stub.install(session)
            return original(settings, session)

        handler.build_runtime = stubbed
        handler.reset()
        s3 = new_session()
        stub.install(s3)
        s3 = s3.client("s3")
        start = time.perf_counter()
        try:
            for i in range(invocations):
                key, body = f"soak/{i:06d}.json", b'{"i": %d}' % i
                put = s3.put_object(Bucket="courier-landing", Key=key, Body=body)
                records = [record_for("courier-landing", key, put, len(body), "arn:aws:sqs:eu-west-2:1:courier-queue")]
                # The context's timeout is the function timeout the settings assume (COURIER_FUNCTION_TIMEOUT_SECONDS).
                response = handler.lambda_handler({"Records": records}, LambdaContext(120, "eu-west-2"))
                assert response == {"batchItemFailures": []}, response
                if i + 1 == WARMUP or (i + 1) % 1000 == 0:
                    # The receiver runs in this process too and remembers every bundle it got:
                    # that bookkeeping is the harness's, not courier's, so it is dropped before sampling.
                    with nifi.state.lock:
                        nifi.state.bundles.clear()
                        nifi.state.deliveries.clear()
                        nifi.state.latencies.clear()
                        nifi.state.bundles_of_file.clear()
                        nifi.state.kept_sha256s.clear()
                    samples.append({"invocation": i + 1, "rss_mb": rss_mb(), "fds": fds(), "threads": threading.active_count()})
        finally:
            handler.build_runtime = original
            handler.reset()
        elapsed = time.perf_counter() - start
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
