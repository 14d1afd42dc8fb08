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
``DeadLetters``         ``dead_letters``          ``adapters.sqs.SQSDeadLetters``
``EventSourceMapping``  ``event_source_mapping``  ``adapters.mapping.LambdaEventSourceMapping``
``DependencyProbe``     ``probe``                 ``adapters.probe.CanaryProbe``
``BaseLedger``          ``ledger``                ``ledger.dynamodb.DynamoDBLedger``
``LandingVersions``     ``landing_versions``      ``adapters.landing.S3LandingVersions``
======================  ========================  =============================================

The operator commands (``courier status``, ``dlq``, ``replay``, ``archive
verify``, ``slo-report``) read the deployed pipeline through these:

======================  ========================  =============================================
port                    parameter                 implementation
======================  ========================  =============================================
``ArchiveReader``       ``archive_reader``        ``adapters.s3.S3ArchiveReader``
``Queue``               ``queue`` (or ``dlq``)    ``adapters.sqs.SQSQueue``
``BreakerTable``        ``breaker_table``         ``adapters.breaker.DynamoDBBreakerTable``
``Metrics``             ``metrics``               ``adapters.cloudwatch.CloudWatchMetrics``
``ReceiverAdmin``       ``receiver_admin``        ``adapters.receiver.HTTPSReceiverAdmin``
``BlueGreen``           ``blue_green``            ``adapters.deploy.LambdaCodeDeploy``
======================  ========================  =============================================

