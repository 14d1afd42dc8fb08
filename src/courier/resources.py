"""The names and retention figures of courier's AWS resources.

They belong to the product, not to any one place that creates them: the
Terraform defaults (``infra/terraform``), the local stack's provisioning and
the operator commands all use these, and ``tests/unit/test_terraform.py``
fails when the Terraform and this module drift apart.
"""

from __future__ import annotations

LANDING_BUCKET = "courier-landing"
ARCHIVE_BUCKET = "courier-archive"
QUEUE = "courier-queue"
DLQ = "courier-dlq"
IDEMPOTENCY_TABLE = "courier-idempotency"
BREAKER_TABLE = "courier-breaker"
SECRET_ID = "courier/nifi"
FUNCTION_NAME = "courier-aggregator"
FUNCTION_HANDLER = "courier.handler.lambda_handler"

# The breaker table's schema is Powertools' circuit breaker persistence default.
BREAKER_KEY = "id"
BREAKER_EXPIRY_ATTRIBUTE = "expiration"  # also the TTL of parked-message records

QUEUE_RETENTION_SECONDS = 4 * 86400  # NFR-04
DLQ_RETENTION_SECONDS = 14 * 86400  # outlives the source queue: a moved message keeps its age
MAX_RECEIVE_COUNT = 5
