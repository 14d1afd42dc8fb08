"""``courier status``: the numbers an operator looks at first, from AWS or the local stack.

Queue and DLQ depth, the age of the oldest message (data about to expire),
the event source mapping's state, the breaker state, bundles archived, files
delivered and end-to-end latency. Locally the last three come from the NiFi
receiver (it measures acknowledgement time minus S3 event time per file); in
AWS from the CloudWatch metrics the handler emits.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from courier.observability import NAMESPACE, SERVICE
from courier.resources import ARCHIVE_BUCKET, BREAKER_TABLE, DLQ, FUNCTION_NAME, QUEUE, QUEUE_RETENTION_SECONDS

_QUEUE_ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]


def queue_numbers(sqs: Any, queue_url: str) -> dict[str, int]:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=_QUEUE_ATTRIBUTES)["Attributes"]
    return {"visible": int(attributes[_QUEUE_ATTRIBUTES[0]]), "in_flight": int(attributes[_QUEUE_ATTRIBUTES[1]])}


def mapping_state(lam: Any, mapping_uuid: str | None) -> tuple[bool | None, str | None]:
    if mapping_uuid:
        mapping = lam.get_event_source_mapping(UUID=mapping_uuid)
    else:
        found = lam.list_event_source_mappings(FunctionName=FUNCTION_NAME).get("EventSourceMappings", [])
        if not found:
            return None, None
        mapping = found[0]
    return mapping.get("State") in ("Enabled", "Enabling", "Updating"), str(mapping.get("UUID"))


def breaker_state(dynamodb: Any, table: str = BREAKER_TABLE) -> str:
    """The state of every circuit in the breaker table; 'CLOSED' when none was ever written."""
    items = dynamodb.scan(TableName=table, ProjectionExpression="#s", ExpressionAttributeNames={"#s": "state"}).get("Items", [])
    states = {item["state"]["S"] for item in items if "state" in item}
    for worst in ("OPEN", "HALF_OPEN"):
        if worst in states:
            return worst
    return "CLOSED"


def oldest_message_age_seconds(cloudwatch: Any | None, queue: str) -> float | None:
    if cloudwatch is None:
        return None
    now = datetime.now(UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/SQS",
        MetricName="ApproximateAgeOfOldestMessage",
        Dimensions=[{"Name": "QueueName", "Value": queue}],
        StartTime=now - timedelta(minutes=10),
        EndTime=now,
        Period=60,
        Statistics=["Maximum"],
    ).get("Datapoints", [])
    return max((p["Maximum"] for p in points), default=None)


def receiver_stats(admin_url: str, ca_bundle: str) -> dict[str, Any]:
    context = ssl.create_default_context(cafile=ca_bundle)
    with urllib.request.urlopen(f"{admin_url}/admin/stats", context=context, timeout=5) as response:  # noqa: S310
        return json.load(response)


def cloudwatch_delivery(cloudwatch: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    window = {"StartTime": now - timedelta(hours=1), "EndTime": now, "Period": 3600}
    dims = [{"Name": "service", "Value": SERVICE}]

    def total(metric: str) -> int:
        points = cloudwatch.get_metric_statistics(
            Namespace=NAMESPACE, MetricName=metric, Dimensions=dims, Statistics=["Sum"], **window
        ).get("Datapoints", [])
        return int(sum(p["Sum"] for p in points))

    latency = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE, MetricName="DeliveryLatency", Dimensions=dims, ExtendedStatistics=["p50", "p95", "p99"], **window
    ).get("Datapoints", [])
    percentiles = latency[0].get("ExtendedStatistics", {}) if latency else {}
    return {
        "bundles_archived": total("BundlesArchived"),
        "files_delivered": total("FilesDelivered"),
        "latency_seconds": {"p50": percentiles.get("p50"), "p95": percentiles.get("p95"), "p99": percentiles.get("p99")},
        "window": "last hour",
    }


def gather(session: Any, stack_info: dict[str, Any] | None) -> dict[str, Any]:
    """One JSON-able snapshot. ``stack_info`` is the local stack's stack.json, or None for AWS."""
    sqs = session.client("sqs")
    resources = (stack_info or {}).get("resources", {})
    queue_url = resources.get("queue_url") or sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    dlq_url = resources.get("dlq_url") or sqs.get_queue_url(QueueName=DLQ)["QueueUrl"]
    main, dead = queue_numbers(sqs, queue_url), queue_numbers(sqs, dlq_url)
    enabled, mapping_uuid = mapping_state(session.client("lambda"), (stack_info or {}).get("mapping_uuid"))
    status: dict[str, Any] = {
        "queue_depth": main["visible"],
        "in_flight": main["in_flight"],
        "dlq_depth": dead["visible"] + dead["in_flight"],
        "esm_enabled": enabled,
        "esm_uuid": mapping_uuid,
        "breaker_state": breaker_state(session.client("dynamodb"), resources.get("breaker_table", BREAKER_TABLE)),
        "queue_retention_seconds": QUEUE_RETENTION_SECONDS,
    }
    if stack_info:
        s3 = session.client("s3")
        paginator = s3.get_paginator("list_objects_v2")
        bucket = resources.get("archive_bucket", ARCHIVE_BUCKET)
        stats = receiver_stats(stack_info["admin_url"], stack_info["ca_bundle"])
        status.update(
            bundles_archived=sum(page.get("KeyCount", 0) for page in paginator.paginate(Bucket=bucket, Prefix="bundles/")),
            files_delivered=stats["distinct_files"],
            duplicate_deliveries=stats["duplicate_deliveries"],
            latency_seconds=stats["latency_seconds"],
            receiver_mode=stats["mode"],
            oldest_message_age_seconds=None,
        )
    else:
        cloudwatch = session.client("cloudwatch")
        status.update(cloudwatch_delivery(cloudwatch))
        status["oldest_message_age_seconds"] = oldest_message_age_seconds(cloudwatch, QUEUE)
    return status