The value types an adapter returns or takes live here too, so adapters depend
on the ports and never on the operator modules that use them: ``Revision`` (a
landing object's revision, for ``backfill`` and ``trace``) and ``Target`` (an
environment's blue/green names, for ``deploy``).

The ledger is an abstract base class rather than a Protocol because it owns
the claim policy (``ledger/base.py``); its backends only store.
Fakes of every port for the unit tests live in ``tests/fakes.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from courier.bundle import Bundle, Check
from courier.delivery import Credentials, Delivery, Purpose  # value objects of the NiFi port, defined beside the headers
from courier.errors import DeployError
from courier.events import ObjectIdentity, ObjectRef
from courier.ledger.base import BaseLedger
from courier.resources import DEPLOYMENT_GROUP_SUFFIX, FUNCTION_NAME, LIVE_ALIAS, NAME_PREFIX, with_prefix

__all__ = [
    "Archive",
    "ArchiveReader",
    "ArchivedObject",
    "BaseLedger",
    "BlueGreen",
    "Breaker",
    "BreakerReading",
    "BreakerTable",
    "DeadLetters",
    "Delivery",
    "DependencyProbe",
    "DeploymentGroup",
    "DeploymentState",
    "EventSourceMapping",
    "Landing",
    "LiveAlias",
    "Metrics",
    "NiFi",
    "ObjectStream",
    "ParkingLot",
    "PublishedVersion",
    "Purpose",
    "Queue",
    "ReceiverAdmin",
    "Revision",
    "Target",
]


class Readable(Protocol):
    def read(self, size: int = -1) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ObjectStream:
    """An S3 object opened for reading: its length as S3 announced it, S3's ids, and its body.

    ``body.read(n)`` gives the next bytes (``b""`` at the end) and raises the port's
    errors (``StorageUnavailableError``) on a broken read; whoever opened it closes it.
    """

    size: int
    body: Readable
    version_id: str | None = None
    etag: str | None = None


class Landing(Protocol):
    """The landing bucket: open the revision an event names, to stream it."""

    def open(self, ref: ObjectRef) -> ObjectStream:
        """Raises ``ObjectTooLargeError`` (body unread) when the object is above the ceiling."""
        ...


class Archive(Protocol):
    """The archive bucket: bundles, their index lines, and the tag that marks them delivered."""

    def put(self, key: str, bundle: Bundle, check: Check | None = None) -> None:
        """Write the bundle's body (streamed from its spool; by multipart upload when large); ``check`` is called
        between parts and may raise to stop (the upload is then aborted)."""
        ...

    def open(self, key: str) -> ObjectStream:
        """An archived bundle, to stream it for a resend."""
        ...

    def put_index(self, key: str, lines: bytes) -> None: ...

    def mark_delivered(self, key: str) -> None: ...


@dataclass(frozen=True)
class VersionDeleteFailure:
    """One version S3 refused to delete in a DeleteObjects (``code``: S3's per-key error code)."""

    key: str
    version_id: str
    code: str


class LandingVersions(Protocol):
    """The landing bucket's revisions as the sweep deletes them: by exact version, never a key's current object."""

    def delete_versions(self, bucket: str, versions: Sequence[tuple[str, str]]) -> list[VersionDeleteFailure]:
        """Delete up to 1000 (key, version id) pairs in one request; a version already gone is no failure.

        Returns the versions S3 refused; raises ``AwsCallError`` when the request itself failed.
        """
        ...


class NiFi(Protocol):
    """NiFi's HTTPS endpoint: POST one bundle, return the 2xx status or raise a ``DeliveryError``."""

    def post(self, delivery: Delivery) -> int: ...


class BreakerState(StrEnum):
    """The shared circuit as read: Powertools' three states, MISSING when no item exists (never opened, or gone),
    UNREADABLE when the read itself failed (the controller's decision for that run). The values are what the
    breaker table stores, logs and ``courier status`` show."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"
    MISSING = "MISSING"
    UNREADABLE = "UNREADABLE"


@dataclass(frozen=True)
class BreakerReading:
    """The shared circuit as stored.

    ``state`` is CLOSED, OPEN or HALF_OPEN, or MISSING when no item exists (never
    opened, or gone); ``opened_at`` is in epoch seconds; ``dependency`` names what
    tripped it last (``nifi``, ``secretsmanager``, ``dynamodb``, ``s3``), if known.
    """

    state: BreakerState
    opened_at: int | None = None
    dependency: str | None = None
    probe_lease_until: int | None = None  # HALF_OPEN: when the prober's lease lapses


class Breaker(Protocol):
    """The NiFi circuit breaker shared by every invocation."""

    def admits(self) -> bool:
        """False while the circuit is open and no probe is due: fail fast, touch nothing."""
        ...

    def guard(self, deliver: Callable[..., int]) -> Callable[..., int]:
        """``deliver`` wrapped so that its outcomes move the circuit; raises ``BreakerOpenError`` when open."""
        ...

    def read(self) -> BreakerReading:
        """The state, consistently read from the store; raises ``AwsCallError`` when it cannot be read."""
        ...

    def record_failure(self, dependency: str, reason: str) -> None:
        """Count a batch that a dependency failed as a whole, as an outage of that dependency."""
        ...

    def mark_closed(self) -> None:
        """Mark the circuit CLOSED after a successful probe outside ``guard`` (no item existed to move)."""
        ...

    def trip(self, dependency: str, reason: str) -> None:
        """Open the circuit now, naming ``dependency``: a probe outside ``guard`` found it down."""
        ...


class CredentialsProvider(Protocol):
    """The NiFi credentials where they are kept (the secret), cached between reads."""

    def get(self, refresh: bool = False) -> Credentials:
        """The credentials; ``refresh`` reads them again past the cache (after a 401: the secret may have rotated)."""
        ...


class DependencyProbe(Protocol):
    """What the controller sends to see whether every dependency works again (a canary down the real path)."""

    def check(self) -> None:
        """Return when all dependencies answered; raise ``DependencyUnavailableError`` naming the first that did not."""
        ...


class ParkingLot(Protocol):
    """Where the messages of an outage wait out of sight until the circuit closes."""

    def park(self, records: Iterable[Mapping[str, Any]]) -> None: ...

    def defer(self, records: Iterable[Mapping[str, Any]], seconds: int) -> None:
        """Make messages visible again in ``seconds`` (an invocation had no room for their files). Best effort."""
        ...

    def unpark_all(self) -> int: ...

    def has_parked(self) -> bool: ...

    def oldest_age_seconds(self) -> float | None:
        """Seconds since SQS first took the oldest parked message; None when none is parked."""
        ...


class DeadLetters(Protocol):
    """Where the handler moves a message that can never succeed, at once (``courier.dead_letter``)."""

    def move(self, record: Mapping[str, Any], attributes: Mapping[str, Any]) -> None:
        """Send the record's body to the DLQ with ``attributes`` (SendMessage's shape), then delete it from its queue.

        Raises a ``CourierError`` if either step failed (the message then stays in its queue).
        """
        ...


class EventSourceMapping(Protocol):
    """The aggregator's SQS event source mapping, as the breaker controller switches it."""

    def enabled(self) -> bool: ...

    def set_enabled(self, enabled: bool) -> None: ...


# --- the operator commands' ports ---------------------------------------------------


@dataclass(frozen=True)
class ArchivedObject:
    """What S3 says about an archived object without reading it.

    ``storage_class`` is None for STANDARD; ``restore`` is S3's ``x-amz-restore``
    header (``ongoing-request="true"`` while a restore runs); ``sha256`` is the
    hex digest courier stored with the bundle, None when it is missing; ``multipart``
    says S3 verified it part by part (its ETag has a part count).
    """

    key: str
    size: int
    sha256: str | None = None
    storage_class: str | None = None
    restore: str | None = None
    multipart: bool = False  # uploaded in parts: S3 holds each part's SHA-256, not the whole object's


