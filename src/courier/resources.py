"""The names and retention figures of courier's AWS resources.

They belong to the product, not to any one place that creates them: the
Terraform defaults (``infra/terraform``), the local stack's provisioning and
the operator commands all use these, and ``tests/unit/test_terraform.py``
fails when the Terraform and this module drift apart.
"""

from __future__ import annotations

from typing import Any

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
# Receives before SQS moves a message to the DLQ: enough that parks of COURIER_PARK_SECONDS outlast the
# queue's retention, so no outage sends a message to the DLQ (why 20: ARCHITECTURE.md, "Why the rules
# are what they are"). tests/unit/test_terraform.py checks the relation against the Terraform and the settings.
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
SWEEP_PERIOD_SECONDS = 3600  # the same function's sweep schedule (courier.sweep): hourly


def visibility_timeout_seconds(
    function_timeout: int = FUNCTION_TIMEOUT_SECONDS, batching_window: int = BATCHING_WINDOW_SECONDS
) -> int:
    """The queue's visibility timeout as modules/queue derives it: 6 x the function's timeout + the batching window.

    >>> visibility_timeout_seconds()
    740
    """
    return 6 * function_timeout + batching_window


VISIBILITY_TIMEOUT_SECONDS = visibility_timeout_seconds()

# The landing bucket's lifecycle: nothing landed is deleted before it was delivered, and no
# file costs a write for it. The bucket is versioned and the aggregator reads the version its
# event names, so the week's expiration of the current version (NFR-03) only hides it behind a
# delete marker; the data goes once the version has been noncurrent LANDING_NONCURRENT_DAYS,
# beyond a message's whole life even with the queue's retention raised to SQS's maximum (the
# runbook's emergency raise) and then the DLQ's: a message that still names a revision always
# finds it, delivered or not, whether the week or a newer upload (at once, maybe) made it
# noncurrent. S3's expirations are free; the per-file tag this replaced was a PUT-priced write
# (issue 23). The price is storage: delivered files' data stays 7 + 29 days instead of 8.
DELIVERED_TAG = "courier-delivered"  # the archive's delivered bundles (and landed revisions of earlier releases)
LANDING_EXPIRATION_DAYS = 7
LANDING_NONCURRENT_DAYS = 29
assert LANDING_NONCURRENT_DAYS * 86400 > SQS_MAX_RETENTION_SECONDS + DLQ_RETENTION_SECONDS


def landing_lifecycle(
    expiration_days: int = LANDING_EXPIRATION_DAYS,
    noncurrent_days: int = LANDING_NONCURRENT_DAYS,
) -> dict[str, Any]:
    """The landing bucket's lifecycle configuration, in S3's API shape (the Terraform declares the same rules)."""
    return {
        "Rules": [
            {
                # One rule: S3 refuses ExpiredObjectDeleteMarker beside Days in a rule; a rule expiring current
                # versions by Days has S3 remove a delete marker once its last version is gone.
                "ID": "hide-after-a-week-delete-when-no-message-can-name-it",
                "Status": "Enabled",
                "Filter": {"Prefix": ""},
                "Expiration": {"Days": expiration_days},
                "NoncurrentVersionExpiration": {"NoncurrentDays": noncurrent_days},
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


def landing_put_guard(bucket_arn: str) -> list[dict[str, Any]]:
    """The landing bucket policy's statements that deny what courier cannot read, in IAM's JSON shape.

    A header left out is allowed (S3 then applies STANDARD and the bucket's default encryption): each
    statement denies only when its header is present (``Null`` false) and names something else.
    """

    def deny(sid: str, condition: dict[str, Any]) -> dict[str, Any]:
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
