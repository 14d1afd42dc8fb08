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


# --- recovery without a new upload, and failing closed --------------------------------------------


class ScriptedProbe:
    """The DependencyProbe port: fails naming ``down`` while it is set, else every dependency answers."""

    def __init__(self, down: str | None = None) -> None:
        self.down = down
        self.checks = 0

    def check(self) -> None:
        from courier.errors import DependencyUnavailableError

        self.checks += 1
        if self.down:
            raise DependencyUnavailableError(f"{self.down} down (scripted)", self.down)


def probing(breaker, mapping, parking_lot, clock, probe) -> Controller:
    return Controller(breaker, mapping, RECOVERY_SECONDS, parking_lot, probe=probe, clock=clock)


def test_when_the_recovery_timeout_passed_the_controller_probes_closes_and_releases_with_no_new_upload(
    breaker, mapping, parking_lot, clock
):
    breaker.open()
    mapping.set_enabled(False)
    clock.advance(RECOVERY_SECONDS)
    probe = ScriptedProbe()
    decision = probing(breaker, mapping, parking_lot, clock, probe).run_once()
    assert probe.checks == 1 and decision.probed == "ok"
    assert decision.breaker_state == "CLOSED" and breaker.state == "CLOSED"
    assert decision.released == 2 and parking_lot.parked == [] and mapping.enabled()


def test_a_failed_probe_reopens_and_releases_nothing(breaker, mapping, parking_lot, clock):
    breaker.open()
    mapping.set_enabled(False)
    clock.advance(RECOVERY_SECONDS)
    decision = probing(breaker, mapping, parking_lot, clock, ScriptedProbe(down="nifi")).run_once()
    assert decision.probed == "nifi" and breaker.state == "OPEN" and breaker.opened_at == int(clock())
    assert decision.released == 0 and len(parking_lot.parked) == 2 and not mapping.enabled()


def test_no_probe_before_the_recovery_timeout(breaker, mapping, parking_lot, clock):
    breaker.open()
    probe = ScriptedProbe()
    decision = probing(breaker, mapping, parking_lot, clock, probe).run_once()
    assert probe.checks == 0 and decision.breaker_state == "OPEN" and decision.released == 0


def test_an_unreadable_breaker_changes_nothing_that_run(breaker, mapping, parking_lot, clock):
    breaker.open()
    mapping.set_enabled(False)
    breaker.unreadable = True
    decision = probing(breaker, mapping, parking_lot, clock, ScriptedProbe()).run_once()
    assert decision.breaker_state == "UNREADABLE" and decision.released == 0
    assert len(parking_lot.parked) == 2 and not mapping.enabled() and mapping.changes == [False]


def test_a_missing_circuit_with_parked_messages_is_probed_before_anything_is_released(mapping, parking_lot, clock):
    class Gone(FakeBreaker):
        """The circuit's item is gone (never written, or deleted) until something writes it again."""

        missing = True

        def read(self):
            reading = super().read()
            return type(reading)("MISSING", None, None) if self.missing else reading

        def close(self):
            self.missing = False
            super().close()

        def trip(self, dependency, reason):
            self.missing = False
            super().trip(dependency, reason)

    gone = Gone(recovery_seconds=RECOVERY_SECONDS, clock=clock)
    down = probing(gone, mapping, parking_lot, clock, ScriptedProbe(down="dynamodb")).run_once()
    assert down.probed == "dynamodb" and down.released == 0 and len(parking_lot.parked) == 2
    assert down.breaker_state == "OPEN" and down.dependency == "dynamodb" and not mapping.enabled()
    clock.advance(RECOVERY_SECONDS)
    up = probing(gone, mapping, parking_lot, clock, ScriptedProbe()).run_once()
    assert up.probed == "ok" and up.breaker_state == "CLOSED" and up.released == 2