class ArchiveReader(Protocol):
    """The archive bucket as the operator tools read it: list, inspect, read and restore bundles."""

    def keys(self, prefix: str) -> list[str]: ...

    def count(self, prefix: str) -> int: ...

    def head(self, key: str) -> ArchivedObject:
        """Raises ``BundleMissingError`` when ``key`` names no object."""
        ...

    def read(self, key: str) -> bytes:
        """A small object whole (index lines)."""
        ...

    def open(self, key: str) -> ObjectStream:
        """An archived bundle to stream, whatever its size; whoever opens it closes it."""
        ...

    def restore(self, key: str, days: int, tier: str) -> None: ...

    def was_delivered(self, key: str) -> bool:
        """True when the aggregator tagged the bundle as acknowledged by NiFi."""
        ...

    def stored_sha256(self, key: str) -> str | None:
        """The whole object's SHA-256 S3 itself verified at upload (hex); None when it holds none (a multipart
        upload's checksum is of its parts' checksums)."""
        ...


class Queue(Protocol):
    """One SQS queue as the operator tools use it: its depth, and moving messages by hand."""

    @property
    def arn(self) -> str: ...

    def depth(self) -> tuple[int, int]:
        """(visible, in flight) messages."""
        ...

    def retention_seconds(self) -> int:
        """How long the queue keeps a message (``MessageRetentionPeriod``), as the queue is set now."""
        ...

    def receive(self, max_messages: int, visibility_timeout: int) -> list[dict[str, Any]]: ...

    def make_visible(self, receipt_handles: Sequence[str]) -> None: ...

    def send(self, body: str, message_attributes: Mapping[str, Any] | None = None) -> None: ...

    def delete(self, receipt_handle: str) -> None: ...

    def start_move_task(self, destination: Queue) -> str | None:
        """Move every message to ``destination`` server-side; the task's handle, None where the endpoint cannot."""
        ...


class BreakerTable(Protocol):
    """The breaker table read as a whole: the state of every circuit in it."""

    def states(self) -> set[BreakerState]: ...

    def dependency(self) -> str | None:
        """What tripped the circuit last (``nifi``, ``secretsmanager``, ``dynamodb``, ``s3``), if recorded."""
        ...


class Metrics(Protocol):
    """Datapoints of one metric (CloudWatch ``GetMetricStatistics``)."""

    def datapoints(
        self,
        namespace: str,
        metric: str,
        dimensions: Mapping[str, str],
        since: datetime,
        until: datetime,
        period: int,
        statistics: Sequence[str] = (),
        extended_statistics: Sequence[str] = (),
    ) -> list[dict[str, Any]]: ...


class ReceiverAdmin(Protocol):
    """The local NiFi receiver's own counts (``/admin/stats``): files delivered, duplicates, latency."""

    def stats(self) -> dict[str, Any]: ...


