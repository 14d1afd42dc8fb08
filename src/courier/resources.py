"""The names and retention figures of courier's AWS resources.

They belong to the product, not to any one place that creates them: the
Terraform defaults (``infra/terraform``), the local stack's provisioning and
the operator commands all use these, and ``tests/unit/test_terraform.py``
fails when the Terraform and this module drift apart.
"""

from __future__ import annotations

# The local stack's names start with NAME_PREFIX; on AWS each environment's start with
# courier-<environment> instead (courier-prod-queue, ...; infra/terraform/modules/pipeline),
# and operator commands take that prefix from COURIER_NAME.
NAME_PREFIX = "courier"
LANDING_BUCKET = "courier-landing"
ARCHIVE_BUCKET = "courier-archive"
QUEUE = "courier-queue"
DLQ = "courier-dlq"
IDEMPOTENCY_TABLE = "courier-idempotency"
BREAKER_TABLE = "courier-breaker"
SECRET_ID = "courier/nifi"
FUNCTION_NAME = "courier-aggregator"
FUNCTION_HANDLER = "courier.handler.lambda_handler"
# Blue/green of the aggregator (infra/terraform/modules/aggregator): the event source mapping invokes
# the LIVE_ALIAS, which CodeDeploy shifts between published versions; the CodeDeploy application is
# named as the function, its deployment group <function>-live. `courier deploy` uses these.
LIVE_ALIAS = "live"
DEPLOYMENT_GROUP_SUFFIX = "-live"
PACKAGE_PATH = "dist/courier-lambda.zip"  # what `make package` writes


def with_prefix(name: str, prefix: str) -> str:
    """One of the names above under an environment's prefix.

    >>> with_prefix(QUEUE, "courier-prod"), with_prefix(SECRET_ID, "courier-prod")
    ('courier-prod-queue', 'courier-prod/nifi')
    """
    return prefix + name.removeprefix(NAME_PREFIX)


# The breaker table's schema is Powertools' circuit breaker persistence default.
BREAKER_KEY = "id"
BREAKER_EXPIRY_ATTRIBUTE = "expiration"  # also the TTL of parked-message records

QUEUE_RETENTION_SECONDS = 4 * 86400  # NFR-04
SQS_MAX_RETENTION_SECONDS = 14 * 86400  # SQS keeps no message longer, whatever a queue is set to
DLQ_RETENTION_SECONDS = SQS_MAX_RETENTION_SECONDS  # outlives the source queue: a moved message keeps its age
# Receives before SQS moves a message to the DLQ. During an outage each receive parks the
# message for COURIER_PARK_SECONDS (11 h), so a message survives (MAX_RECEIVE_COUNT - 3) x 11 h
# of outage (three receives spare: batches failed before the breaker tripped, a release that met
# the outage again), more than the 96 h the queue keeps it: the retention, and the data-age alarm
# at 72 h before it, come first, never the DLQ. When DynamoDB itself is down the parks cannot be
# recorded or released early and back off from 5 minutes instead (adapters/parking.py); 20 receives
# keep that case past the retention too. The price: a poison message (normal visibility timeout,
# 6 x 120 s + 20 s = 740 s) reaches the DLQ after 20 x 740 s, about 4 h.
# tests/unit/test_terraform.py checks the relation against the Terraform and the settings.
MAX_RECEIVE_COUNT = 20

# The aggregator's deployment defaults: the Terraform variables' defaults (modules/aggregator, modules/pipeline),
# which the local stack runs with unless told otherwise (`courier local up` prints what differs).
# tests/unit/test_terraform.py fails when these and the Terraform drift apart. The ceilings (the largest file,
# COURIER_MAX_OBJECT_BYTES) are derived from the timeout and the memory by Settings, the same way in both places.
FUNCTION_TIMEOUT_SECONDS = 120
FUNCTION_MEMORY_MB = 512
BATCH_SIZE = 1000
BATCHING_WINDOW_SECONDS = 20
MAXIMUM_CONCURRENCY = 10
BREAKER_RECOVERY_SECONDS = 60
CONTROLLER_PERIOD_SECONDS = 60  # the controller's EventBridge schedule: once a minute


