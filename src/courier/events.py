"""Parse an SQS batch of S3 event notifications into object references (pure).

The S3 -> SQS notification puts one S3 event (usually one record, possibly
several) in each SQS body. Keys arrive URL-encoded the way S3 encodes them:
``+`` for a space, ``%2B`` for a literal plus, percent-encoded UTF-8 otherwise,
so ``unquote_plus`` is the exact inverse.
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

    ``revision`` is ``v:<versionId>`` on versioned buckets; unversioned buckets
    fall back to ``e:<eTag>`` (identical content is the same file) and then to
    ``s:<sequencer>``.
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
        elif self.etag:
            revision = f"e:{self.etag}"
        elif self.sequencer:
            revision = f"s:{self.sequencer}"
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


def _parse_record(record: Any) -> ObjectRef | str:
    """An ObjectRef, or the event name when the record is not an ObjectCreated event."""
    event_name = record.event_name
    if not isinstance(event_name, str):
        raise MalformedEventError("eventName is not a string")
    if not event_name.startswith("ObjectCreated:"):
        return event_name
    obj = record.s3.get_object
    size = obj.get("size")
    return ObjectRef(
        bucket=record.s3.bucket.name,
        key=decode_key(obj.key),
        version_id=obj.version_id or None,
        etag=(obj.etag or "").strip('"') or None,
        sequencer=obj.get("sequencer"),
        size=int(size) if size is not None else None,
        event_time=parse_event_time(record.event_time),
        event_name=event_name,
    )


def parse_message(raw: Mapping[str, Any]) -> ParsedMessage:
    """Parse one SQS record. Never raises: a bad body becomes ``error``."""
    record = SQSRecord(dict(raw))
    message_id = str(raw.get("messageId", ""))
    try:
        receive_count = int(record.attributes.approximate_receive_count)
    except (KeyError, TypeError, ValueError):
        receive_count = 1
    try:
        body = json.loads(record.body)
        if not isinstance(body, dict):
            raise MalformedEventError("body is JSON but not an object")
        if body.get("Event") == "s3:TestEvent":
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
    except MalformedEventError as exc:
        return ParsedMessage(message_id, error=exc, receive_count=receive_count)
    except (KeyError, TypeError, ValueError, AttributeError, UnicodeDecodeError) as exc:
        # json.JSONDecodeError is a ValueError; missing fields surface as KeyError.
        error = MalformedEventError(f"not an S3 event notification ({type(exc).__name__}: {exc})")
        return ParsedMessage(message_id, error=error, receive_count=receive_count)
    if not objects:
        return ParsedMessage(message_id, ignored=",".join(sorted(set(skipped))), receive_count=receive_count)
    return ParsedMessage(message_id, objects=tuple(objects), receive_count=receive_count)


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
