"""The chaos run, short: steady uploads under a seeded random schedule of NiFi faults, AWS faults and kills.

``make chaos`` runs the same for 15 minutes, waits for the poison to reach the DLQ (maxReceiveCount
receives of 40 s each), and prints the report; here the run is short and the DLQ must hold nothing
but poison.
"""

from __future__ import annotations

import sys

from courier.local.chaos import CHAOS_VISIBILITY_SECONDS, Chaos
from courier.resources import MAX_RECEIVE_COUNT


def test_a_seeded_chaos_schedule_breaks_none_of_the_guarantees(stack_factory):
    stack = stack_factory(
        breaker_recovery_seconds=2,
        controller_period_seconds=0.5,
        visibility_timeout_seconds=CHAOS_VISIBILITY_SECONDS,  # above the claim lease, as in AWS
        batching_window_seconds=1,
        # The short run shortens the product's waits as it does the breaker's: a park the ledger could not
        # record (DynamoDB throttled at that moment) backs off 5 min doubling per receive, beyond its drain window.
        extra_env={"COURIER_PARK_SECONDS": "60"},
    )
    report = Chaos(stack, seed=11, step_seconds=2.5).run(duration=45, rate=2)
    print("\n".join(["chaos (e2e):", *report.lines()]), file=sys.__stderr__)
    assert report.uploaded > 0 and report.lost == 0  # every uploaded revision delivered
    assert report.files_in_several_bundles == 0  # each file inside exactly one distinct bundle
    assert set(report.dlq_bodies) <= set(report.poison)  # nothing in the DLQ but the planted poison
    assert "OPEN" in report.breaker_states_seen and report.final_breaker_state == "CLOSED"  # opened and closed by itself
    assert report.drain_seconds is not None
    assert report.kills > 0 and report.max_receives < MAX_RECEIVE_COUNT  # faults cost receives, never the DLQ