def visibility_timeout_seconds(
    function_timeout: int = FUNCTION_TIMEOUT_SECONDS, batching_window: int = BATCHING_WINDOW_SECONDS
) -> int:
    """The queue's visibility timeout as modules/queue derives it: 6 x the function's timeout + the batching window.

    >>> visibility_timeout_seconds()
    740
    """
    return 6 * function_timeout + batching_window


VISIBILITY_TIMEOUT_SECONDS = visibility_timeout_seconds()

# The landing bucket's lifecycle: nothing landed is deleted before it was delivered.
# The aggregator tags each delivered revision; delivered revisions expire a week after
# landing (NFR-03), undelivered ones only at a hard cap beyond the queue's and the
# DLQ's retention, so a message that still names a revision always finds it.
DELIVERED_TAG = "courier-delivered"
LANDING_EXPIRATION_DAYS = 7
LANDING_NONCURRENT_DAYS = 1  # a delivered revision overwritten by a newer upload
LANDING_UNDELIVERED_CAP_DAYS = 30
assert LANDING_UNDELIVERED_CAP_DAYS * 86400 > QUEUE_RETENTION_SECONDS + DLQ_RETENTION_SECONDS


def landing_lifecycle(
    expiration_days: int = LANDING_EXPIRATION_DAYS,
    noncurrent_days: int = LANDING_NONCURRENT_DAYS,
    cap_days: int = LANDING_UNDELIVERED_CAP_DAYS,
) -> dict:
    """The landing bucket's lifecycle configuration, in S3's API shape (the Terraform declares the same rules)."""
    return {
        "Rules": [
            {
                "ID": "expire-delivered",
                "Status": "Enabled",
                "Filter": {"Tag": {"Key": DELIVERED_TAG, "Value": "true"}},
                "Expiration": {"Days": expiration_days},
                "NoncurrentVersionExpiration": {"NoncurrentDays": noncurrent_days},
            },
            {
                "ID": "expire-undelivered-at-cap",
                "Status": "Enabled",
                "Filter": {"Prefix": ""},
                "Expiration": {"Days": cap_days},
                "NoncurrentVersionExpiration": {"NoncurrentDays": cap_days},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            },
        ]
    }


# What an upload may ask of the landing bucket: only what the aggregator can read back at once. A cold
# storage class (GLACIER, DEEP_ARCHIVE, ...) needs a restore, a customer-provided key (SSE-C) is the
# uploader's, an SSE-KMS key is one the aggregator may not use (the bucket has none of its own: it encrypts
# with SSE-S3). Refused at the PUT, these never reach the queue; the aggregator still fails such objects
# alone where a bucket is managed elsewhere. The Terraform (modules/landing_bucket) declares the same statements.
LANDING_STORAGE_CLASSES = ("STANDARD",)
LANDING_ENCRYPTION = ("AES256",)
LANDING_OBJECT_OWNERSHIP = "BucketOwnerEnforced"


def landing_put_guard(bucket_arn: str) -> list[dict]:
    """The landing bucket policy's statements that deny what courier cannot read, in IAM's JSON shape.

    A header left out is allowed (S3 then applies STANDARD and the bucket's default encryption): each
    statement denies only when its header is present (``Null`` false) and names something else.
    """

    def deny(sid: str, condition: dict) -> dict:
        return {
            "Sid": sid,
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/*",
            "Condition": condition,
        }

    return [
        deny(
            "PutOnlyStandardStorageClass",
            {
                "StringNotEquals": {"s3:x-amz-storage-class": list(LANDING_STORAGE_CLASSES)},
                "Null": {"s3:x-amz-storage-class": "false"},
            },
        ),
        deny("NoCustomerProvidedKeys", {"Null": {"s3:x-amz-server-side-encryption-customer-algorithm": "false"}}),
        deny(
            "OnlyTheBucketsEncryption",
            {
                "StringNotEquals": {"s3:x-amz-server-side-encryption": list(LANDING_ENCRYPTION)},
                "Null": {"s3:x-amz-server-side-encryption": "false"},
            },
        ),
    ]
