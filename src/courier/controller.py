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

from aws_lambda_powertools.utilities.circuit_breaker import CircuitBreakerConfig, CircuitState

from courier.adapters.parking import ParkingLot
from courier.breaker import CIRCUIT_NAME, persistence
from courier.observability import count, logger


def mapping_should_run(state: CircuitState, opened_at: int | None, now: float, recovery_seconds: int) -> bool:
    """Pure decision: poll the queue unless the circuit is open and its probe is not due yet."""
    if state is not CircuitState.OPEN:
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
    def __init__(
        self,
        lambda_client: Any,
        dynamodb_client: Any,
        mapping_uuid: str,
        breaker_table: str,
        recovery_seconds: int,
        sqs_client: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lam = lambda_client
        self.mapping_uuid = mapping_uuid
        self.recovery_seconds = recovery_seconds
        self.clock = clock
        self.store = persistence(dynamodb_client, breaker_table)
        self.parking = ParkingLot(sqs_client, dynamodb_client, breaker_table) if sqs_client is not None else None
        self.store.configure(config=CircuitBreakerConfig(recovery_timeout=recovery_seconds, local_cache_max_age=1), circuit_name=CIRCUIT_NAME)

    def run_once(self) -> Decision:
        record = self.store.get_state(CIRCUIT_NAME)
        mapping = self.lam.get_event_source_mapping(UUID=self.mapping_uuid)
        enabled = mapping.get("State") in ("Enabled", "Enabling", "Updating")
        want = mapping_should_run(record.state, record.opened_at, self.clock(), self.recovery_seconds)
        if want != enabled:
            self.lam.update_event_source_mapping(UUID=self.mapping_uuid, Enabled=want)
            logger.warning(
                "event source mapping " + ("resumed" if want else "paused"),
                extra={"mapping": self.mapping_uuid, "breaker_state": record.state.value},
            )
            count("MappingResumed" if want else "MappingPaused")
        released = 0
        if record.state is CircuitState.CLOSED and self.parking is not None:
            released = self.parking.release_all()
        return Decision(record.state.value, enabled, want, released)


_controller: Controller | None = None


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Entry point of the controller function (EventBridge schedule, every minute)."""
    global _controller
    if _controller is None:
        import boto3

        from courier.config import ControllerSettings

        settings = ControllerSettings.from_env()
        session = boto3.session.Session()
        _controller = Controller(
            session.client("lambda"),
            session.client("dynamodb"),
            settings.esm_uuid,
            settings.breaker_table,
            settings.breaker_recovery_seconds,
            sqs_client=session.client("sqs"),
        )
    decision = _controller.run_once()
    return {
        "breaker_state": decision.breaker_state,
        "mapping_enabled": decision.enabled_after,
        "changed": decision.changed,
        "released": decision.released,
    }
