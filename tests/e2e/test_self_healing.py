"""Self-healing on the local stack: outages of NiFi and of AWS dependencies drain by themselves, with no new upload.

Time is compressed (recovery 2 s, controller every 0.5 s); parking is production's (11 h), so
nothing comes back unless the controller releases it.
"""

from __future__ import annotations

import sys
import time

from conftest import wait_until
from courier.adapters.parking import SQSParkingLot

RECOVERY = 2
PERIOD = 0.5


def healing_stack(stack_factory):
    return stack_factory(breaker_recovery_seconds=RECOVERY, controller_period_seconds=PERIOD, visibility_timeout_seconds=10)


def upload(stack, prefix: str, count: int) -> set[str]:
    s3 = stack.session.client("s3")
    keys = {f"{prefix}/{i}.json" for i in range(count)}
    for key in keys:
        s3.put_object(Bucket=stack.resources.landing_bucket, Key=key, Body=f'{{"k": "{key}"}}'.encode() * 20)
    return keys


def parked(stack) -> int:
    return len(
        SQSParkingLot(stack.session.client("sqs"), stack.session.client("dynamodb"), stack.resources.breaker_table).parked()
    )


def delivered(stack, keys: set[str]) -> set[str]:
    with stack.fake_nifi.state.lock:
        return {key for (_, key, _) in stack.fake_nifi.state.deliveries if key in keys}


def test_a_backlog_parked_by_a_nifi_outage_drains_after_recovery_with_no_new_upload(stack_factory):
    stack = healing_stack(stack_factory)
    stack.fake_nifi.state.set_mode("unavailable")
    keys = upload(stack, "night", 20)

    def settled() -> bool:
        # Every message parked (11 h) or waiting in the paused queue: no invocation will run again by itself.
        visible, in_flight, _ = stack.depths()
        count = parked(stack)
        return count > 0 and not stack.poller.enabled.is_set() and in_flight == count and visible + count == len(keys)

    assert wait_until(settled, timeout=60), (parked(stack), stack.depths())
    probes_before = stack.fake_nifi.state.stats()["probes"]

    stack.fake_nifi.state.set_mode("ok")
    healed = time.monotonic()
    assert wait_until(lambda: delivered(stack, keys) == keys, timeout=60)
    drained_after = time.monotonic() - healed
    print(
        f"self-healing drill (NiFi): {len(keys)} files, drained {drained_after:.1f} s after NiFi came back", file=sys.__stderr__
    )
    assert stack.fake_nifi.state.stats()["probes"] > probes_before  # the controller's own canary found NiFi back
    assert drained_after <= 2 * RECOVERY + PERIOD + 10  # 10 s: the time to drain 20 files here
    assert stack.drain(20) and stack.summary()["dlq"] == 0
    assert stack.fake_nifi.state.stats()["files_in_several_bundles"] == 0


def test_an_s3_outage_is_parked_named_and_drains_by_itself_without_touching_the_dlq(stack_factory):
    from courier.adapters.breaker import DynamoDBBreaker, persistence
    from courier.local.aws_faults import Fault

    stack = healing_stack(stack_factory)
    stack.aws_faults.set(Fault("s3", "SlowDown", 1.0, "PutObject"))
    keys = upload(stack, "s3down", 12)
    breaker = DynamoDBBreaker(
        persistence(stack.session.client("dynamodb"), stack.resources.breaker_table), recovery_seconds=RECOVERY
    )
    assert wait_until(lambda: breaker.read().dependency == "s3" and parked(stack) > 0, timeout=90), breaker.read()
    assert stack.aws_faults.snapshot()["injected"].get("s3", 0) > 0 and delivered(stack, keys) == set()

    stack.aws_faults.clear()
    assert wait_until(lambda: delivered(stack, keys) == keys, timeout=90)
    assert stack.drain(20) and stack.summary()["dlq"] == 0
    assert breaker.read().state == "CLOSED"
