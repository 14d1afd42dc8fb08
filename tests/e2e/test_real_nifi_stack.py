"""`courier local up --nifi real`: the local stack delivering through the shipped flow in a real NiFi 2.3.0.

Uploads are delivered through the real flow (mutual TLS with the stack's CA, the flow's subject and issuer checks,
its hash check and duplicate detection) into the receiver store; NiFi is then stopped for a minute: the breaker opens,
the controller pauses the mapping, nothing reaches the DLQ; NiFi is started again and every file is delivered exactly
once, in one distinct bundle, its content as uploaded and every stored bundle hashing to its name.
Skipped where there is no JDK >= 21 or no ``mvn``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time

import pytest

from conftest import delivered_files, wait_until
from courier.adapters.breaker import DynamoDBBreakerTable
from courier.local import real_nifi
from courier.operator.status import breaker_state

MISSING = real_nifi.missing_tools()
pytestmark = [
    pytest.mark.skipif(MISSING is not None, reason=f"a real NiFi needs a JDK >= 21 and mvn: {MISSING}"),
    pytest.mark.timeout(1500),  # a cold ~/.m2 assembles NiFi first (~3-5 min)
]
RECOVERY = 2  # seconds; the AWS default is 60
PERIOD = 0.5  # controller period; AWS runs it every minute
OUTAGE = 60  # seconds NiFi is down


def _journal(stack) -> list[dict]:
    path = stack.state_dir / "received.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_real_nifi_delivers_pauses_through_a_one_minute_stop_and_delivers_everything_exactly_once(stack_factory):
    started = time.monotonic()
    stack = stack_factory(
        nifi="real", breaker_recovery_seconds=RECOVERY, controller_period_seconds=PERIOD, visibility_timeout_seconds=10
    )
    start_seconds = time.monotonic() - started
    assert stack.real_receiver is not None and stack.fake_nifi.port != stack.config.nifi_port
    uploader = stack.start_demo(rate=2, size=4000, seed=7)
    assert wait_until(lambda: stack.fake_nifi.state.stats()["distinct_files"] >= 4, timeout=60), stack.summary()

    stack.real_receiver.nifi.stop()
    stopped = time.monotonic()
    breaker_table = DynamoDBBreakerTable(stack.session.client("dynamodb"), stack.resources.breaker_table)
    saw_paused_while_open, max_dlq = False, 0
    while time.monotonic() - stopped < OUTAGE:
        max_dlq = max(max_dlq, stack.depths()[2])
        if breaker_state(breaker_table) == "OPEN" and not stack.poller.enabled.is_set():
            saw_paused_while_open = True
        time.sleep(0.5)
    delivered_during_outage = stack.fake_nifi.state.stats()["distinct_files"]

    stack.real_receiver.nifi.start()
    restarted = time.monotonic()
    assert wait_until(lambda: stack.fake_nifi.state.stats()["distinct_files"] > delivered_during_outage, timeout=120)
    resumed_after = time.monotonic() - restarted
    time.sleep(3)
    uploader.stop()

    assert wait_until(lambda: stack.summary()["lost"] == 0, timeout=180), stack.summary()
    assert stack.drain(60)
    summary, stats = stack.summary(), stack.fake_nifi.state.stats()
    print(
        f"real NiFi stack: started in {start_seconds:.0f} s, resumed {resumed_after:.0f} s after NiFi's restart; "
        f"summary={summary} NiFi RSS {stack.real_receiver.nifi.rss_bytes() / 2**20:.0f} MiB",
        file=sys.__stderr__,  # the stack sends stdout to lambda.log
    )
    assert saw_paused_while_open, "the controller never paused the mapping while the breaker was open"
    assert max_dlq == 0 and summary["dlq"] == 0
    assert summary["uploaded"] == summary["delivered"] and summary["duplicated"] == 0, summary
    assert stats["files_in_several_bundles"] == 0 and stats["distinct_bundles"] == stats["bundles_received"]
    # What NiFi kept is what was uploaded, once per file, each stored bundle hashing to its name.
    files = delivered_files(stack)
    assert sorted(files) == sorted(key for key, _ in uploader.stats.keys)
    assert all(len(contents) == 1 for contents in files.values())
    s3 = stack.session.client("s3")
    for key, contents in files.items():
        uploaded = s3.get_object(Bucket=stack.resources.landing_bucket, Key=key)["Body"].read()
        assert hashlib.sha256(contents[0]).digest() == hashlib.sha256(uploaded).digest(), key
    for path in stack.fake_nifi.state.received_dir.glob("*.tar.gz"):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name.removesuffix(".tar.gz")
    journal = _journal(stack)
    assert len(journal) == stats["bundles_received"] and all(line["kept"] and line["status"] == 200 for line in journal)
    assert not list(stack.real_receiver.out_dir.glob("*")), "files left behind in nifi-out/"