# --- `courier deploy`'s port ----------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The names one environment's Terraform gave the aggregator's blue/green resources.

    Parameters
    ----------
    function, alias
        The aggregator function and the alias its event source mapping invokes.
    application, group
        The CodeDeploy application and deployment group that shift the alias.

    Example
    -------
    >>> target = Target.of_environment("prod")
    >>> target.function, target.alias, target.group
    ('courier-prod-aggregator', 'live', 'courier-prod-aggregator-live')
    """

    function: str
    alias: str
    application: str
    group: str

    @classmethod
    def of_environment(cls, environment: str, name: str | None = None) -> Target:
        """``courier-<environment>-...``, as modules/pipeline names them; ``name`` when its ``name`` variable was set."""
        if not name and not (environment.replace("-", "").isalnum() and environment == environment.lower()):
            raise DeployError(f"--env {environment!r} is not an environment name (staging, prod: lower-case letters, digits, -)")
        function = with_prefix(FUNCTION_NAME, name or f"{NAME_PREFIX}-{environment}")
        return cls(function, LIVE_ALIAS, function, function + DEPLOYMENT_GROUP_SUFFIX)


@dataclass(frozen=True)
class LiveAlias:
    """The aggregator's ``live`` alias and the code behind it, before a deployment.

    ``code_sha256`` is Lambda's CodeSha256 (base64 SHA-256 of the zip) of the version the alias
    points to, ``latest_sha256`` that of ``$LATEST``; ``weights`` the alias's additional version
    weights, non-empty only while traffic is being shifted. ``newest`` is the highest published
    version (ListVersionsByFunction); ``configuration`` and ``latest_configuration`` the versioned
    settings (environment, memory, timeout, layers, VPC...) of the live version and of ``$LATEST``,
    as comparable text: an apply that changes only them publishes a version with the same code.
    """

    version: str
    code_sha256: str
    latest_sha256: str
    weights: Mapping[str, float]
    newest: PublishedVersion | None = None
    configuration: str = ""
    latest_configuration: str = ""


@dataclass(frozen=True)
class DeploymentGroup:
    """A CodeDeploy deployment group as a deployment will use it: its traffic shifting and rollback."""

    config_name: str
    alarms: tuple[str, ...]
    alarms_enabled: bool
    rollback_events: tuple[str, ...]


@dataclass(frozen=True)
class PublishedVersion:
    """A published version of the function: its number, Lambda's CodeSha256 of its code, and its
    versioned settings as comparable text (empty where not read)."""

    version: str
    code_sha256: str
    configuration: str = ""


@dataclass(frozen=True)
class DeploymentState:
    """One look at a running or finished CodeDeploy deployment.

    ``status`` is CodeDeploy's (Created, Queued, InProgress, Baking, Succeeded, Failed, Stopped,
    Ready); ``target_weight`` the share of the alias's traffic on the new version (0.0-1.0);
    the error and rollback fields are CodeDeploy's ``errorInformation`` and ``rollbackInfo``.
    """

    status: str
    target_weight: float = 0.0
    error_code: str | None = None
    error_message: str | None = None
    rollback_deployment_id: str | None = None
    rollback_message: str | None = None


class BlueGreen(Protocol):
    """The aggregator's versions, its ``live`` alias and its CodeDeploy group, as `courier deploy` uses them."""

    def live(self) -> LiveAlias: ...

    def group(self) -> DeploymentGroup: ...

    def publish(self, package: bytes, code_sha256: str, upload: bool) -> PublishedVersion:
        """A published version holding ``package``: uploaded now, or (``upload`` False) published from ``$LATEST``,
        which holds it already."""
        ...

    def ready(self, version: str) -> None:
        """Return once the version can take traffic (its LastUpdateStatus is Successful); raise if it cannot."""
        ...

    def start(self, appspec: str, appspec_sha256: str, description: str, alarms: tuple[str, ...] | None = None) -> str:
        """Create a deployment of the group with this AppSpec; its id. ``alarms``: watch these rollback
        alarms instead of the group's (CodeDeploy's alarm override), none at all when empty."""
        ...

    def state(self, deployment_id: str, target_version: str) -> DeploymentState: ...


# --- `courier backfill`'s and `courier trace`'s value type --------------------------------


@dataclass(frozen=True)
class Revision:
    """One revision of a landing object, as a listing or an inventory report shows it.

    Parameters
    ----------
    key
        The object's key (decoded).
    version_id
        Its version id; None on an unversioned bucket (S3 then says ``null``).
    size
        Its size in bytes.
    etag
        Its ETag, without quotes.
    last_modified
        When it landed (UTC).
    is_latest
        Whether it is the current version.

    Example
    -------
    >>> from datetime import UTC
    >>> rev = Revision("in/a.csv", "3HL4kqtJ", 12, "9b2cf535f27731c974343645a3985328", datetime(2026, 11, 26, tzinfo=UTC))
    >>> rev.identity("courier-landing").revision
    'v:3HL4kqtJ'
    """

    key: str
    version_id: str | None
    size: int
    etag: str
    last_modified: datetime
    is_latest: bool = True

    def identity(self, bucket: str) -> ObjectIdentity:
        """The identity ``events.ObjectRef.identity`` gives the notification ``backfill.notification`` sends for it.

        By version it is the one S3's own event gives. Unversioned, it is ``s:`` and the
        sequencer made from the landing time: a listing has no sequencer, so backfill
        cannot name S3's; whether S3's event was delivered is judged by
        ``backfill.delivered_unversioned`` instead.
        """
        if self.version_id:
            return ObjectIdentity(bucket, self.key, f"v:{self.version_id}")
        return ObjectIdentity(bucket, self.key, f"s:{self.sequencer}")

    @property
    def sequencer(self) -> str:
        """A stand-in for S3's sequencer (hex, upper case): the landing time in microseconds."""
        return f"{int(self.last_modified.timestamp() * 1_000_000):016X}"

    @property
    def landed_second(self) -> int:
        """The landing time in whole seconds, as S3 lists it (a listing's LastModified has no milliseconds)."""
        return int(self.last_modified.timestamp())

    @property
    def mark(self) -> dict[str, str | None]:
        return {"key": self.key, "version_id": self.version_id}
