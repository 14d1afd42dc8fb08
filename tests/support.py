"""Builders for the events AWS sends, shaped as the documentation shows them, and a deployed function to read."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
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
    # The sample of "Event message structure" in the S3 user guide, field for field.
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "eu-west-2",
        "eventTime": when,
        "eventName": event_name,
        "userIdentity": {"principalId": "AIDAJDPLRKLG7UEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "172.16.0.1"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "courier",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"}, "arn": f"arn:aws:s3:::{bucket}"},
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
        # SQS's own checksum. SQS never delivers a lone surrogate, but the trust-boundary tests hand the product any str:
        # 'surrogatepass' lets this helper build such a record instead of crashing before the product sees it.
        "md5OfBody": hashlib.md5(text.encode("utf-8", "surrogatepass")).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "eu-west-2",
    }


class LambdaContext:
    """The Lambda context object as the handler reads it (Powertools' logger, the time left)."""

    function_name = "courier-aggregator"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:courier-aggregator"
    aws_request_id = "req-1"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def notification(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


TEST_EVENT = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-25T10:00:00.000Z", "Bucket": "courier-landing"}


TOPIC_ARN = "arn:aws:sns:eu-west-2:123456789012:courier-landing-events"


def sns_notification(message: str | dict[str, Any], *, message_id: str | None = None) -> dict[str, Any]:
    """What SNS puts in an SQS body with raw message delivery off (SNS developer guide, "Fanout to Amazon SQS queues")."""
    return {
        "Type": "Notification",
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": TOPIC_ARN,
        "Subject": "Amazon S3 Notification",
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": "2026-11-25T10:00:00.901Z",
        "SignatureVersion": "1",
        "Signature": (
            "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5"
            "uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q="
        ),
        "SigningCertURL": "https://sns.eu-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
        "UnsubscribeURL": (
            "https://sns.eu-west-2.amazonaws.com/?Action=Unsubscribe"
            f"&SubscriptionArn={TOPIC_ARN}:c9135db0-26c4-47ec-8998-413945fb5a96"
        ),
    }


def eventbridge_object_created(
    bucket: str,
    key: str,
    *,
    version_id: str | None = None,
    etag: str | None = "d41d8cd98f00b204e9800998ecf8427e",
    size: int = 0,
    sequencer: str = "0055AED6DCD90281E5",
    reason: str = "PutObject",
    detail_type: str = "Object Created",
    event_time: datetime | None = None,
) -> dict[str, Any]:
    """The "Object Created" sample of the S3 user guide's EventBridge event message structure; the key is not encoded."""
    obj: dict[str, Any] = {"key": key, "size": size, "sequencer": sequencer}
    if etag is not None:
        obj["etag"] = etag
    if version_id is not None:
        obj["version-id"] = version_id
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": "123456789012",
        "time": (event_time or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "eu-west-2",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": obj,
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "1.2.3.4",
            "reason": reason,
        },
    }


LAMBDA_TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},'
    '"Action":"sts:AssumeRole"}]}'
)


def deploy_function(aws: Any, name: str, environment: dict[str, str]) -> None:
    """An aggregator deployed through the real Lambda API (emulated): what ``--function`` reads its settings from."""
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("courier/handler.py", "def lambda_handler(event, context):\n    return {}\n")
    role = aws.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    aws.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="courier.handler.lambda_handler",
        Code={"ZipFile": package.getvalue()},
        Timeout=120,
        Environment={"Variables": environment},
    )


def admin_token(nifi: Any) -> str:
    """A receiver's admin token, read as the CLI reads it: from the 0600 file in its state directory."""
    from courier.stackfile import ADMIN_TOKEN_FILE, read_admin_token

    return read_admin_token(nifi.state.state_dir / ADMIN_TOKEN_FILE)
