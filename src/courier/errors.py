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
    ├── RetryableError ................... the same message may succeed later
    │   ├── ClaimBusyError
    │   ├── LedgerUnavailableError
    │   ├── StorageUnavailableError
    │   ├── SecretUnavailableError
    │   ├── BreakerOpenError
    │   ├── DependencyUnavailableError
    │   ├── BundleNotIntactError
    │   ├── TimeBudgetError
    │   ├── NoRoomError
    │   ├── SpoolUnavailableError
    │   └── (*) the NiFi errors marked above
    └── PermanentError ................... retrying the same message cannot help
        ├── MalformedEventError
        ├── ObjectMissingError
        ├── ObjectSupersededError
        ├── ObjectTooLargeError
        ├── SecretFormatError
        ├── ArchiveCorruptError
        └── (†) NiFiRejectedError

The split that matters to the aggregator:

* ``RetryableError``: the same message may well succeed later (NiFi down, a claim
  held by another invocation, DynamoDB throttled). The message goes back to the
  queue and is retried; it must not be burned into the DLQ by an outage.
* ``PermanentError``: retrying the same message cannot help (a body that is not
  an S3 notification, an object that no longer exists, a file above the bundle
  limit). The message still goes back to the queue, so the redrive policy moves
  it to the DLQ after maxReceiveCount receives, where an operator sees it.

Adapters translate library errors at the boundary with ``raise ... from exc``
(``courier.adapters.aws`` holds the one mapping from AWS error codes);
nothing above the adapters catches a botocore or httpx exception.
Each error carries a short ``reason`` used as a metric dimension and log field.
"""

from __future__ import annotations


class CourierError(Exception):
    """Base class of every error courier raises on purpose."""

    reason = "error"


class ConfigError(CourierError):
    """A setting is missing or invalid. The message names the variable."""

    reason = "config"


class AwsCallError(CourierError):
    """An AWS call failed (denied, throttled, unreachable). The message names the action and AWS's error code."""

    reason = "aws_call_failed"

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class ReplayHaltedError(CourierError):
    """NiFi cannot take replays now (circuit open, NiFi unavailable, credentials unreadable): stop, do not hammer it."""

    reason = "replay_halted"


class BundleMissingError(CourierError):
    """An archive key names no object: `courier replay` reports the bundle as missing and goes on."""

    reason = "bundle_missing"


class InventoryError(CourierError):
    """An S3 Inventory report `courier backfill` cannot read: not an s3:// URL, or not a CSV report (ORC, Parquet)."""

    reason = "inventory"


class DeployError(CourierError):
    """`courier deploy` cannot go on: the package is missing, or the live alias is already being shifted."""

    reason = "deploy"


class SecretRotationError(CourierError):
    """A rotation step of the NiFi secret cannot be done (no ``AWSPENDING`` version to promote)."""

    reason = "secret_rotation"


class ReceiverUnavailableError(CourierError):
    """The local stack's NiFi receiver did not answer on its admin endpoint (`courier status` of a local stack)."""

    reason = "receiver_unavailable"


class LocalStackError(CourierError):
    """The local stack cannot start (another one runs with the same state dir, a port is taken)."""

    reason = "local_stack"


class PortInUseError(LocalStackError):
    """A port the local stack needs on 127.0.0.1 is taken; the message names it and the flag that moves it."""

    reason = "port_in_use"


class RetryableError(CourierError):
    """The operation may succeed if retried later."""

    reason = "retryable"


class PermanentError(CourierError):
    """Retrying the same input will not help."""

    reason = "permanent"


# --- input ---------------------------------------------------------------


class MalformedEventError(PermanentError):
    """An SQS body that is not a parseable S3 event notification."""

    reason = "malformed_event"


class ObjectMissingError(PermanentError):
    """The announced object (or version) no longer exists in the landing bucket."""

    reason = "object_missing"


class ObjectSupersededError(PermanentError):
    """The event named an eTag and the key now holds other content: the announced revision is gone (unversioned bucket)."""

    reason = "object_superseded"


class BeyondLedgerError(PermanentError):
    """A message names a revision that landed longer ago than the ledger keeps records (a redrive brought it back):
    whether it was delivered can no longer be known, so it is not delivered again."""

    reason = "beyond_ledger"


class ObjectTooLargeError(PermanentError):
    """A single file is above the ceiling: larger than one invocation can deliver in its time and its disk."""

    reason = "object_too_large"


# --- state and storage ----------------------------------------------------


class ClaimBusyError(RetryableError):
    """Another live invocation holds the claim on this file."""

    reason = "claim_busy"


class LedgerUnavailableError(RetryableError):
    """The idempotency ledger could not be read or written."""

    reason = "ledger_unavailable"


class StorageUnavailableError(RetryableError):
    """S3 failed for a reason other than a missing object (throttling, 5xx, network)."""

    reason = "storage_unavailable"


class SecretUnavailableError(RetryableError):
    """The NiFi credentials could not be read from Secrets Manager."""

    reason = "secret_unavailable"


class DependencyUnavailableError(RetryableError):
    """A dependency failed the whole batch (or the controller's probe): counted by the breaker like a NiFi outage.

    ``dependency`` names it: ``nifi``, ``secretsmanager``, ``dynamodb`` or ``s3``.
    """

    reason = "dependency_unavailable"

    def __init__(self, message: str, dependency: str) -> None:
        super().__init__(message)
        self.dependency = dependency


class BundleNotIntactError(RetryableError):
    """A file was assigned to a bundle that was never assigned whole, so never sent: it is built afresh."""

    reason = "bundle_not_intact"


class TimeBudgetError(RetryableError):
    """Too little of the invocation's time is left to move a bundle (fetch, build, archive, POST) and record the answer."""

    reason = "time_budget"


class NoRoomError(RetryableError):
    """S3 announced a file (or an archived bundle to resend) larger than the room left: deferred, unclaimed."""

    reason = "deferred"


class SpoolUnavailableError(RetryableError):
    """A spool could not be made or written (no space left on the function's disk, no memory for its map)."""

    reason = "spool_unavailable"


class ArchiveCorruptError(PermanentError):
    """The archived bundle a file is assigned to is missing or does not hash to its SHA-256: it cannot be resent."""

    reason = "archive_corrupt"


class SecretFormatError(PermanentError):
    """The NiFi secret exists but does not have a supported shape."""

    reason = "secret_format"


# --- delivery ---------------------------------------------------------------


class DeliveryError(CourierError):
    """NiFi did not acknowledge a bundle. ``status`` is the HTTP status, if any."""

    reason = "delivery_failed"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NiFiUnavailableError(DeliveryError, RetryableError):
    """Connection refused or reset, timeout, or a 5xx answer: an outage."""

    reason = "nifi_unavailable"


class NiFiAuthError(DeliveryError, RetryableError):
    """401/403 even after re-reading the secret (rotation window passed)."""

    reason = "nifi_auth"


class NiFiHashRejectedError(DeliveryError, RetryableError):
    """422: NiFi computed another SHA-256 than the one we sent (corruption on the path)."""

    reason = "nifi_hash_rejected"


class BreakerOpenError(RetryableError):
    """The NiFi circuit is open: nothing was sent (fail fast)."""

    reason = "breaker_open"


class NiFiRejectedError(DeliveryError, PermanentError):
    """Any other 4xx: NiFi refuses the request itself."""

    reason = "nifi_rejected"
