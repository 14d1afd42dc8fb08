"""Hide messages of a failed delivery during an outage (SQS ChangeMessageVisibility).

While NiFi is down the breaker controller pauses the event source mapping, but
every probe window still hands messages to the function. Returning them with
the queue's short visibility timeout would let every window receive the same
messages again until maxReceiveCount burns them into the DLQ. Instead a
message is hidden for ``base * factor ** receive_count`` seconds (capped at
SQS's 12 hours), so each window mostly sees messages it has not seen yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from courier.observability import count, logger

MAX_VISIBILITY_SECONDS = 43_200
_BATCH = 10


def hide_seconds(receive_count: int, base_seconds: int, factor: int = 3) -> int:
    return int(min(MAX_VISIBILITY_SECONDS, base_seconds * factor ** max(1, receive_count)))


class VisibilityBackoff:
    def __init__(self, client: Any, base_seconds: int, factor: int = 3) -> None:
        self.client = client
        self.base_seconds = base_seconds
        self.factor = factor
        self._urls: dict[str, str] = {}

    def _queue_url(self, arn: str) -> str:
        if arn not in self._urls:
            _, _, _, _, account, name = arn.split(":", 5)
            self._urls[arn] = self.client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        return self._urls[arn]

    def hide(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Best effort: a message we fail to hide simply reappears after the normal timeout."""
        by_queue: dict[str, list[Mapping[str, Any]]] = {}
        for record in records:
            by_queue.setdefault(str(record.get("eventSourceARN", "")), []).append(record)
        for arn, queued in by_queue.items():
            try:
                url = self._queue_url(arn)
                for start in range(0, len(queued), _BATCH):
                    entries = [
                        {
                            "Id": str(i),
                            "ReceiptHandle": r["receiptHandle"],
                            "VisibilityTimeout": hide_seconds(
                                int(r.get("attributes", {}).get("ApproximateReceiveCount", "1")), self.base_seconds, self.factor
                            ),
                        }
                        for i, r in enumerate(queued[start : start + _BATCH])
                    ]
                    self.client.change_message_visibility_batch(QueueUrl=url, Entries=entries)
                count("MessagesHidden", len(queued))
            except (BotoCoreError, ClientError, ValueError, KeyError) as exc:
                logger.warning("could not hide failed messages; they reappear after the visibility timeout", extra={"error": type(exc).__name__})
