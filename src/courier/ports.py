"""The ports: what the aggregator and the controller need from the outside world, one name each.

Each concept has one name, used for the Protocol, the constructor parameter
and (with the technology in front) the implementation:

======================  ========================  =============================================
port                    parameter                 implementation
======================  ========================  =============================================
``Landing``             ``landing``               ``adapters.s3.S3Landing``
``Archive``             ``archive``               ``adapters.s3.S3Archive``
``NiFi``                ``nifi``                  ``adapters.nifi.NiFiClient``
``Breaker``             ``breaker``               ``adapters.breaker.DynamoDBBreaker``
``ParkingLot``          ``parking_lot``           ``adapters.parking.SQSParkingLot``
``EventSourceMapping``  ``event_source_mapping``  ``adapters.mapping.LambdaEventSourceMapping``
``BaseLedger``          ``ledger``                ``ledger.dynamodb.DynamoDBLedger``
======================  ========================  =============================================

The ledger is an abstract base class rather than a Protocol because it owns
the claim policy (``ledger/base.py``); its backends only store.
Fakes of every port for the unit tests live in ``tests/fakes.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from courier.bundle import Bundle, FetchedFile
from courier.events import ObjectIdentity, ObjectRef
from courier.ledger.base import BaseLedger

__all__ = ["Archive", "BaseLedger", "Breaker", "BreakerReading", "EventSourceMapping", "Landing", "NiFi", "ParkingLot"]


class Landing(Protocol):
    """The landing bucket: fetch the revision an event names."""

    def fetch(self, ref: ObjectRef) -> FetchedFile: ...

    def mark_delivered(self, identity: ObjectIdentity) -> bool:
        """Tag a delivered revision so the lifecycle may expire it; False when it cannot be tagged."""
        ...


class Archive(Protocol):
    """The archive bucket: bundles, their index lines, and the tag that marks them delivered."""

    def put(self, key: str, bundle: Bundle) -> None: ...

    def get(self, key: str) -> bytes:
        """An archived bundle's bytes, for a resend."""
        ...

    def put_index(self, key: str, lines: bytes) -> None: ...

    def mark_delivered(self, key: str) -> None: ...


class NiFi(Protocol):
    """NiFi's HTTPS endpoint: POST one bundle, return the 2xx status or raise a ``DeliveryError``."""

    def post(self, data: bytes, sha256: str, bundle_id: str, file_count: int, archive_key: str, replay: bool = False) -> int: ...


@dataclass(frozen=True)
class BreakerReading:
    """The shared circuit as stored: ``state`` is CLOSED, OPEN or HALF_OPEN; ``opened_at`` epoch seconds."""

    state: str
    opened_at: int | None = None


class Breaker(Protocol):
    """The NiFi circuit breaker shared by every invocation."""

    def admits(self) -> bool:
        """False while the circuit is open and no probe is due: fail fast, touch nothing."""
        ...

    def guard(self, deliver: Callable[..., int]) -> Callable[..., int]:
        """``deliver`` wrapped so that its outcomes move the circuit; raises ``BreakerOpenError`` when open."""
        ...

    def read(self) -> BreakerReading: ...


class ParkingLot(Protocol):
    """Where the messages of an outage wait out of sight until the circuit closes."""

    def park(self, records: Iterable[Mapping[str, Any]]) -> None: ...

    def release_all(self) -> int: ...


class EventSourceMapping(Protocol):
    """The aggregator's SQS event source mapping, as the breaker controller switches it."""

    def enabled(self) -> bool: ...

    def set_enabled(self, enabled: bool) -> None: ...
