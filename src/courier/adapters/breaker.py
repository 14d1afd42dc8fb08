"""The NiFi circuit breaker: Powertools' DynamoDB-backed breaker around delivery.

Shared by every concurrent invocation through the breaker table. Outages
(connection errors, timeouts, 5xx/503) and auth failures (401/403 after one
secret re-read) count as failures; a 422 hash rejection is a data problem and
does not. While the circuit is open the handler makes no HTTP call at all
(:meth:`DynamoDBBreaker.admits` is checked before any fetch), and the breaker
controller pauses the SQS event source mapping.

It is an adapter: Powertools' persistence speaks to DynamoDB through the boto3
client it is given.
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

from courier.adapters.aws import translated
from courier.errors import BreakerOpenError, NiFiAuthError, NiFiUnavailableError
from courier.observability import logger, metric
from courier.ports import BreakerReading

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
    metric("BreakerTransitions", from_state=transition.from_state.value, to_state=transition.to_state.value)
    if transition.to_state is CircuitState.OPEN:
        metric("BreakerOpened")


class DynamoDBBreaker:
    """The NiFi circuit, shared through a DynamoDB table by every invocation and the controller.

    Parameters
    ----------
    store
        Powertools' ``CircuitBreakerDynamoDBPersistence`` over the breaker table (see :func:`persistence`).
    failure_threshold
        Consecutive counted failures (outages, auth failures) that open the circuit.
    recovery_seconds
        How long the circuit stays open before one probe delivery is allowed.
    success_threshold
        Successful probes that close it again.
    cache_seconds
        How long a read of the shared state is trusted before DynamoDB is asked again.
    clock
        Epoch seconds; injectable for tests.

    Example
    -------
    >>> breaker = DynamoDBBreaker(persistence(boto3.client("dynamodb"), "courier-breaker"), 3, 60, 1)  # doctest: +SKIP
    >>> deliver = breaker.guard(nifi.post)  # doctest: +SKIP
    >>> if breaker.admits(): deliver(data, sha256, bundle_id, file_count, key)  # doctest: +SKIP
    """

    def __init__(
        self,
        store: CircuitBreakerDynamoDBPersistence,
        failure_threshold: int = 3,
        recovery_seconds: int = 60,
        success_threshold: int = 1,
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

    def read(self) -> BreakerReading:
        """The shared state as stored (through the local cache of ``cache_seconds``)."""
        record = self.store.get_state(CIRCUIT_NAME)
        return BreakerReading(record.state.value, record.opened_at)

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


class DynamoDBBreakerTable:
    """Every circuit in the breaker table at once, as `courier status` and the live view show it.

    Reads the table directly rather than through Powertools, which reads one
    circuit by name; failures become :class:`~courier.errors.AwsCallError`.

    Parameters
    ----------
    client
        A boto3 DynamoDB client.
    table
        The breaker table.

    Example
    -------
    >>> DynamoDBBreakerTable(boto3.client("dynamodb"), "courier-breaker").states()  # doctest: +SKIP
    {'CLOSED'}
    """

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def states(self) -> set[str]:
        """The state of every circuit; empty when none was ever written."""
        with translated(f"reading the breaker table {self.table}"):
            pages = self.client.get_paginator("scan").paginate(
                TableName=self.table, ProjectionExpression="#s", ExpressionAttributeNames={"#s": "state"}
            )
            # The parked-message records share the table and have no state.
            return {item["state"]["S"] for page in pages for item in page.get("Items", []) if "state" in item}
