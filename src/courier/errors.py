"""The one error hierarchy of courier.

Every failure courier expects is one of these::

    CourierError
    ├── ConfigError ...................... a COURIER_* setting is missing or invalid
    ├── AwsCallError ..................... an AWS call of an operator tool or the controller failed
    ├── ReplayHaltedError ................ NiFi cannot take replays now: `courier replay` stops
    ├── BundleMissingError ............... an archive key names no bundle (replay reports it as missing)
    ├── InventoryError ................... `courier backfill --inventory` names no S3 Inventory report it can read
    ├── DeployError ...................... `courier deploy` cannot start: no package, the alias mid-shift
    ├── ReceiverUnavailableError ......... the local NiFi receiver's admin endpoint did not answer
    ├── SecretRotationError .............. `courier secret promote` finds no pending version to promote
    ├── LocalStackError .................. the local stack cannot start
    │   └── PortInUseError
    ├── DeliveryError .................... NiFi did not acknowledge a bundle (carries ``status``)
    │   ├── NiFiUnavailableError *
    │   ├── NiFiAuthError *
    │   ├── NiFiHashRejectedError *
    │   └── NiFiRejectedError †
    │       └── NiFiBodyLimitError †
    ├── RetryableError ................... the same message may succeed later
    │   ├── ClaimBusyError
    │   ├── LedgerUnavailableError
    │   ├── StorageUnavailableError
    │   │   └── ArchiveUnavailableError
    │   ├── SecretUnavailableError
    │   ├── BreakerOpenError
    │   ├── DependencyUnavailableError
    │   ├── BundleNotIntactError
    │   ├── BundleRefusedError
    │   ├── TimeBudgetError
    │   ├── NoRoomError
    │   ├── SpoolUnavailableError
    │   └── (*) the NiFi errors marked above
    └── PermanentError ................... retrying the same message cannot help
        ├── MalformedEventError
        ├── ObjectMissingError
        ├── ObjectSupersededError
        ├── ObjectTooLargeError
        ├── ObjectUnreadableError
        ├── ForeignBucketError
        ├── SecretFormatError
        ├── ArchiveCorruptError
        └── (†) NiFiRejectedError, NiFiBodyLimitError

The split that matters to the aggregator:

* ``RetryableError``: the same message may well succeed later (NiFi down, a claim
  held by another invocation, DynamoDB throttled). The message goes back to the
  queue and is retried; it must not be burned into the DLQ by an outage.
* ``PermanentError``: retrying the same message cannot help (a body that is not
  an S3 notification, an object that no longer exists, a file above the bundle
  limit). A message whose every failure is such an error charged to the file
  (``charged_to_file``) is moved to the DLQ by the handler at once
  (``courier.dead_letter``); otherwise it goes back to the queue, and the redrive
  policy moves it after maxReceiveCount receives.

Adapters translate library errors at the boundary with ``raise ... from exc``
(``courier.adapters.aws`` holds the one mapping from AWS error codes);
nothing above the adapters catches a botocore or httpx exception.
Each error carries a short ``reason`` used as a metric dimension and log field.

A failure is charged to what caused it, and the classes say which (the aggregator
reads these properties, it keeps no list of reasons of its own):

* ``dependency``: the dependency whose outage a failure of this kind may show
  (``s3``, ``dynamodb``, ``secretsmanager``, ``nifi``), or None;
* ``outage_evidence``: how many distinct pieces of such evidence (files, or
  bundles NiFi refused) a batch needs before it counts as that outage: one for
  an archive PUT, the ledger or the secret, which are never about one object;
  more where one object alone could cause it;
* ``charged_to_file``: a permanent fault of the file (or message) itself, which
  never counts toward an outage, whatever the number of files failing so;
* ``waits_out_outage``: while the circuit is open such a message is parked;
* ``leaves_note``: a message failed so leaves a note for ``courier dlq list``; not the
  transient and frequent ones (a busy claim, an open circuit).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum


class Dependency(StrEnum):
    """What courier depends on, by the name logs, metrics (``dependency``) and the breaker table carry."""

    NIFI = "nifi"
    S3 = "s3"
    DYNAMODB = "dynamodb"
    SECRETSMANAGER = "secretsmanager"


class Reason(StrEnum):
    """Each error class's ``reason``: the metric dimension, log field and failure note (the values are the contract)."""

    ERROR = "error"
    CONFIG = "config"
    AWS_CALL_FAILED = "aws_call_failed"
    REPLAY_HALTED = "replay_halted"
    BUNDLE_MISSING = "bundle_missing"
    INVENTORY = "inventory"
    DEPLOY = "deploy"
    SECRET_ROTATION = "secret_rotation"
    RECEIVER_UNAVAILABLE = "receiver_unavailable"
    LOCAL_STACK = "local_stack"
    PORT_IN_USE = "port_in_use"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    MALFORMED_EVENT = "malformed_event"
    OBJECT_MISSING = "object_missing"
    OBJECT_SUPERSEDED = "object_superseded"
    BEYOND_LEDGER = "beyond_ledger"
    OBJECT_TOO_LARGE = "object_too_large"
    OBJECT_UNREADABLE = "object_unreadable"
    FOREIGN_BUCKET = "foreign_bucket"
    CLAIM_BUSY = "claim_busy"
    LEDGER_UNAVAILABLE = "ledger_unavailable"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    SECRET_UNAVAILABLE = "secret_unavailable"
    DEPENDENCY_UNAVAILABLE = "dependency_unavailable"
    BUNDLE_NOT_INTACT = "bundle_not_intact"
    BUNDLE_REFUSED = "bundle_refused"
    TIME_BUDGET = "time_budget"
    DEFERRED = "deferred"
    SPOOL_UNAVAILABLE = "spool_unavailable"
    ARCHIVE_CORRUPT = "archive_corrupt"
    SECRET_FORMAT = "secret_format"
    DELIVERY_FAILED = "delivery_failed"
    NIFI_UNAVAILABLE = "nifi_unavailable"
    NIFI_AUTH = "nifi_auth"
    NIFI_HASH_REJECTED = "nifi_hash_rejected"
    BREAKER_OPEN = "breaker_open"
    NIFI_REJECTED = "nifi_rejected"


