"""The one place that reads botocore's errors: codes, their meaning to courier, bounded batch writes.

Every adapter that calls AWS translates failures through :func:`translated`, so
the mapping from AWS error codes to courier's errors lives here once, and
nothing above the adapters ever sees a ``ClientError``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from courier.errors import AwsCallError, CourierError

# What S3 answers for a key or version that is not there (HEAD answers a bare 404).
MISSING_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})
# What an endpoint answers for a call it does not implement (older regions, emulators). A bare HTTP
# status as the code means the answer was not in AWS's error format at all: moto's server answers a
# call it lacks with a 500 HTML page (botocore code "500"), where AWS's own 500s carry a named code.
NOT_IMPLEMENTED_CODES = frozenset(
    {
        "UnsupportedOperation",
        "InvalidAction",
        "AWS.SimpleQueueService.UnsupportedOperation",
        "NotImplemented",
        "InvalidParameterValue",
        "404",
        "500",
        "501",
    }
)
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"})
NO_CREDENTIALS_CODES = frozenset({"NoCredentialsError", "PartialCredentialsError"})  # botocore found no usable keys
CONDITION_FAILED = "ConditionalCheckFailedException"
PRECONDITION_FAILED = frozenset({"PreconditionFailed", "412"})  # S3's answer to a GET whose If-Match no longer holds
# What S3 answers a GET for a reason of the object's own, which its uploader chose: an archived storage class
# (InvalidObjectState), customer-provided encryption keys (InvalidRequest), a KMS key or an ACL courier may not
# use (AccessDenied, the KMS.* codes), a bucket that is not there (NoSuchBucket). Not KMS throttling: that passes.
UNREADABLE_CODES = frozenset(
    {
        "InvalidObjectState",
        "InvalidRequest",
        "AccessDenied",
        "403",
        "NoSuchBucket",
        "KMS.DisabledException",
        "KMS.KMSInvalidStateException",
        "KMS.NotFoundException",
        "KMS.InvalidKeyUsageException",
    }
)

BATCH_WRITE_LIMIT = 25  # DynamoDB BatchWriteItem takes at most 25 requests
_BATCH_ATTEMPTS = 8
TRANSACT_LIMIT = 100  # DynamoDB TransactWriteItems takes at most 100 actions
CANCELLED = "TransactionCanceledException"
REFUSED_BY_CONDITION = "ConditionalCheckFailed"  # an action's cancellation reason when its own condition failed
CONFLICT = "TransactionConflict"  # another request was writing the item at the same moment
# Cancellation reasons that say "not now" (the action itself is fine), and the top-level codes that say the same.
_TRANSIENT_REASONS = frozenset({CONFLICT, "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"})
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)


def error_code(exc: BaseException) -> str:
    """AWS's error code of a ``ClientError``; the class name of any other botocore error."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return type(exc).__name__


def response_of(exc: ClientError) -> dict[str, Any]:
    """The error's parsed response, with the service's own fields (e.g. DynamoDB's old ``Item``) that the stubs leave out."""
    return cast(dict[str, Any], exc.response)


def describe(action: str, exc: BaseException) -> str:
    code = error_code(exc)
    if code in ACCESS_DENIED_CODES:
        return f"{action} was denied ({code}): the caller lacks the permission for it"
    if code in NO_CREDENTIALS_CODES:
        return f"{action} failed: no AWS credentials found ({code}); set AWS_PROFILE or log in (aws sso login / aws configure)"
    return f"{action} failed: {code}"


@contextmanager
def translated(
    action: str,
    error: Callable[[str], CourierError] = AwsCallError,
    missing: CourierError | None = None,
    superseded: CourierError | None = None,
    unreadable: Callable[[str], CourierError] | None = None,
) -> Iterator[None]:
    """Turn any botocore failure inside the block into a courier error naming ``action``.

    ``missing`` is raised instead for the not-found codes, when the caller treats
    "not there" differently from "could not ask"; ``superseded`` for a failed
    precondition (the object changed since the event that named it); ``unreadable(code)``
    for the codes of an object courier cannot read (:data:`UNREADABLE_CODES`).
    """
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        if missing is not None and code in MISSING_CODES:
            raise missing from exc
        if superseded is not None and code in PRECONDITION_FAILED:
            raise superseded from exc
        if unreadable is not None and code in UNREADABLE_CODES:
            raise unreadable(code) from exc
        raise _make(error, describe(action, exc), exc) from exc
    except BotoCoreError as exc:
        raise _make(error, describe(action, exc), exc) from exc


def _make(error: Callable[[str], CourierError], message: str, exc: BaseException) -> CourierError:
    made = error(message)
    if isinstance(made, AwsCallError):
        made.code = error_code(exc)
    return made


