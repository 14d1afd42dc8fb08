"""Parse an SQS batch of S3 event notifications into object references (pure).

S3 announces a new object on the queue in one of three envelopes, detected per message:

* the plain S3 notification (bucket notification straight to SQS, or through SNS with raw
  message delivery on): one S3 event, usually one record, possibly several. Keys arrive
  URL-encoded the way S3 encodes them: ``+`` for a space, ``%2B`` for a literal plus,
  percent-encoded UTF-8 otherwise, so ``unquote_plus`` is the exact inverse;
* an SNS ``Notification`` (raw message delivery off) whose ``Message`` is the plain
  notification as a JSON string (a wrapped ``s3:TestEvent`` included);
* an EventBridge ``Object Created`` event, one object in ``detail``, its key *not* encoded.

All three become the same ``ObjectRef`` with the same ``ObjectIdentity`` for the same
revision, so a file announced through two paths is claimed, and delivered, once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event, SQSRecord

from courier.errors import MalformedEventError


@dataclass(frozen=True, order=True)
class ObjectIdentity:
    """What makes a landed file unique: its bucket, key and revision.

    ``revision`` is ``v:<versionId>`` on versioned buckets. On an unversioned bucket (or
    one with versioning Suspended, whose events say ``versionId: "null"``) it is
    ``s:<sequencer>``: S3 gives each write to a key its own sequencer, so a re-upload
    of earlier content (A, B, A) is a new revision, where the eTag would name the first
    upload again. ``e:<eTag>`` is left for a record with neither (hand-written events),
    and is how ledger records written before sequencers counted read (docs/operations.md).
    """

    bucket: str
    key: str
    revision: str

    @property
    def object_name(self) -> str:
        """``bucket/key``: the ledger's partition key, so replay can find a key's revisions."""
        return f"{self.bucket}/{self.key}"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key} ({self.revision})"


@dataclass(frozen=True)
class ObjectRef:
    """One ``ObjectCreated`` record: the object to fetch and what the event said of it."""

    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    sequencer: str | None
    size: int | None
    event_time: datetime
    event_name: str

    @property
    def identity(self) -> ObjectIdentity:
        if self.version_id:
            revision = f"v:{self.version_id}"
        elif self.sequencer:
            revision = f"s:{self.sequencer}"
        elif self.etag:
            revision = f"e:{self.etag}"
        else:
            raise MalformedEventError(f"record for s3://{self.bucket}/{self.key} has no versionId, eTag or sequencer")
        return ObjectIdentity(self.bucket, self.key, revision)


@dataclass(frozen=True)
class ParsedMessage:
    """One SQS message: the objects it announces, or why it announces none."""

    message_id: str
    objects: tuple[ObjectRef, ...] = ()
    ignored: str | None = None  # e.g. "s3:TestEvent" or the skipped event name
    receive_count: int = 1
    error: MalformedEventError | None = field(default=None, compare=False)


def decode_key(raw: str) -> str:
    """Decode an S3 notification key (``+`` is a space, ``%2B`` a plus)."""
    return unquote_plus(raw, encoding="utf-8", errors="strict")


def parse_event_time(raw: str) -> datetime:
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# Bounds a notification's fields must stay within to be trusted (S3's own limits, with room).
MAX_OBJECT_BYTES = 50 * 1024**4  # S3's largest object is 50 TB
MAX_KEY_BYTES = 1024  # S3's key limit, in UTF-8
_EARLIEST = datetime(2006, 3, 14, tzinfo=UTC)  # S3's launch: no object landed before it
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _text(value: Any, field_name: str, max_bytes: int = MAX_KEY_BYTES) -> str:
    """A field that must be a non-empty string of valid UTF-8 (no lone surrogates) within ``max_bytes``."""
    if not isinstance(value, str) or not value:
        raise MalformedEventError(f"{field_name} is not a non-empty string")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise MalformedEventError(f"{field_name} is not valid UTF-8") from None
    if size > max_bytes:
        raise MalformedEventError(f"{field_name} is longer than {max_bytes} bytes")
    return value


def _optional_text(value: Any, field_name: str) -> str | None:
    return None if value is None or value == "" else _text(value, field_name)


def _size(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or not 0 <= value <= MAX_OBJECT_BYTES:
        raise MalformedEventError("size is not a non-negative number of bytes within S3's limits")
    if isinstance(value, float) and not value.is_integer():
        raise MalformedEventError("size is not a whole number of bytes")
    return int(value)


def _event_time(value: Any, field_name: str = "eventTime") -> datetime:
    if not isinstance(value, str):
        raise MalformedEventError(f"{field_name} is not a string")
    try:
        parsed = parse_event_time(value)
    except (ValueError, OverflowError):
        raise MalformedEventError(f"{field_name} is not an ISO 8601 time") from None
    if not _EARLIEST <= parsed <= _LATEST:
        raise MalformedEventError(f"{field_name} is out of range")
    return parsed


def _version_id(value: Any, field_name: str) -> str | None:
    """A version id; ``"null"`` (versioning Suspended: the key's one null version, overwritten in place) is none."""
    version_id = _optional_text(value, field_name)
    return None if version_id == "null" else version_id


def _sequencer(value: Any, field_name: str) -> str | None:
    """S3's sequencer, upper-cased: it orders the writes to one key (hex, compared after right-padding with zeros)."""
    sequencer = _optional_text(value, field_name)
    return sequencer.upper() if sequencer is not None else None


def _etag(value: Any, field_name: str) -> str | None:
    return _optional_text(value.strip('"') if isinstance(value, str) else value, field_name)


def _parse_record(record: Any) -> ObjectRef | str:
    """An ObjectRef, or the event name when the record is not an ObjectCreated event."""
    if not isinstance(record.raw_event, dict):
        raise MalformedEventError("a record is not an object")
    event_name = record.event_name
    if not isinstance(event_name, str):
        raise MalformedEventError("eventName is not a string")
    if not event_name.startswith("ObjectCreated:"):
        return event_name
    obj = record.s3.get_object
    return ObjectRef(
        bucket=_text(record.s3.bucket.name, "bucket name"),
        key=_text(decode_key(_text(obj.key, "key", max_bytes=3 * MAX_KEY_BYTES)), "key"),
        version_id=_version_id(obj.version_id, "versionId"),
        etag=_etag(obj.etag, "eTag"),
        sequencer=_sequencer(obj.get("sequencer"), "sequencer"),
        size=_size(obj.get("size")),
        event_time=_event_time(record.event_time),
        event_name=event_name,
    )


def parse_message(raw: Mapping[str, Any]) -> ParsedMessage:
    """Parse one SQS record: the trust boundary. Never raises.

    Whatever the body holds, the result is either object references whose
    fields are valid (keys valid UTF-8 within S3's limits, sizes finite
    non-negative integers, times in range) or an ``error`` for this message
    alone, with a reason.
    """
    message_id = str(raw.get("messageId", "")) if isinstance(raw, Mapping) else ""
    try:
        record = SQSRecord(dict(raw))
        receive_count = _receive_count(record)
        return _parse_body(message_id, record.body, receive_count)
    except MalformedEventError as exc:
        return ParsedMessage(message_id, error=exc)
    except Exception as exc:  # noqa: BLE001 - the trust boundary: nothing a body holds may escape
        # json.JSONDecodeError is a ValueError; missing fields surface as KeyError; a body nested
        # 100k deep raises RecursionError, a size of 1e400 OverflowError.
        return ParsedMessage(message_id, error=MalformedEventError(f"not an S3 event notification ({type(exc).__name__})"))


def _receive_count(record: SQSRecord) -> int:
    try:
        return int(record.attributes.approximate_receive_count)
    except (KeyError, TypeError, ValueError, AttributeError):
        return 1


def _json_object(text: Any, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, TypeError, RecursionError) as exc:
        raise MalformedEventError(f"{what} is not JSON ({type(exc).__name__})") from None
    if not isinstance(value, dict):
        raise MalformedEventError(f"{what} is JSON but not an object")
    return value


def _parse_body(message_id: str, text: Any, receive_count: int) -> ParsedMessage:
    body = _json_object(text, "body")
    if body.get("Type") == "Notification" and "Message" in body:
        if not isinstance(body["Message"], str):
            raise MalformedEventError("SNS Message is not a string")
        # Only one level: an S3 notification is never wrapped twice, and recursing would let a body nest at will.
        return _parse_s3_notification(message_id, _json_object(body["Message"], "SNS Message"), receive_count)
    if body.get("source") == "aws.s3" and "detail-type" in body:
        return _parse_eventbridge(message_id, body, receive_count)
    return _parse_s3_notification(message_id, body, receive_count)


def _parse_s3_notification(message_id: str, body: dict[str, Any], receive_count: int) -> ParsedMessage:
    if body.get("Event") == "s3:TestEvent" and "Records" not in body:
        return ParsedMessage(message_id, ignored="s3:TestEvent", receive_count=receive_count)
    if not isinstance(body.get("Records"), list) or not body["Records"]:
        raise MalformedEventError("body has no S3 'Records' list")
    objects: list[ObjectRef] = []
    skipped: list[str] = []
    for item in S3Event(body).records:
        parsed = _parse_record(item)
        if isinstance(parsed, str):
            skipped.append(parsed)
        else:
            parsed.identity  # noqa: B018 - validates that the object is identifiable
            objects.append(parsed)
    if not objects:
        return ParsedMessage(message_id, ignored=",".join(sorted(set(skipped))), receive_count=receive_count)
    return ParsedMessage(message_id, objects=tuple(objects), receive_count=receive_count)


# EventBridge names the API call (``reason``); the S3 notification names the event. Mapping one onto the
# other keeps ``event_name`` meaning the same whichever path announced the object.
_EVENTBRIDGE_REASONS = {
    "PutObject": "ObjectCreated:Put",
    "POST Object": "ObjectCreated:Post",
    "CopyObject": "ObjectCreated:Copy",
    "CompleteMultipartUpload": "ObjectCreated:CompleteMultipartUpload",
}


def _parse_eventbridge(message_id: str, body: dict[str, Any], receive_count: int) -> ParsedMessage:
    detail_type = _text(body["detail-type"], "detail-type")
    if detail_type != "Object Created":
        return ParsedMessage(message_id, ignored=detail_type, receive_count=receive_count)
    detail = body.get("detail")
    if not isinstance(detail, dict) or not isinstance(detail.get("bucket"), dict) or not isinstance(detail.get("object"), dict):
        raise MalformedEventError("EventBridge detail has no bucket and object")
    obj = detail["object"]
    reason = _optional_text(detail.get("reason"), "reason")
    ref = ObjectRef(
        bucket=_text(detail["bucket"].get("name"), "bucket name"),
        key=_text(obj.get("key"), "key"),  # EventBridge sends the key as it is, not URL-encoded
        version_id=_version_id(obj.get("version-id"), "version-id"),
        etag=_etag(obj.get("etag"), "etag"),
        sequencer=_sequencer(obj.get("sequencer"), "sequencer"),
        size=_size(obj.get("size")),
        event_time=_event_time(body.get("time"), "time"),
        event_name=_EVENTBRIDGE_REASONS.get(reason or "", f"ObjectCreated:{reason or 'Unknown'}"),
    )
    ref.identity  # noqa: B018 - validates that the object is identifiable
    return ParsedMessage(message_id, objects=(ref,), receive_count=receive_count)


def lambda_sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """Turn an SQS ReceiveMessage entry into the record Lambda passes to the handler."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType"),
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def parse_batch(records: Iterable[Mapping[str, Any]]) -> list[ParsedMessage]:
    return [parse_message(r) for r in records]