def test_a_failed_own_probe_is_published_as_an_open_circuit_even_when_opening_it_was_lost(mapping, parking_lot, clock, capsys):
    from courier.handler import controller_handler  # noqa: F401 - the entry point flushes with @metrics.log_metrics
    from courier.observability import metrics

    class GoneForGood(FakeBreaker):
        """No circuit item, and writing one fails silently (the store is what is down)."""

        def read(self):
            reading = super().read()
            return type(reading)("MISSING", None, None)

        def trip(self, dependency, reason):
            pass

    decision = probing(GoneForGood(clock=clock), mapping, parking_lot, clock, ScriptedProbe(down="s3")).run_once()
    assert decision.breaker_state == "OPEN" and decision.dependency == "s3" and not mapping.enabled()
    metrics.flush_metrics()
    out = capsys.readouterr().out
    assert '"BreakerState":2' in out.replace(" ", "") or '"BreakerState":[2' in out.replace(" ", "")
    assert '"dependency":"s3"' in out.replace(" ", "")
    metrics.clear_metrics()


def test_the_paused_dependency_is_named_while_the_circuit_is_open(breaker, mapping, parking_lot, clock):
    breaker.record_failure("secretsmanager", "secret_unavailable")
    breaker.open()
    decision = probing(breaker, mapping, parking_lot, clock, ScriptedProbe()).run_once()
    assert decision.breaker_state == "OPEN" and decision.dependency == "secretsmanager"


def test_the_controller_publishes_the_breaker_state_every_run_even_when_closed(breaker, mapping, parking_lot, clock, capsys):
    from courier.handler import controller_handler  # noqa: F401 - the entry point flushes with @metrics.log_metrics
    from courier.observability import metrics

    probing(breaker, mapping, parking_lot, clock, ScriptedProbe()).run_once()
    out = capsys.readouterr().out
    assert '"BreakerState"' in out and '"circuit":"nifi"' in out
    metrics.clear_metrics()


def test_a_half_open_circuit_whose_prober_died_is_taken_over_and_closed(breaker, mapping, parking_lot, clock):
    breaker.open()
    clock.advance(RECOVERY_SECONDS)
    breaker._move("HALF_OPEN")  # an aggregator's probe got the lease, then was killed mid-POST
    breaker.probe_until = clock() + RECOVERY_SECONDS
    probe = ScriptedProbe()
    assert probing(breaker, mapping, parking_lot, clock, probe).run_once().probed is None  # its lease still lives
    clock.advance(RECOVERY_SECONDS)
    decision = probing(breaker, mapping, parking_lot, clock, probe).run_once()
    assert decision.probed == "ok" and decision.breaker_state == "CLOSED" and decision.released == 2


def test_after_its_own_failed_probe_the_controller_keeps_the_mapping_paused_whatever_the_circuit_reads(
    breaker, mapping, parking_lot, clock
):
    class ReopenLost(FakeBreaker):
        """Powertools swallows a failed save_reopen: the circuit still reads HALF_OPEN after the failed probe."""

        def open(self):
            if self.state == "HALF_OPEN":
                return
            super().open()

    stuck = ReopenLost(recovery_seconds=RECOVERY_SECONDS, clock=clock)
    stuck.open()
    mapping.set_enabled(False)
    clock.advance(RECOVERY_SECONDS)
    decision = probing(stuck, mapping, parking_lot, clock, ScriptedProbe(down="nifi")).run_once()
    assert decision.probed == "nifi" and decision.breaker_state == "HALF_OPEN"
    assert not mapping.enabled() and decision.released == 0


def test_while_the_circuit_is_open_the_controller_publishes_the_age_of_the_oldest_parked_message(breaker, mapping, clock, capsys):
    lot = FakeParkingLot()
    lot.park([{"messageId": "old", "attributes": {"SentTimestamp": str(int((clock() - 3600) * 1000))}}])
    breaker.open()
    Controller(breaker, mapping, RECOVERY_SECONDS, lot, clock=clock).run_once()
    out = capsys.readouterr().out
    assert '"OldestParkedMessageAge"' in out and '"queue":"main"' in out
