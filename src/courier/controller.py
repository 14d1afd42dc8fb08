"""The breaker controller: pauses the aggregator's SQS event source mapping while NiFi is down.

A Lambda that fails fast still receives every message, so a long outage would
drain the backlog into the DLQ. This small function (every minute from an
EventBridge schedule in AWS; a loop in ``courier local up``) reads the breaker
and disables the mapping while the circuit is open, then re-enables it once the
recovery timeout has passed, so the next invocation is the half-open probe. If
the probe fails the circuit re-opens and the next run pauses again. Once the
circuit is closed it releases the messages the outage parked (see
``adapters/parking.py``). Only this function may update the mapping; the
aggregator cannot change its own configuration.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from aws_lambda_powertools.metrics import MetricUnit

from courier.errors import BreakerOpenError, CourierError, Dependency, DependencyUnavailableError
from courier.observability import logger, metric
from courier.ports import Breaker, BreakerReading, BreakerState, DependencyProbe, EventSourceMapping, ParkingLot

# The breaker state as a number, published every run so an alarm can use M of N periods.
STATE_VALUE = {BreakerState.CLOSED: 0, BreakerState.MISSING: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class ProbeOutcome(StrEnum):
    """What the controller's own probe found, besides the dependency it names when that one failed."""

    OK = "ok"  # every dependency answered
    BUSY = "busy"  # another invocation holds the probe lease


Probed = ProbeOutcome | Dependency


def mapping_should_run(state: BreakerState, opened_at: int | None, now: float, recovery_seconds: int) -> bool:
    """Pure decision: poll the queue unless the circuit is open and its probe is not due yet."""
    if state != BreakerState.OPEN:
        return True
    return now >= (opened_at or 0) + recovery_seconds


@dataclass(frozen=True)
class Decision:
    breaker_state: BreakerState
    enabled_before: bool | None
    enabled_after: bool | None
    released: int = 0  # parked messages made visible again
    probed: Probed | None = None  # ok, busy, or the dependency that failed the controller's own probe
    dependency: str | None = None  # what tripped the circuit, while it is not closed

    @property
    def changed(self) -> bool:
        return self.enabled_before != self.enabled_after