class CourierError(Exception):
    """Base class of every error courier raises on purpose."""

    reason: Reason = Reason.ERROR
    dependency: Dependency | None = None
    outage_evidence = 1
    charged_to_file = False
    waits_out_outage = False
    leaves_note = True


class ConfigError(CourierError):
    """A setting is missing or invalid. The message names the variable."""

    reason = Reason.CONFIG


class AwsCallError(CourierError):
    """An AWS call failed (denied, throttled, unreachable). The message names the action and AWS's error code."""

    reason = Reason.AWS_CALL_FAILED

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class ReplayHaltedError(CourierError):
    """NiFi cannot take replays now (circuit open, NiFi unavailable, credentials unreadable): stop, do not hammer it."""

    reason = Reason.REPLAY_HALTED


class BundleMissingError(CourierError):
    """An archive key names no object: `courier replay` reports the bundle as missing and goes on."""

    reason = Reason.BUNDLE_MISSING


class InventoryError(CourierError):
    """An S3 Inventory report `courier backfill` cannot read: not an s3:// URL, or not a CSV report (ORC, Parquet)."""

    reason = Reason.INVENTORY


class DeployError(CourierError):
    """`courier deploy` cannot go on: the package is missing, or the live alias is already being shifted."""

    reason = Reason.DEPLOY


class SecretRotationError(CourierError):
    """A rotation step of the NiFi secret cannot be done (no ``AWSPENDING`` version to promote)."""

    reason = Reason.SECRET_ROTATION


