"""The outage drill, time compressed: NiFi down for 20+ recovery timeouts at a steady upload rate."""

from __future__ import annotations

import sys
import time

from conftest import wait_until
from courier.adapters.breaker import DynamoDBBreakerTable
from courier.operator.status import breaker_state

RECOVERY = 2  # seconds; the AWS default is 60
PERIOD = 0.5  # controller period; AWS runs it every minute


def test_long_outage_loses_nothing_burns_nothing_and_resumes_by_itself(stack_factory):
    # Visibility timeout above the longest invocation, as in AWS (where it is 6x the function timeout).
    stack = stack_factory(breaker_recovery_seconds=RECOVERY, controller_period_seconds=PERIOD, visibility_timeout_seconds=10)
    uploader = stack.start_demo(rate=2, size=4000, seed=1)
    assert wait_until(lambda: stack.fake_nifi.state.stats()["distinct_files"] >= 4, timeout=20)

    stack.fake_nifi.state.set_mode("unavailable")
    outage_started = time.monotonic()
    breaker_table = DynamoDBBreakerTable(stack.session.client("dynamodb"), stack.resources.breaker_table)
    saw_paused_while_open = False
    max_dlq = 0
    while time.monotonic() - outage_started < 21 * RECOVERY:
        _, _, dlq = stack.depths()
        max_dlq = max(max_dlq, dlq)
        if breaker_state(breaker_table) == "OPEN" and not stack.poller.enabled.is_set():
            saw_paused_while_open = True
        time.sleep(0.5)
    delivered_before_recovery = stack.fake_nifi.state.responses[200]

    stack.fake_nifi.state.set_mode("ok")
    recovered = time.monotonic()
    assert wait_until(lambda: stack.fake_nifi.state.responses[200] > delivered_before_recovery, timeout=30, interval=0.1)
    resumed_after = time.monotonic() - recovered
    time.sleep(3)
    uploader.stop()

    uploaded = len(uploader.stats.keys)
    # The controller releases the messages parked during the outage once the circuit closes.
    assert wait_until(lambda: stack.summary()["lost"] == 0, timeout=15 * RECOVERY), stack.summary()
    assert stack.drain(20)
    summary = stack.summary()
    print(
        f"outage drill: uploaded={uploaded} resumed_after={resumed_after:.1f}s "
        f"max_receive={stack.poller.stats.snapshot()['max_receive_count']} summary={summary}",
        file=sys.__stderr__,  # the stack sends stdout to lambda.log
    )
    assert saw_paused_while_open, "the controller never paused the mapping while the breaker was open"
    assert max_dlq == 0 and summary["dlq"] == 0
    assert stack.poller.stats.snapshot()["max_receive_count"] <= 3
    assert resumed_after <= 2 * RECOVERY + PERIOD
    assert summary["uploaded"] == summary["delivered"] == uploaded and summary["duplicated"] == 0
