"""Park the messages of an outage out of sight, and bring them all back when NiFi recovers.

While NiFi is down the controller pauses the event source mapping, but every
probe window still hands messages to the function. Returned with the queue's
normal visibility timeout, the same messages would be received window after
window until maxReceiveCount burns them into the DLQ. So a message that fails
because of the outage is *parked*: its visibility is raised to
``park_seconds`` (11 hours by default, just under SQS's 12-hour maximum) and its receipt handle is
recorded in the breaker table. When the circuit closes, the controller
*releases* every parked message (visibility 0), so the backlog drains at once
instead of waiting out the park. If a release fails, the message comes back
on its own when the park ends: nothing is lost either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from courier.adapters.aws import CONDITION_FAILED, batch_write, error_code, translated
from courier.errors import CourierError
from courier.observability import logger, metric
from courier.resources import BREAKER_EXPIRY_ATTRIBUTE

# SQS caps a message's visibility at 12 hours counted from its receive; the hour
# left over covers the time the invocation already ran (at most 15 minutes).
MAX_PARK_SECONDS = 11 * 3600
PARKED_PREFIX = "parked#"
_SQS_BATCH = 10
UNRECORDED_PARK_BASE_SECONDS = 300


def _sent_at(record: Mapping[str, Any], default: int) -> int:
    try:
        return int(record.get("attributes", {}).get("SentTimestamp", "")) // 1000
    except (TypeError, ValueError, AttributeError):
        return default


def queue_url(client: Any, arn: str, cache: dict[str, str]) -> str:
    if arn not in cache:
        _, _, _, _, account, name = arn.split(":", 5)
        with translated(f"looking up the queue {name}"):
            cache[arn] = client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
    return cache[arn]


class SQSParkingLot:
    """Parks the SQS messages of an outage (long visibility, handle recorded) and releases them all on recovery.

    Parameters
    ----------
    sqs
        A boto3 SQS client (visibility changes).
    dynamodb
        A boto3 DynamoDB client (the records of parked messages, kept in the breaker table).
    table
        The breaker table.
    park_seconds
        How long a parked message stays invisible unless released; capped at 11 hours.
    clock
        Epoch seconds; injectable for tests.

    Example
    -------
    >>> lot = SQSParkingLot(boto3.client("sqs"), boto3.client("dynamodb"), "courier-breaker")  # doctest: +SKIP
    >>> lot.park(records)            # the aggregator, when NiFi is down  # doctest: +SKIP
    >>> released = lot.unpark_all()  # the controller, once the circuit closed  # doctest: +SKIP
    """

    def __init__(
        self, sqs: Any, dynamodb: Any, table: str, park_seconds: int = MAX_PARK_SECONDS, clock: Callable[[], float] = time.time
    ) -> None:
        self.sqs = sqs
        self.dynamodb = dynamodb
        self.table = table
        self.park_seconds = min(park_seconds, MAX_PARK_SECONDS)
        self.clock = clock
        self._urls: dict[str, str] = {}

    # --- the aggregator's side --------------------------------------------------

    def park(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Park messages. Best effort: an unparked message reappears after the normal timeout."""
        records = list(records)
        park_for: Callable[[Mapping[str, Any]], int] = self._full_park
        try:
            self._record(records)
        except CourierError as exc:
            # DynamoDB itself may be what is down. Parked anyway, but nobody can release these early: they come
            # back on a backoff instead (see unrecorded_park_seconds), so the backlog drains soon after the heal.
            logger.warning("parked messages not recorded; they come back on a backoff", extra={"error": str(exc)})
            metric("MessagesParkedUnrecorded", len(records))
            park_for = self.unrecorded_park_seconds
        try:
            for url, chunk in self._chunks(records):
                with translated("parking messages (ChangeMessageVisibilityBatch)"):
                    self.sqs.change_message_visibility_batch(
                        QueueUrl=url,
                        Entries=[
                            {"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": park_for(r)}
                            for i, r in enumerate(chunk)
                        ],
                    )
            metric("MessagesParked", len(records))
        except (CourierError, ValueError, KeyError) as exc:
            error = str(exc) if isinstance(exc, CourierError) else type(exc).__name__
            logger.warning("could not park failed messages; they reappear after the visibility timeout", extra={"error": error})

    def defer(self, records: Iterable[Mapping[str, Any]], seconds: int) -> None:
        """Make messages visible again in ``seconds`` instead of the queue's visibility timeout (6 x the function's).

        For files an invocation had no room or time for: nothing is recorded (nobody releases them
        early), and a failure here only means they come back after the normal timeout.
        """
        records = list(records)
        try:
            for url, chunk in self._chunks(records):
                with translated("deferring messages (ChangeMessageVisibilityBatch)"):
                    answer = self.sqs.change_message_visibility_batch(
                        QueueUrl=url,
                        Entries=[
                            {"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": seconds}
                            for i, r in enumerate(chunk)
                        ],
                    )
                # A batch call succeeds while single entries fail (a receipt handle expired, throttled):
                # those messages fall back to the queue's visibility timeout.
                failed = answer.get("Failed") or []
                if failed:
                    codes = sorted({str(entry.get("Code", "")) for entry in failed})
                    logger.warning(
                        "some messages not deferred; they reappear after the visibility timeout",
                        extra={"messages": len(failed), "codes": codes},
                    )
                    metric("DeferFailed", len(failed))
        except (CourierError, ValueError, KeyError) as exc:
            error = str(exc) if isinstance(exc, CourierError) else type(exc).__name__
            logger.warning("could not defer messages; they reappear after the visibility timeout", extra={"error": error})

    def _full_park(self, record: Mapping[str, Any]) -> int:
        return self.park_seconds

    def unrecorded_park_seconds(self, record: Mapping[str, Any]) -> int:
        """A park nobody can end early: 5 minutes at the first receive, doubling up to the full park.

        Receives 1-8 cover about 21 h, and with maxReceiveCount 20 the 11-h parks that follow carry a message
        past the queue's retention before the DLQ (receives 1-17: about 120 h; tests/unit/test_terraform.py).
        """
        try:
            receives = max(1, int(record.get("attributes", {}).get("ApproximateReceiveCount", "1")))
        except (TypeError, ValueError, AttributeError):
            receives = 1
        return int(min(self.park_seconds, UNRECORDED_PARK_BASE_SECONDS * 2 ** min(receives - 1, 16)))

    def _chunks(self, records: list[Mapping[str, Any]]) -> Iterable[tuple[str, list[Mapping[str, Any]]]]:
        by_queue: dict[str, list[Mapping[str, Any]]] = {}
        for record in records:
            by_queue.setdefault(str(record["eventSourceARN"]), []).append(record)
        for arn, queued in by_queue.items():
            url = queue_url(self.sqs, arn, self._urls)
            for start in range(0, len(queued), _SQS_BATCH):
                yield url, queued[start : start + _SQS_BATCH]

    def _record(self, records: list[Mapping[str, Any]]) -> None:
        # Written before the visibility change: a handle we cannot release later is harmless,
        # a parked message nobody knows of waits out the whole park.
        now = int(self.clock())
        items = [
            {
                "id": {"S": PARKED_PREFIX + str(r["messageId"])},
                "receipt_handle": {"S": str(r["receiptHandle"])},
                "queue_arn": {"S": str(r["eventSourceARN"])},
                "parked_at": {"N": str(now)},
                # When SQS first took the message: its retention counts from here.
                "sent_at": {"N": str(_sent_at(r, now))},
                BREAKER_EXPIRY_ATTRIBUTE: {"N": str(now + self.park_seconds)},
            }
            for r in records
        ]
        batch_write(self.dynamodb, self.table, [{"PutRequest": {"Item": i}} for i in items], "recording parked messages")

    # --- the controller's side --------------------------------------------------

    def parked(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        with translated("listing parked messages"):
            paginator = self.dynamodb.get_paginator("scan")
            for page in paginator.paginate(
                TableName=self.table,
                FilterExpression="begins_with(#id, :prefix)",
                ExpressionAttributeNames={"#id": "id"},
                ExpressionAttributeValues={":prefix": {"S": PARKED_PREFIX}},
            ):
                items.extend(page.get("Items", []))
        return items

    def _forget(self, item: dict[str, Any]) -> None:
        """Delete a released message's record, unless it was parked again meanwhile (a new receipt handle)."""
        with translated("forgetting a released message"):
            try:
                self.dynamodb.delete_item(
                    TableName=self.table,
                    Key={"id": item["id"]},
                    ConditionExpression="receipt_handle = :handle",
                    ExpressionAttributeValues={":handle": item["receipt_handle"]},
                )
            except ClientError as exc:
                if error_code(exc) != CONDITION_FAILED:
                    raise

    def oldest_age_seconds(self) -> float | None:
        """Age of the oldest parked message since SQS first took it; None when nothing is parked.

        SQS's ApproximateAgeOfOldestMessage skips messages received three times or more, which
        every message parked through a long outage is: this is the age the data-age alarm needs.
        """
        sent = [int(item["sent_at"]["N"]) for item in self.parked() if "sent_at" in item]
        return self.clock() - min(sent) if sent else None

    def has_parked(self) -> bool:
        return bool(self.parked())

    def unpark_all(self) -> int:
        """Make every parked message visible again (unpark it); return how many."""
        items = self.parked()
        released = 0
        by_queue: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            by_queue.setdefault(item["queue_arn"]["S"], []).append(item)
        for arn, queued in by_queue.items():
            url = queue_url(self.sqs, arn, self._urls)
            for start in range(0, len(queued), _SQS_BATCH):
                chunk = queued[start : start + _SQS_BATCH]
                with translated("releasing parked messages (ChangeMessageVisibilityBatch)"):
                    response = self.sqs.change_message_visibility_batch(
                        QueueUrl=url,
                        Entries=[
                            {"Id": str(i), "ReceiptHandle": it["receipt_handle"]["S"], "VisibilityTimeout": 0}
                            for i, it in enumerate(chunk)
                        ],
                    )
                # A failed entry was received again since it was parked (its handle changed): nothing to do.
                released += len(response.get("Successful", []))
        for item in items:
            self._forget(item)
        if items:
            logger.warning("released parked messages", extra={"parked": len(items), "released": released})
            metric("MessagesReleased", released)
        return released
