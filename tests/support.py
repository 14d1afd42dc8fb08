"""Builders for the events AWS sends, shaped as the documentation shows them."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

QUEUE_ARN = "arn:aws:sqs:eu-west-2:123456789012:courier-queue"


def s3_record(
    bucket: str,
    key: str,
    *,
    version_id: str | None = None,
    etag: str | None = "d41d8cd98f00b204e9800998ecf8427e",
    size: int = 0,
    event_name: str = "ObjectCreated:Put",
    event_time: datetime | None = None,
    sequencer: str = "0055AED6DCD90281E5",
) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "size": size, "sequencer": sequencer}
    if etag is not None:
        obj["eTag"] = etag
    if version_id is not None:
        obj["versionId"] = version_id
    when = (event_time or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "eu-west-2",
        "eventTime": when,
        "eventName": event_name,
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "courier",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": obj,
        },
    }


def sqs_record(body: str | dict, message_id: str | None = None, receive_count: int = 1) -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "handle-" + uuid.uuid4().hex,
        "body": text,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1700000000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1700000000001",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(text.encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "eu-west-2",
    }


def notification(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


TEST_EVENT = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-25T10:00:00.000Z", "Bucket": "courier-landing"}
