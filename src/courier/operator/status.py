"""``courier status``: the numbers an operator looks at first, from AWS or the local stack.

Queue and DLQ depth, the age of the oldest message (data about to expire),
the event source mapping's state, the breaker state, bundles archived, files
delivered and end-to-end latency. Locally the last three come from the NiFi
receiver (it measures acknowledgement time minus S3 event time per file); in
AWS from the CloudWatch metrics the handler emits. The queue's retention is
read from the queue itself. Figures only AWS has are named in ``aws_only``
(locally they are null): SQS's age of the oldest message is a CloudWatch
metric the emulator does not publish, and reading messages to compute it would
add to their receive counts; the sweep's ``VersionsSwept`` (the landing versions
it deleted in the last 2 hours) is read from CloudWatch too. Every figure is read through a port
(``courier.ports``), so failures arrive as courier errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from courier.observability import NAMESPACE, SERVICE
from courier.ports import ArchiveReader, BreakerState, BreakerTable, EventSourceMapping, Metrics, Queue, ReceiverAdmin
from courier.resources import QUEUE


@dataclass(frozen=True)
class LocalSources:
    """A local stack's own records: the archive bucket to count bundles in, and the NiFi receiver's counts."""

    archive_reader: ArchiveReader
    receiver_admin: ReceiverAdmin


@dataclass(frozen=True)
class StatusSources:
    """Where each figure of `courier status` comes from.

    ``mapping`` is None when the function has no event source mapping. A local
    stack gives ``local`` (deliveries and latency as its receiver measured them);
    AWS gives ``metrics`` (the same from the CloudWatch metrics the handler emits).
    """

    queue: Queue
    dlq: Queue
    breaker_table: BreakerTable
    mapping: EventSourceMapping | None = None
    mapping_uuid: str | None = None
    local: LocalSources | None = None
    metrics: Metrics | None = None
    queue_name: str = QUEUE  # the CloudWatch dimension of the queue's age (courier-<env>-queue on AWS)
    service: str = SERVICE  # the metrics' `service` dimension: the environment's name on AWS (courier-<env>)


def breaker_state(breaker_table: BreakerTable) -> BreakerState:
    """The worst state of any circuit in the breaker table; CLOSED when none was ever written."""
    states = breaker_table.states()
    for worst in (BreakerState.OPEN, BreakerState.HALF_OPEN):
        if worst in states:
            return worst
    return BreakerState.CLOSED


def oldest_message_age_seconds(metrics: Metrics, queue: str) -> float | None:
    now = datetime.now(UTC)
    since = now - timedelta(minutes=10)
    dims = {"QueueName": queue}
    points = metrics.datapoints("AWS/SQS", "ApproximateAgeOfOldestMessage", dims, since, now, 60, statistics=["Maximum"])
    return max((p["Maximum"] for p in points), default=None)


def cloudwatch_delivery(metrics: Metrics, service: str = SERVICE) -> dict[str, Any]:
    now = datetime.now(UTC)
    since = now - timedelta(hours=1)
    dims = {"service": service}

    def total(metric: str) -> int:
        return int(sum(p["Sum"] for p in metrics.datapoints(NAMESPACE, metric, dims, since, now, 3600, statistics=["Sum"])))

    latency = metrics.datapoints(NAMESPACE, "DeliveryLatency", dims, since, now, 3600, extended_statistics=["p50", "p95", "p99"])
    percentiles = latency[0].get("ExtendedStatistics", {}) if latency else {}
    # The sweep runs hourly: two hours always hold at least one run, whatever the periods' alignment.
    swept = metrics.datapoints(NAMESPACE, "VersionsSwept", dims, now - timedelta(hours=2), now, 7200, statistics=["Sum"])
    return {
        "bundles_archived": total("BundlesArchived"),
        "files_delivered": total("FilesDelivered"),
        "latency_seconds": {"p50": percentiles.get("p50"), "p95": percentiles.get("p95"), "p99": percentiles.get("p99")},
        "window": "last hour",
        "versions_swept_last_2h": int(sum(p["Sum"] for p in swept)),
    }


# Null locally: see the module's docstring (the local stack's sweep publishes no CloudWatch metric either).
AWS_ONLY = ("oldest_message_age_seconds", "versions_swept_last_2h")


def local_delivery(local: LocalSources) -> dict[str, Any]:
    stats = local.receiver_admin.stats()
    return {
        "bundles_archived": local.archive_reader.count("bundles/"),
        "files_delivered": stats["distinct_files"],
        "duplicate_deliveries": stats["duplicate_deliveries"],
        # The guarantee to watch during an ack-lost drill: copies of a bundle, never a file in two bundles.
        "distinct_bundles": stats["distinct_bundles"],
        "files_in_several_bundles": stats["files_in_several_bundles"],
        "latency_seconds": stats["latency_seconds"],
        "receiver_mode": stats["mode"],
        "oldest_message_age_seconds": None,
        "versions_swept_last_2h": None,
        "aws_only": list(AWS_ONLY),
    }


def gather(sources: StatusSources) -> dict[str, Any]:
    """One JSON-able snapshot of the pipeline."""
    visible, in_flight = sources.queue.depth()
    status: dict[str, Any] = {
        "queue_depth": visible,
        "in_flight": in_flight,
        "dlq_depth": sum(sources.dlq.depth()),
        "esm_enabled": sources.mapping.enabled() if sources.mapping is not None else None,
        "esm_uuid": sources.mapping_uuid,
        "breaker_state": breaker_state(sources.breaker_table),
        "queue_retention_seconds": sources.queue.retention_seconds(),
    }
    # Which dependency the pause is about: NiFi, or an AWS service that failed whole batches.
    status["paused_dependency"] = sources.breaker_table.dependency() if status["breaker_state"] != BreakerState.CLOSED else None
    if sources.local is not None:
        status.update(local_delivery(sources.local))
    elif sources.metrics is not None:
        status.update(cloudwatch_delivery(sources.metrics, sources.service))
        status["oldest_message_age_seconds"] = oldest_message_age_seconds(sources.metrics, sources.queue_name)
    return status