def session(profile: str | None = None, region: str | None = None) -> Any:
    """A boto3 session of the caller's own profile and region, as ``aws --profile P --region R`` would use.

    An unknown profile raises ``AwsCallError`` with one line, not botocore's traceback.
    """
    import boto3  # here: `courier --help` need not load it

    try:
        return boto3.session.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as exc:
        raise AwsCallError(
            f"the AWS profile {profile!r} is not in ~/.aws/config or ~/.aws/credentials", "ProfileNotFound"
        ) from exc


def batch_write(
    client: Any,
    table: str,
    requests: list[dict[str, Any]],
    action: str,
    error: Callable[[str], CourierError] = AwsCallError,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """BatchWriteItem in chunks of 25, retrying ``UnprocessedItems`` with backoff, a bounded number of times.

    ``requests`` are ``{"PutRequest": ...}`` or ``{"DeleteRequest": ...}`` entries.
    Raises ``error`` when DynamoDB fails or still leaves items unprocessed at the end.
    """
    for start in range(0, len(requests), BATCH_WRITE_LIMIT):
        pending: dict[str, Any] = {table: requests[start : start + BATCH_WRITE_LIMIT]}
        for attempt in range(_BATCH_ATTEMPTS):
            with translated(action, error):
                pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
            sleep(min(0.05 * 2**attempt, 1.0))
        else:
            raise error(f"{action} failed: items left unprocessed after {_BATCH_ATTEMPTS} attempts")


def backoff(seconds: float) -> None:
    """The pause between retries of :func:`transact_write` (a seam for tests)."""
    time.sleep(seconds)


def transact_write(
    client: Any,
    actions: list[dict[str, Any]],
    action: str,
    error: Callable[[str], CourierError] = AwsCallError,
    sleep: Callable[[float], None] | None = None,
) -> dict[int, dict[str, Any]]:
    """TransactWriteItems of up to 100 actions, until each one is written or refused by its own condition.

    Returns, by index into ``actions``, the cancellation reason of every action that
    was not written: ``Code`` is ``ConditionalCheckFailed`` (with the old ``Item`` when
    the action asked for ``ReturnValuesOnConditionCheckFailure=ALL_OLD``), or
    ``TransactionConflict`` for an action still meeting a concurrent write of its item
    after the bounded retries. A cancelled transaction writes nothing, so the actions
    that were not refused go again without the refused ones; conflicts and throttling
    (in the reasons or as the call's own error) are retried with backoff a bounded
    number of times, after which throttling raises ``error``. Any other failure
    raises ``error`` at once. The actions must name distinct items (DynamoDB refuses
    two actions on one item in a transaction).
    """
    if len(actions) > TRANSACT_LIMIT:
        raise ValueError(f"a transaction takes at most {TRANSACT_LIMIT} actions, not {len(actions)}")
    sleep = sleep or backoff
    refused: dict[int, dict[str, Any]] = {}
    pending = list(range(len(actions)))
    attempt = 0
    while pending:
        try:
            client.transact_write_items(TransactItems=[actions[i] for i in pending])
            return refused
        except ClientError as exc:
            code = error_code(exc)
            if code not in _TRANSIENT_CODES and code != CANCELLED:
                raise _make(error, describe(action, exc), exc) from exc
            reasons = list(response_of(exc).get("CancellationReasons") or []) if code == CANCELLED else []
            if code == CANCELLED and len(reasons) != len(pending):
                raise _make(error, f"{action} failed: cancelled without a reason for each action", exc) from exc
            last = exc
        except BotoCoreError as exc:
            raise _make(error, describe(action, exc), exc) from exc
        codes = [str(r.get("Code") or "None") for r in reasons]
        unexpected = sorted({c for c in codes if c not in _TRANSIENT_REASONS and c not in ("None", REFUSED_BY_CONDITION)})
        if unexpected:
            raise _make(error, f"{action} failed: {CANCELLED} ({', '.join(unexpected)})", last) from last
        if reasons:
            refused.update((i, r) for i, r, c in zip(pending, reasons, codes, strict=True) if c == REFUSED_BY_CONDITION)
            transient = [i for i, c in zip(pending, codes, strict=True) if c in _TRANSIENT_REASONS]
        else:  # the call itself was throttled: all of it goes again
            transient = list(pending)
        if not transient and not any(i in refused for i in pending):
            raise _make(error, f"{action} failed: {CANCELLED} without a reason", last) from last  # never loop on it
        pending = [i for i in pending if i not in refused]
        if not transient:
            continue  # only refusals: the rest goes again at once, fewer each time
        attempt += 1
        if attempt < _BATCH_ATTEMPTS:
            sleep(min(0.05 * 2**attempt, 1.0))
            continue
        throttled = [c for c in codes if c != CONFLICT and c in _TRANSIENT_REASONS] or not reasons
        if throttled:
            raise _make(error, f"{action} failed: still throttled after {_BATCH_ATTEMPTS} attempts", last) from last
        # Still meeting other writers of these items: give them up, write the rest.
        refused.update((i, {"Code": CONFLICT}) for i in transient)
        pending = [i for i in pending if i not in refused]
    return refused