class Controller:
    """One run of the breaker controller: read the circuit, probe it when due, switch the mapping, release parked messages.

    It fails closed: it releases the parked backlog only after a consistent read
    shows a real CLOSED item; a read error, or a missing item while messages are
    parked, makes it do nothing that minute (or probe first). When the recovery
    timeout has passed it probes every dependency itself (``probe``), so recovery
    never waits for a new upload: success closes the circuit through the same
    breaker state the aggregator reads, and the backlog is released at once.

    Parameters
    ----------
    breaker
        The shared circuit.
    event_source_mapping
        The aggregator's SQS event source mapping, which only the controller may switch.
    recovery_seconds
        The breaker's recovery timeout: how long the mapping stays paused after the circuit opened.
    parking_lot
        Where the outage parked its messages; None releases nothing.
    probe
        The canary down every dependency's real path; None leaves probing to the next aggregator batch.
    success_threshold
        Successful probes that close the circuit (the breaker's setting).
    clock
        Epoch seconds; injectable for tests.

    Example
    -------
    >>> controller = Controller(breaker, LambdaEventSourceMapping(lam, uuid), 60, parking_lot, probe)  # doctest: +SKIP
    >>> controller.run_once()  # doctest: +SKIP
    Decision(breaker_state=<BreakerState.CLOSED: 'CLOSED'>, enabled_before=True, enabled_after=True, released=0, ...)
    """

    def __init__(
        self,
        breaker: Breaker,
        event_source_mapping: EventSourceMapping,
        recovery_seconds: int,
        parking_lot: ParkingLot | None = None,
        probe: DependencyProbe | None = None,
        success_threshold: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.breaker = breaker
        self.event_source_mapping = event_source_mapping
        self.recovery_seconds = recovery_seconds
        self.parking_lot = parking_lot
        self.probe = probe
        self.success_threshold = success_threshold
        self.clock = clock

    def run_once(self) -> Decision:
        try:
            reading = self.breaker.read()
            reading, probed = self._probe_if_due(reading)
        except Exception as exc:  # noqa: BLE001 - fail closed, whatever failed (Powertools' own writes raise botocore errors)
            # Without a reliable reading, touch neither the mapping nor the parked messages.
            error = str(exc) if isinstance(exc, CourierError) else type(exc).__name__
            logger.warning("breaker state unreadable; the controller does nothing this run", extra={"error": error})
            metric("ControllerRunsSkipped")
            return Decision(BreakerState.UNREADABLE, None, None)
        enabled = self.event_source_mapping.enabled()
        want = mapping_should_run(reading.state, reading.opened_at, self.clock(), self.recovery_seconds)
        if isinstance(probed, Dependency):
            want = False  # our own probe just failed: whatever the circuit reads, nothing would get through
        if want != enabled:
            self.event_source_mapping.set_enabled(want)
            logger.warning(
                "event source mapping " + ("resumed" if want else "paused"),
                extra={"breaker_state": reading.state, "dependency": reading.dependency},
            )
            metric("MappingResumed" if want else "MappingPaused")
        released = 0
        if reading.state == BreakerState.CLOSED and self.parking_lot is not None:
            released = self.parking_lot.unpark_all()
        dependency = reading.dependency if reading.state in (BreakerState.OPEN, BreakerState.HALF_OPEN) else None
        if isinstance(probed, Dependency) and reading.state not in (BreakerState.OPEN, BreakerState.HALF_OPEN):
            # Our probe failed but the circuit could not be opened (its write was lost): alarm on what we enforce.
            reading, dependency = BreakerReading(BreakerState.OPEN, reading.opened_at, probed, None), probed
        self._publish(reading.state, dependency)
        if reading.state != BreakerState.CLOSED and self.parking_lot is not None:
            self._publish_parked_age(self.parking_lot)
        return Decision(reading.state, enabled, want, released, probed, dependency)

    def _probe_if_due(self, reading: BreakerReading) -> tuple[BreakerReading, Probed | None]:
        probe = self.probe
        if probe is None:
            return reading, None
        now = self.clock()
        due = (reading.state == BreakerState.OPEN and now >= (reading.opened_at or 0) + self.recovery_seconds) or (
            # A prober that died (or whose closing write was lost) holds the lease: take over once it lapsed.
            reading.state == BreakerState.HALF_OPEN and reading.probe_lease_until is not None and now >= reading.probe_lease_until
        )
        if due:
            outcome = self._probe_through_breaker(probe)
            return self.breaker.read(), outcome
        if reading.state == BreakerState.MISSING and self.parking_lot is not None and self.parking_lot.has_parked():
            # Messages were parked, so the circuit was open; its item is gone. Probe before any release.
            outcome = self._probe_directly(probe)
            if outcome == ProbeOutcome.OK:
                self.breaker.mark_closed()
            return self.breaker.read(), outcome
        return reading, None

    def _probe_through_breaker(self, probe: DependencyProbe) -> Probed:
        def canary() -> int:
            probe.check()
            return 200

        guarded = self.breaker.guard(canary)
        for _ in range(self.success_threshold):
            try:
                guarded()
            except DependencyUnavailableError as exc:
                self._probe_failed(exc)
                return exc.dependency
            except BreakerOpenError:
                return ProbeOutcome.BUSY
        logger.warning("controller probe succeeded: every dependency answers")
        metric("ControllerProbes", outcome=ProbeOutcome.OK)
        return ProbeOutcome.OK

    def _probe_directly(self, probe: DependencyProbe) -> Probed:
        try:
            probe.check()
        except DependencyUnavailableError as exc:
            self._probe_failed(exc)
            # The controller is about to pause the pipeline: open the circuit too, so that status, the
            # BreakerState alarm and the next probe all see the outage it found (not a CLOSED circuit).
            self.breaker.trip(exc.dependency, exc.reason)
            return exc.dependency
        metric("ControllerProbes", outcome=ProbeOutcome.OK)
        return ProbeOutcome.OK

    def _probe_failed(self, exc: DependencyUnavailableError) -> None:
        logger.warning("controller probe failed", extra={"dependency": exc.dependency, "error": str(exc)})
        metric("ControllerProbes", outcome="failed", dependency=exc.dependency)

    def _publish_parked_age(self, parking_lot: ParkingLot) -> None:
        try:
            age = parking_lot.oldest_age_seconds()
        except Exception:  # noqa: BLE001 - the metric only feeds an alarm; a failed read is not this run's business
            return
        if age is not None:
            metric("OldestParkedMessageAge", age, MetricUnit.Seconds, queue="main")

    def _publish(self, state: BreakerState, dependency: str | None) -> None:
        metric("BreakerState", STATE_VALUE.get(state, 0), circuit="nifi")  # dimensioned: a 0 is published too
        if dependency is not None:
            metric("DependencyDown", 1, dependency=dependency)
