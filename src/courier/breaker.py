"""The NiFi circuit breaker: Powertools' DynamoDB-backed breaker around delivery.

Shared by every concurrent invocation through the breaker table. Outages
(connection errors, timeouts, 5xx/503) and auth failures (401/403 after one
secret re-read) count as failures; a 422 hash rejection is a data problem and
does not. While the circuit is open the handler makes no HTTP call at all
(:meth:`Breaker.admits` is checked before any fetch), and the breaker
controller pauses the SQS event source mapping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.circuit_breaker import (
    CircuitBreakerConfig,
    CircuitBreakerOpenError,
    CircuitState,
    CircuitTransition,
    circuit_breaker,
)
from aws_lambda_powertools.utilities.circuit_breaker.persistence import CircuitBreakerDynamoDBPersistence

from courier.errors import BreakerOpenError, NiFiAuthError, NiFiUnavailableError
from courier.observability import count, logger

CIRCUIT_NAME = "nifi"
COUNTED_FAILURES = (NiFiUnavailableError, NiFiAuthError)


def persistence(client: Any, table: str) -> CircuitBreakerDynamoDBPersistence:
    # The circuit name is the item's "id", so every function sharing the table shares the circuit.
    return CircuitBreakerDynamoDBPersistence(table_name=table, boto3_client=client)


def _on_transition(transition: CircuitTransition) -> None:
    logger.warning(
        "circuit breaker transition",
        extra={"circuit": transition.circuit_name, "from": transition.from_state.value, "to": transition.to_state.value},
    )
    count("BreakerTransitions", from_state=transition.from_state.value, to_state=transition.to_state.value)
    if transition.to_state is CircuitState.OPEN:
        count("BreakerOpened")


class Breaker:
    def __init__(
        self,
        store: CircuitBreakerDynamoDBPersistence,
        failure_threshold: int,
        recovery_seconds: int,
        success_threshold: int,
        cache_seconds: int = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.recovery_seconds = recovery_seconds
        self.clock = clock
        self.config = CircuitBreakerConfig(
            failure_threshold=failure_threshold,
            recovery_timeout=recovery_seconds,
            success_threshold=success_threshold,
            handled_exceptions=COUNTED_FAILURES,
            local_cache_max_age=cache_seconds,
        )
        store.configure(config=self.config, circuit_name=CIRCUIT_NAME)

    def admits(self) -> bool:
        """False while the circuit is open and no probe is due: fail fast, touch nothing."""
        record = self.store.get_state(CIRCUIT_NAME)
        if record.state is CircuitState.CLOSED:
            return True
        if record.state is CircuitState.OPEN:
            opened_at = record.opened_at if record.opened_at is not None else 0
            return self.clock() >= opened_at + self.recovery_seconds  # this invocation may become the probe
        lease = record.probe_lease_expiry
        return lease is not None and self.clock() >= lease  # HALF_OPEN: only a lapsed prober is replaced

    def guard(self, deliver: Callable[..., int]) -> Callable[..., int]:
        protected = circuit_breaker(
            name=CIRCUIT_NAME, persistence_store=self.store, config=self.config, on_transition=_on_transition
        )(deliver)

        def call(*args: Any, **kwargs: Any) -> int:
            try:
                return protected(*args, **kwargs)
            except CircuitBreakerOpenError as exc:
                raise BreakerOpenError("NiFi circuit is open; not calling it") from exc

        return call
