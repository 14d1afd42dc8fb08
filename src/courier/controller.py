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
from typing import Any

from courier.observability import logger, metric
from courier.ports import Breaker, EventSourceMapping, ParkingLot

OPEN, CLOSED = "OPEN", "CLOSED"


def mapping_should_run(state: str, opened_at: int | None, now: float, recovery_seconds: int) -> bool:
    """Pure decision: poll the queue unless the circuit is open and its probe is not due yet."""
    if state != OPEN:
        return True
    return now >= (opened_at or 0) + recovery_seconds


@dataclass(frozen=True)
class Decision:
    breaker_state: str
    enabled_before: bool
    enabled_after: bool
    released: int = 0  # parked messages made visible again

    @property
    def changed(self) -> bool:
        return self.enabled_before != self.enabled_after


class Controller:
    """One run of the breaker controller: read the circuit, switch the mapping, release parked messages.

    Parameters
    ----------
    breaker
        The shared NiFi circuit (read only here).
    event_source_mapping
        The aggregator's SQS event source mapping, which only the controller may switch.
    recovery_seconds
        The breaker's recovery timeout: how long the mapping stays paused after the circuit opened.
    parking_lot
        Where the outage parked its messages; None releases nothing.
    clock
        Epoch seconds; injectable for tests.

    Example
    -------
    >>> controller = Controller(breaker, LambdaEventSourceMapping(lam, uuid), 60, parking_lot)  # doctest: +SKIP
    >>> controller.run_once()  # doctest: +SKIP
    Decision(breaker_state='CLOSED', enabled_before=True, enabled_after=True, released=0)
    """

    def __init__(
        self,
        breaker: Breaker,
        event_source_mapping: EventSourceMapping,
        recovery_seconds: int,
        parking_lot: ParkingLot | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.breaker = breaker
        self.event_source_mapping = event_source_mapping
        self.recovery_seconds = recovery_seconds
        self.parking_lot = parking_lot
        self.clock = clock

    def run_once(self) -> Decision:
        reading = self.breaker.read()
        enabled = self.event_source_mapping.enabled()
        want = mapping_should_run(reading.state, reading.opened_at, self.clock(), self.recovery_seconds)
        if want != enabled:
            self.event_source_mapping.set_enabled(want)
            logger.warning(
                "event source mapping " + ("resumed" if want else "paused"),
                extra={"breaker_state": reading.state},
            )
            metric("MappingResumed" if want else "MappingPaused")
        released = 0
        if reading.state == CLOSED and self.parking_lot is not None:
            released = self.parking_lot.release_all()
        return Decision(reading.state, enabled, want, released)


_controller: Controller | None = None


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Entry point of the controller function (EventBridge schedule, every minute)."""
    global _controller
    if _controller is None:
        from courier.compose import build_controller
        from courier.config import ControllerSettings

        _controller = build_controller(ControllerSettings.from_env())
    decision = _controller.run_once()
    return {
        "breaker_state": decision.breaker_state,
        "mapping_enabled": decision.enabled_after,
        "changed": decision.changed,
        "released": decision.released,
    }
