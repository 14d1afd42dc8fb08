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
from aws_lambda_powertools.utilities.circuit_breaker import base as powertools_base
from aws_lambda_powertools.utilities.circuit_breaker.persistence import CircuitBreakerDynamoDBPersistence

from courier.adapters.aws import translated
from courier.errors import (
    AwsCallError,
    BreakerOpenError,
    Dependency,
    DependencyUnavailableError,
    NiFiAuthError,
    NiFiUnavailableError,
)
from courier.observability import logger, metric
from courier.ports import BreakerReading, BreakerState
from courier.resources import BREAKER_EXPIRY_ATTRIBUTE, BREAKER_KEY, DLQ_RETENTION_SECONDS

# One circuit for delivery: NiFi, and every dependency the batch needs on the way there.
CIRCUIT_NAME = "nifi"
CAUSE_ID = "cause#" + CIRCUIT_NAME  # what tripped the circuit last, for status, logs and the controller's metric
COUNTED_FAILURES = (NiFiUnavailableError, NiFiAuthError, DependencyUnavailableError)


class _LongLivedPersistence(CircuitBreakerDynamoDBPersistence):
    """Powertools' DynamoDB persistence, with a TTL that cannot delete an open circuit during an outage.

    Powertools stamps ``now + recovery + 1 h`` on every write; an outage with no
    write for that long (every message parked, the mapping paused) let DynamoDB
    delete the OPEN item, after which every reader saw CLOSED. Items now live as
    long as a message can (the DLQ's retention) after their last write.
    """

    def _durable_ttl(self, name: str) -> int:
        return int(time.time()) + self._settings_for(name).recovery_timeout + DLQ_RETENTION_SECONDS


