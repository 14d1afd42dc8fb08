"""Create every emulated AWS resource courier needs, the way the Terraform does.

One function, :func:`provision`, so the local stack and the tests create the
same resources; their names and retention figures come from
:mod:`courier.resources`, which the Terraform drift test also reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from courier.ledger.base import EXPIRY_ATTRIBUTE, PARTITION_KEY, SORT_KEY
from courier.resources import (
    ARCHIVE_BUCKET,
    BREAKER_EXPIRY_ATTRIBUTE,
    BREAKER_KEY,
    BREAKER_TABLE,
    DLQ,
    DLQ_RETENTION_SECONDS,
    IDEMPOTENCY_TABLE,
    LANDING_BUCKET,
    LANDING_OBJECT_OWNERSHIP,
    MAX_RECEIVE_COUNT,
    QUEUE,
    QUEUE_RETENTION_SECONDS,
    SECRET_ID,
    landing_lifecycle,
    landing_put_guard,
)


@dataclass(frozen=True)
class Stack:
    landing_bucket: str
    archive_bucket: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    idempotency_table: str
    breaker_table: str
    secret_id: str


def provision(session: Any, credentials: dict[str, str], visibility_timeout: int = 60) -> Stack:
    """Create buckets, queues, tables, secret and the S3 -> SQS notification. Idempotent."""
    s3 = session.client("s3")
    sqs = session.client("sqs")
    dynamodb = session.client("dynamodb")
    secrets = session.client("secretsmanager")

    for bucket in (LANDING_BUCKET, ARCHIVE_BUCKET):
        _create_bucket(s3, bucket, session.region_name)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
        )

    dlq_url = _create_queue(sqs, DLQ, {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS), "SqsManagedSseEnabled": "true"})
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = _create_queue(
        sqs,
        QUEUE,
        {
            "MessageRetentionPeriod": str(QUEUE_RETENTION_SECONDS),
            "VisibilityTimeout": str(visibility_timeout),
            "SqsManagedSseEnabled": "true",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        },
    )
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    s3.put_bucket_lifecycle_configuration(Bucket=LANDING_BUCKET, LifecycleConfiguration=landing_lifecycle())
    s3.put_bucket_ownership_controls(
        Bucket=LANDING_BUCKET, OwnershipControls={"Rules": [{"ObjectOwnership": LANDING_OBJECT_OWNERSHIP}]}
    )
    landing_policy = {"Version": "2012-10-17", "Statement": landing_put_guard(f"arn:aws:s3:::{LANDING_BUCKET}")}
    if emulator_evaluates_put_guard(landing_policy):
        s3.put_bucket_policy(Bucket=LANDING_BUCKET, Policy=json.dumps(landing_policy))
    s3.put_bucket_notification_configuration(
        Bucket=LANDING_BUCKET,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]},
    )

    _create_table(
        dynamodb,
        IDEMPOTENCY_TABLE,
        keys=[(PARTITION_KEY, "HASH"), (SORT_KEY, "RANGE")],
        ttl_attribute=EXPIRY_ATTRIBUTE,
    )
    _create_table(dynamodb, BREAKER_TABLE, keys=[(BREAKER_KEY, "HASH")], ttl_attribute=BREAKER_EXPIRY_ATTRIBUTE)

    secret = json.dumps(credentials)
    try:
        secrets.create_secret(Name=SECRET_ID, SecretString=secret)
    except secrets.exceptions.ResourceExistsException:
        secrets.put_secret_value(SecretId=SECRET_ID, SecretString=secret)

    return Stack(
        landing_bucket=LANDING_BUCKET,
        archive_bucket=ARCHIVE_BUCKET,
        queue_url=queue_url,
        queue_arn=queue_arn,
        dlq_url=dlq_url,
        dlq_arn=dlq_arn,
        idempotency_table=IDEMPOTENCY_TABLE,
        breaker_table=BREAKER_TABLE,
        secret_id=SECRET_ID,
    )


def emulator_evaluates_put_guard(policy: dict[str, Any]) -> bool:
    """Whether a plain upload (no storage class, no encryption header) passes ``policy`` in the local emulator.

    Plain moto knows only StringEquals and takes any other condition as met, so the landing policy's
    Deny statements (Null, StringNotEquals) would refuse every upload; the local emulator evaluates
    bucket policies as AWS does (courier.local.aws_fidelity). Where a plain upload would still be
    refused, the policy is left out and the aggregator's own refusal of an unreadable object is what
    stands (docs/local-stack.md, "Honest limits of the local stack").
    """
    from courier.local.aws_fidelity import bucket_policy_permission, request_context

    plain = bucket_policy_permission(
        json.dumps(policy), "s3:PutObject", f"arn:aws:s3:::{LANDING_BUCKET}/k", request_context(None, None)
    )
    return plain != "DENIED"


def _create_queue(sqs: Any, name: str, attributes: dict[str, str]) -> str:
    try:
        return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
    except sqs.exceptions.QueueNameExists:  # exists with other settings: bring it in line
        url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        return url


def _create_bucket(s3: Any, bucket: str, region: str | None) -> None:
    args: dict[str, Any] = {"Bucket": bucket}
    if region and region != "us-east-1":
        args["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**args)
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass


def _create_table(dynamodb: Any, name: str, keys: list[tuple[str, str]], ttl_attribute: str | None = None) -> None:
    try:
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in keys],
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k, _ in keys],
            BillingMode="PAY_PER_REQUEST",
            SSESpecification={"Enabled": True},
        )
    except dynamodb.exceptions.ResourceInUseException:
        return
    if ttl_attribute:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute})
