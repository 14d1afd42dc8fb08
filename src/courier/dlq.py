"""Look into the dead-letter queue, move messages back, or delete them (``courier dlq``).

Listing peeks: messages are received with a short visibility timeout and made
visible again at once, so listing changes nothing but their receive count.
Redrive uses SQS's own message move task where the endpoint has it; otherwise
it receives, sends to the source queue and only then deletes from the DLQ, so
an interruption can at worst leave a message in both queues, never in
neither; the idempotency ledger then keeps the file from being delivered twice.
Deleting receives the DLQ's messages and deletes those it was asked for (by
message id, or every message whose last failure had a given reason); the
others are made visible again at once, as listing does.
Both queues are reached through the ``Queue`` port (``adapters.sqs.SQSQueue``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from courier.events import lambda_sqs_record, parse_message
from courier.ledger.base import BaseLedger, FailureNote
from courier.ports import Queue

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


def _reason(message: dict[str, Any], note: FailureNote | None) -> str | None:
    """The last failure's reason: the ledger's note while it keeps it, else what the body itself shows (unparseable)."""
    if note is not None:
        return note.reason
    parsed = parse_message(lambda_sqs_record(message, "arn:aws:sqs:::dlq", ""))
    return parsed.error.reason if parsed.error is not None else None


def _receive_each(dlq: Queue, limit: int) -> Iterator[dict[str, Any]]:
    """Every DLQ message once (up to ``limit``), hidden for a short peek; the caller makes them visible again."""
    seen: set[str] = set()
    while len(seen) < limit:
        fresh = [m for m in dlq.receive(_BATCH, _PEEK_SECONDS) if m["MessageId"] not in seen]
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            yield message


def _peek(dlq: Queue, limit: int) -> Iterator[dict[str, Any]]:
    handles: list[str] = []
    try:
        for message in _receive_each(dlq, limit):
            handles.append(message["ReceiptHandle"])
            yield message
    finally:
        dlq.make_visible(handles)


def list_dead_letters(dlq: Queue, ledger: BaseLedger | None, limit: int = 1000) -> list[DeadLetter]:
    letters = []
    for message in _peek(dlq, limit):
        note = ledger.failure_note(message["MessageId"]) if ledger is not None else None
        attributes = message.get("Attributes", {})
        letters.append(
            DeadLetter(
                message_id=message["MessageId"],
                receive_count=int(attributes.get("ApproximateReceiveCount", 0)),
                sent_at_ms=int(attributes.get("SentTimestamp", 0)),
                objects=_objects(message) or (note.objects if note else ()),
                reason=_reason(message, note),
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


def redrive(dlq: Queue, queue: Queue, max_messages: int | None = None, dry_run: bool = False) -> RedriveResult:
    if dry_run:
        ids = [m["MessageId"] for m in _peek(dlq, max_messages or 10_000)]
        return RedriveResult(method="dry-run", would_move=ids)
    if max_messages is None:
        # SQS's own move task cannot stop after a number of messages: only for "all".
        task_handle = dlq.start_move_task(queue)
        if task_handle is not None:
            return RedriveResult(method="start-message-move-task", task_handle=task_handle)
    return _move_by_hand(dlq, queue, max_messages)


def _move_by_hand(dlq: Queue, queue: Queue, max_messages: int | None) -> RedriveResult:
    result = RedriveResult()
    while max_messages is None or result.moved < max_messages:
        want = _BATCH if max_messages is None else min(_BATCH, max_messages - result.moved)
        got = dlq.receive(want, visibility_timeout=60)
        if not got:
            break
        for message in got:
            queue.send(message["Body"], message.get("MessageAttributes"))  # first send ...
            dlq.delete(message["ReceiptHandle"])  # ... then delete
            result.moved += 1
    return result


@dataclass
class DeleteResult:
    """What ``delete_dead_letters`` deleted (or, in a dry run, would delete), and the ids asked for but not found.

    Parameters
    ----------
    deleted
        Message ids deleted, or with ``dry_run`` the ids that would be.
    not_found
        Message ids asked for by ``--message-id`` that the DLQ did not hold.
    dry_run
        Whether nothing was deleted.

    Example
    -------
    >>> result = delete_dead_letters(dlq, ledger, reason="object_missing", dry_run=True)  # doctest: +SKIP
    >>> result.deleted  # doctest: +SKIP
    ['f3049464-32b0-41e9-8c18-259267717521']
    """

    deleted: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    dry_run: bool = False


def delete_dead_letters(
    dlq: Queue,
    ledger: BaseLedger | None,
    message_ids: Collection[str] = (),
    reason: str | None = None,
    dry_run: bool = False,
    limit: int = 10_000,
) -> DeleteResult:
    """Delete the DLQ messages named by id, and those whose last failure had ``reason``.

    Messages that match neither are made visible again at once. ``dry_run`` deletes
    nothing and reports what would go. Raises ``ValueError`` when asked for nothing.
    """
    if not message_ids and reason is None:
        raise ValueError("name the messages to delete: message ids, or a reason")
    result, keep, seen = DeleteResult(dry_run=dry_run), [], set()
    try:
        for message in _receive_each(dlq, limit):
            seen.add(message["MessageId"])
            if not _is_named(message, ledger, message_ids, reason):
                keep.append(message["ReceiptHandle"])
                continue
            if dry_run:
                keep.append(message["ReceiptHandle"])
            else:
                dlq.delete(message["ReceiptHandle"])
            result.deleted.append(message["MessageId"])
    finally:
        dlq.make_visible(keep)
    result.not_found = [m for m in message_ids if m not in seen]
    return result


def _is_named(message: dict[str, Any], ledger: BaseLedger | None, message_ids: Collection[str], reason: str | None) -> bool:
    if message["MessageId"] in message_ids:
        return True
    if reason is None:
        return False
    return _reason(message, ledger.failure_note(message["MessageId"]) if ledger is not None else None) == reason