class ReceiverUnavailableError(CourierError):
    """The local stack's NiFi receiver did not answer on its admin endpoint (`courier status` of a local stack)."""

    reason = Reason.RECEIVER_UNAVAILABLE


class LocalStackError(CourierError):
    """The local stack cannot start (another one runs with the same state dir, a port is taken)."""

    reason = Reason.LOCAL_STACK


class PortInUseError(LocalStackError):
    """A port the local stack needs on 127.0.0.1 is taken; the message names it and the flag that moves it."""

    reason = Reason.PORT_IN_USE


class RetryableError(CourierError):
    """The operation may succeed if retried later."""

    reason = Reason.RETRYABLE


class PermanentError(CourierError):
    """Retrying the same input will not help."""

    reason = Reason.PERMANENT
    charged_to_file = True


# --- input ---------------------------------------------------------------


class MalformedEventError(PermanentError):
    """An SQS body that is not a parseable S3 event notification."""

    reason = Reason.MALFORMED_EVENT


class ObjectMissingError(PermanentError):
    """The announced object (or version) no longer exists in the landing bucket."""

    reason = Reason.OBJECT_MISSING


class ObjectSupersededError(PermanentError):
    """The event named an eTag and the key now holds other content: the announced revision is gone (unversioned bucket)."""

    reason = Reason.OBJECT_SUPERSEDED


class BeyondLedgerError(PermanentError):
    """A message names a revision that landed longer ago than the ledger keeps records (a redrive brought it back):
    whether it was delivered can no longer be known, so it is not delivered again."""

    reason = Reason.BEYOND_LEDGER


class ObjectTooLargeError(PermanentError):
    """A single file is above the ceiling: larger than one invocation can deliver in its time and its disk."""

    reason = Reason.OBJECT_TOO_LARGE


class ObjectUnreadableError(PermanentError):
    """S3 refuses this object's GET for a reason of the object's own (its message names AWS's error code).

    A cold storage class (``InvalidObjectState``), customer-provided encryption
    (``InvalidRequest``), a KMS key courier may not use or an ACL (``AccessDenied``),
    a bucket that is not there (``NoSuchBucket``): the uploader chose these, so they
    fail that file alone and never count toward an S3 outage.
    """

    reason = Reason.OBJECT_UNREADABLE


class ForeignBucketError(PermanentError):
    """A notification names a bucket that is not a landing bucket of this deployment (``COURIER_LANDING_BUCKETS``)."""

    reason = Reason.FOREIGN_BUCKET


# --- state and storage ----------------------------------------------------


class ClaimBusyError(RetryableError):
    """Another live invocation holds the claim on this file."""

    reason = Reason.CLAIM_BUSY
    leaves_note = False


class LedgerUnavailableError(RetryableError):
    """The idempotency ledger could not be read or written."""

    reason = Reason.LEDGER_UNAVAILABLE
    dependency = Dependency.DYNAMODB
    waits_out_outage = True


class StorageUnavailableError(RetryableError):
    """S3 failed for a reason other than the object itself (throttling, 5xx, network).

    A landing GET's failure names one object: it takes two files failing so to see an outage.
    """

    reason = Reason.STORAGE_UNAVAILABLE
    dependency = Dependency.S3
    outage_evidence = 2
    waits_out_outage = True


class ArchiveUnavailableError(StorageUnavailableError):
    """The archive bucket failed a PUT or GET: never about one uploaded object, so one such failure is an outage."""

    outage_evidence = 1


class SecretUnavailableError(RetryableError):
    """The NiFi credentials could not be read from Secrets Manager."""

    reason = Reason.SECRET_UNAVAILABLE
    dependency = Dependency.SECRETSMANAGER
    waits_out_outage = True


