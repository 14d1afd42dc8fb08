"""Look into the dead-letter queue and move messages back (``courier dlq``).

Listing peeks: messages are received with a short visibility timeout and made
visible again at once, so listing changes nothing but their receive count.
Redrive uses SQS's own message move task where the endpoint has it; otherwise
it receives, sends to the source queue and only then deletes from the DLQ, so
an interruption can at worst leave a message in both queues, never in
neither; the idempotency ledger then keeps the file from being delivered twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from courier.events import lambda_sqs_record, parse_message
from courier.ledger.base import BaseLedger

_PEEK_SECONDS = 30
_BATCH = 10


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    receive_count: int
    sent_at_ms: int
    objects: tuple[str, ...]
    reason: str | None
    detail: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "receive_count": self.receive_count,
            "sent_at_ms": self.sent_at_ms,
            "objects": list(self.objects),
            "reason": self.reason,
            "detail": self.detail,
        }


def _objects(message: dict[str, Any]) -> tuple[str, ...]:
    parsed = parse_message(lambda_sqs_record(message, "arn:aws:sqs:::dlq", ""))
    return tuple(f"s3://{o.bucket}/{o.key}" for o in parsed.objects)


def _peek(sqs: Any, queue_url: str, limit: int) -> Iterator[dict[str, Any]]:
    seen: set[str] = set()
    handles: list[str] = []
    try:
        while len(seen) < limit:
            got = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=_BATCH, VisibilityTimeout=_PEEK_SECONDS, AttributeNames=["All"]
            ).get("Messages", [])
            fresh = [m for m in got if m["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                seen.add(message["MessageId"])
                handles.append(message["ReceiptHandle"])
                yield message
    finally:
        for start in range(0, len(handles), _BATCH):
            sqs.change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(handles[start : start + _BATCH])],
            )


def list_dead_letters(sqs: Any, dlq_url: str, ledger: BaseLedger | None, limit: int = 1000) -> list[DeadLetter]:
    letters = []
    for message in _peek(sqs, dlq_url, limit):
        note = ledger.failure_note(message["MessageId"]) if ledger is not None else None
        attributes = message.get("Attributes", {})
        letters.append(
            DeadLetter(
                message_id=message["MessageId"],
                receive_count=int(attributes.get("ApproximateReceiveCount", 0)),
                sent_at_ms=int(attributes.get("SentTimestamp", 0)),
                objects=_objects(message) or (note.objects if note else ()),
                reason=note.reason if note else None,
                detail=note.detail if note else None,
            )
        )
    return letters


@dataclass
class RedriveResult:
    moved: int = 0
    method: str = "receive-send-delete"
    task_handle: str | None = None
    would_move: list[str] = field(default_factory=list)


def redrive(
    sqs: Any,
    dlq_url: str,
    dlq_arn: str,
    queue_url: str,
    queue_arn: str,
    max_messages: int | None = None,
    dry_run: bool = False,
) -> RedriveResult:
    if dry_run:
        ids = [m["MessageId"] for m in _peek(sqs, dlq_url, max_messages or 10_000)]
        return RedriveResult(method="dry-run", would_move=ids)
    if max_messages is None:
        try:
            task = sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=queue_arn)
            return RedriveResult(method="start-message-move-task", task_handle=task.get("TaskHandle"))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in {"UnsupportedOperation", "InvalidAction", "AWS.SimpleQueueService.UnsupportedOperation", "NotImplemented", "InvalidParameterValue", "404"}:
                raise
        except NotImplementedError:
            pass
    return _move_by_hand(sqs, dlq_url, queue_url, max_messages)


def _move_by_hand(sqs: Any, dlq_url: str, queue_url: str, max_messages: int | None) -> RedriveResult:
    result = RedriveResult()
    while max_messages is None or result.moved < max_messages:
        want = _BATCH if max_messages is None else min(_BATCH, max_messages - result.moved)
        got = sqs.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=want, VisibilityTimeout=60, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not got:
            break
        for message in got:
            send: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                send["MessageAttributes"] = message["MessageAttributes"]
            sqs.send_message(**send)  # first send ...
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])  # ... then delete
            result.moved += 1
    return result