def persistence(client: Any, table: str) -> CircuitBreakerDynamoDBPersistence:
    # The circuit name is the item's "id", so every function sharing the table shares the circuit.
    return _LongLivedPersistence(table_name=table, boto3_client=client)


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
    >>> if breaker.admits(): deliver(Delivery.of(bundle, key))  # doctest: +SKIP
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
        self._last_cause: tuple[str, str] = ("nifi", "nifi_unavailable")

    def admits(self) -> bool:
        """False while the circuit is open and no probe is due: fail fast, touch nothing."""
        record = self.store.get_state(CIRCUIT_NAME)
        if record.state is CircuitState.CLOSED:
            return True
        if record.state is CircuitState.OPEN:
            opened_at = record.opened_at if record.opened_at is not None else 0
            return self.clock() >= opened_at + self.recovery_seconds  # this invocation may become the probe
        if record.half_open_owner == powertools_base._probe_owner_id():
            return True  # HALF_OPEN: the probe's owner goes on probing until success_threshold closes it
        lease = record.probe_lease_expiry
        return lease is not None and self.clock() >= lease  # only a lapsed prober is replaced

    def read(self) -> BreakerReading:
        """The state as stored, read consistently: no cache, and no "CLOSED" on a failed read.

        Powertools' own read fails open (CLOSED) on any error, which is right for a
        breaker in front of calls but wrong for the controller deciding to release a
        backlog: it must see a real CLOSED. A read error raises ``AwsCallError``.
        """
        with translated(f"reading the circuit in {self.store.table_name}"):
            response = self.store.client.batch_get_item(
                RequestItems={
                    self.store.table_name: {
                        "Keys": [{BREAKER_KEY: {"S": CIRCUIT_NAME}}, {BREAKER_KEY: {"S": CAUSE_ID}}],
                        "ConsistentRead": True,
                    }
                }
            )
        if response.get("UnprocessedKeys"):
            # Throttled: a missing item here would read as MISSING, which it is not.
            raise AwsCallError(f"reading the circuit in {self.store.table_name} was throttled", "UnprocessedKeys")
        items = response["Responses"].get(self.store.table_name, [])
        by_id = {item[BREAKER_KEY]["S"]: item for item in items}
        dependency = by_id.get(CAUSE_ID, {}).get("dependency", {}).get("S")
        circuit = by_id.get(CIRCUIT_NAME)
        if circuit is None:
            return BreakerReading(BreakerState.MISSING, None, dependency)
        opened_at = circuit.get("opened_at", {}).get("N")
        lease = circuit.get("probe_lease_expiry", {}).get("N")
        return BreakerReading(
            BreakerState(circuit["state"]["S"]), int(opened_at) if opened_at else None, dependency, int(lease) if lease else None
        )

    def guard(self, deliver: Callable[..., int]) -> Callable[..., int]:
        protected = circuit_breaker(
            name=CIRCUIT_NAME, persistence_store=self.store, config=self.config, on_transition=self._on_transition
        )(deliver)

        def call(*args: Any, **kwargs: Any) -> int:
            try:
                status: int = protected(*args, **kwargs)
                return status
            except CircuitBreakerOpenError as exc:
                raise BreakerOpenError("NiFi circuit is open; not calling it") from exc
            except (NiFiUnavailableError, NiFiAuthError) as exc:
                self._last_cause = ("nifi", exc.reason)
                raise
            except DependencyUnavailableError as exc:
                self._last_cause = (exc.dependency, exc.reason)  # the controller's probe names what failed
                raise

        return call

    def record_failure(self, dependency: str, reason: str) -> None:
        """Count a batch that ``dependency`` failed as a whole, exactly as a failed delivery counts."""
        self._last_cause = (dependency, reason)

        def failed() -> int:
            raise DependencyUnavailableError(f"{dependency} failed the whole batch ({reason})", Dependency(dependency))

        try:
            self.guard(failed)()
        except (DependencyUnavailableError, BreakerOpenError):
            pass
        self._write_cause(dependency, reason)

    def mark_closed(self) -> None:
        self.store.save_closed(CIRCUIT_NAME)
        metric("BreakerTransitions", from_state=BreakerState.MISSING, to_state=CircuitState.CLOSED.value)

    def trip(self, dependency: str, reason: str) -> None:
        """Open the circuit at once (no threshold): the controller's own canary found ``dependency`` down."""
        self.store.save_reopen(CIRCUIT_NAME, int(self.clock()))
        metric("BreakerTransitions", from_state=BreakerState.MISSING, to_state=CircuitState.OPEN.value)
        self._write_cause(dependency, reason)

    def _on_transition(self, transition: CircuitTransition) -> None:
        _on_transition(transition)
        if transition.to_state is CircuitState.OPEN:
            self._write_cause(*self._last_cause)

    def _write_cause(self, dependency: str, reason: str) -> None:
        now = int(self.clock())
        try:
            self.store.client.put_item(
                TableName=self.store.table_name,
                Item={
                    BREAKER_KEY: {"S": CAUSE_ID},
                    "dependency": {"S": dependency},
                    "reason": {"S": reason},
                    "at": {"N": str(now)},
                    BREAKER_EXPIRY_ATTRIBUTE: {"N": str(now + DLQ_RETENTION_SECONDS)},
                },
            )
        except Exception as exc:  # noqa: BLE001 - the cause only labels status and logs; the circuit itself is written
            extra = {"dependency": dependency, "error": type(exc).__name__}
            logger.warning("could not record what tripped the circuit", extra=extra)


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

    def states(self) -> set[BreakerState]:
        """The state of every circuit; empty when none was ever written."""
        with translated(f"reading the breaker table {self.table}"):
            pages = self.client.get_paginator("scan").paginate(
                TableName=self.table, ProjectionExpression="#s", ExpressionAttributeNames={"#s": "state"}
            )
            # The parked-message records share the table and have no state.
            return {BreakerState(item["state"]["S"]) for page in pages for item in page.get("Items", []) if "state" in item}

    def dependency(self) -> str | None:
        with translated(f"reading the breaker table {self.table}"):
            item = self.client.get_item(TableName=self.table, Key={BREAKER_KEY: {"S": CAUSE_ID}}).get("Item") or {}
        dependency: str | None = item.get("dependency", {}).get("S")
        return dependency