class DependencyUnavailableError(RetryableError):
    """A dependency failed the whole batch (or the controller's probe): counted by the breaker like a NiFi outage.

    ``dependency`` names it: ``nifi``, ``secretsmanager``, ``dynamodb`` or ``s3``.
    """

    reason = Reason.DEPENDENCY_UNAVAILABLE
    waits_out_outage = True
    dependency: Dependency  # always named

    def __init__(self, message: str, dependency: Dependency) -> None:
        super().__init__(message)
        self.dependency = Dependency(dependency)  # an unknown name is a bug here, not a new dependency


class BundleNotIntactError(RetryableError):
    """A file was assigned to a bundle that was never assigned whole, so never sent: it is built afresh."""

    reason = Reason.BUNDLE_NOT_INTACT


class BundleRefusedError(RetryableError):
    """NiFi refused an archived bundle of several files on its resend: its files are built afresh, and split."""

    reason = Reason.BUNDLE_REFUSED


class TimeBudgetError(RetryableError):
    """Too little of the invocation's time is left to move a bundle (fetch, build, archive, POST) and record the answer."""

    reason = Reason.TIME_BUDGET


class NoRoomError(RetryableError):
    """S3 announced a file (or an archived bundle to resend) larger than the room left: deferred, unclaimed."""

    reason = Reason.DEFERRED


class SpoolUnavailableError(RetryableError):
    """A spool could not be made or written (no space left on the function's disk, no memory for its map)."""

    reason = Reason.SPOOL_UNAVAILABLE


class ArchiveCorruptError(PermanentError):
    """The archived bundle a file is assigned to is missing or does not hash to its SHA-256: it cannot be resent."""

    reason = Reason.ARCHIVE_CORRUPT


class SecretFormatError(PermanentError):
    """The NiFi secret exists but does not have a supported shape."""

    reason = Reason.SECRET_FORMAT
    dependency = Dependency.SECRETSMANAGER
    charged_to_file = False
    waits_out_outage = True


# --- delivery ---------------------------------------------------------------


class DeliveryError(CourierError):
    """NiFi did not acknowledge a bundle. ``status`` is the HTTP status, if any."""

    reason = Reason.DELIVERY_FAILED

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NiFiUnavailableError(DeliveryError, RetryableError):
    """Connection refused or reset, timeout, or a 5xx answer: an outage."""

    reason = Reason.NIFI_UNAVAILABLE
    waits_out_outage = True


class NiFiAuthError(DeliveryError, RetryableError):
    """401/403 even after re-reading the secret (rotation window passed)."""

    reason = Reason.NIFI_AUTH
    waits_out_outage = True


class NiFiHashRejectedError(DeliveryError, RetryableError):
    """422: NiFi computed another SHA-256 than the one we sent (corruption on the path)."""

    reason = Reason.NIFI_HASH_REJECTED


class BreakerOpenError(RetryableError):
    """The NiFi circuit is open: nothing was sent (fail fast)."""

    reason = Reason.BREAKER_OPEN
    waits_out_outage = True
    leaves_note = False


class NiFiRejectedError(DeliveryError, PermanentError):
    """Any other 4xx: NiFi refuses the request itself.

    A refused bundle of several files is split before anyone is blamed; a file refused
    alone fails alone. Evidence of a NiFi outage only when several distinct bundles
    of a batch were refused (the evidence is the bundle, not the file).
    """

    reason = Reason.NIFI_REJECTED
    dependency: Dependency | None = Dependency.NIFI  # None for the subclass below
    outage_evidence = 2
    waits_out_outage = True


class NiFiBodyLimitError(NiFiRejectedError):
    """413: the body is above NiFi's limit. Bundles are split and planned smaller, and a file refused so alone is
    too large for NiFi: a size, which the uploader chose, so it is never evidence of a NiFi outage."""

    dependency = None


def reasons_where(test: Callable[[type[CourierError]], bool]) -> frozenset[Reason]:
    """The ``reason`` of every error class that passes ``test`` (e.g. those that wait out an outage)."""
    found: set[Reason] = set()
    pending: list[type[CourierError]] = [CourierError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if test(cls):
            found.add(cls.reason)
    return frozenset(found)
