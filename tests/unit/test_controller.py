"""The breaker controller's decisions: the pure rule, and one run on fakes of the breaker, mapping and parking lot.

``tests/integration/test_breaker.py`` runs the controller against moto's Lambda and DynamoDB.
"""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.circuit_breaker import CircuitState

from courier.controller import Controller, mapping_should_run
from fakes import FakeBreaker, FakeClock, FakeEventSourceMapping, FakeParkingLot

RECOVERY_SECONDS = 60


@pytest.mark.parametrize(
    ("circuit", "opened_ago", "expected"),
    [
        (CircuitState.CLOSED, None, True),
        (CircuitState.HALF_OPEN, 0, True),
        (CircuitState.OPEN, 10, False),
        (CircuitState.OPEN, 61, True),
    ],
)
def test_mapping_runs_unless_open_and_no_probe_due(circuit, opened_ago, expected):
    now = 1_000_000
    opened_at = None if opened_ago is None else now - opened_ago
    assert mapping_should_run(circuit, opened_at, now, recovery_seconds=60) is expected


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> FakeBreaker:
    return FakeBreaker(recovery_seconds=RECOVERY_SECONDS, clock=clock)


@pytest.fixture
def mapping() -> FakeEventSourceMapping:
    return FakeEventSourceMapping(enabled=True)


@pytest.fixture
def parking_lot() -> FakeParkingLot:
    lot = FakeParkingLot()
    lot.park([{"messageId": "m1"}, {"messageId": "m2"}])
    return lot


@pytest.fixture
def controller(breaker, mapping, parking_lot, clock) -> Controller:
    return Controller(breaker, mapping, RECOVERY_SECONDS, parking_lot, clock=clock)


def test_a_closed_circuit_leaves_the_mapping_alone_and_releases_the_parked_messages(controller, mapping, parking_lot):
    decision = controller.run_once()
    assert (decision.breaker_state, decision.enabled_after, decision.changed, decision.released) == ("CLOSED", True, False, 2)
    assert mapping.changes == [] and parking_lot.parked == []


def test_an_open_circuit_pauses_the_mapping_and_keeps_the_messages_parked(controller, breaker, mapping, parking_lot):
    breaker.open()
    paused = controller.run_once()
    assert (paused.breaker_state, paused.enabled_before, paused.enabled_after, paused.released) == ("OPEN", True, False, 0)
    assert mapping.changes == [False] and parking_lot.parked_ids == {"m1", "m2"}
    assert controller.run_once().changed is False  # still open: nothing more to switch
    assert mapping.changes == [False]


def test_the_mapping_resumes_when_a_probe_is_due_and_parked_wait_for_closed(controller, breaker, mapping, parking_lot, clock):
    breaker.open()
    controller.run_once()
    clock.advance(RECOVERY_SECONDS - 1)
    assert controller.run_once().enabled_after is False
    clock.advance(1)
    resumed = controller.run_once()
    assert resumed.breaker_state == "OPEN" and resumed.changed and resumed.enabled_after is True  # the next invocation probes
    assert mapping.changes == [False, True] and resumed.released == 0 and parking_lot.parked_ids == {"m1", "m2"}
    assert breaker.guard(lambda: 200)() == 200  # the probe succeeds
    closed = controller.run_once()
    assert (closed.breaker_state, closed.changed, closed.released) == ("CLOSED", False, 2)


def test_a_half_open_circuit_keeps_the_mapping_running_but_releases_nothing(controller, breaker, mapping, parking_lot, clock):
    breaker.open()
    clock.advance(RECOVERY_SECONDS)
    seen = []

    def probe() -> int:  # the controller runs while the probe is in flight
        seen.append(controller.run_once())
        return 200

    breaker.guard(probe)()
    (during,) = seen
    assert (during.breaker_state, during.enabled_after, during.released) == ("HALF_OPEN", True, 0)
    assert mapping.changes == [] and parking_lot.released == 0


def test_without_a_parking_lot_nothing_is_released(breaker, mapping, clock):
    assert Controller(breaker, mapping, RECOVERY_SECONDS, clock=clock).run_once().released == 0
