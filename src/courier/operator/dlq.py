"""Look into the dead-letter queue, move messages back, or delete them (``courier dlq``).

Listing peeks: messages are received with a short visibility timeout and made
visible again at once, so listing changes nothing but their receive count.
``courier trace`` peeks without hiding anything (``find_dead_letters``: visibility
timeout 0), so a redrive running meanwhile moves every message; SQS still counts
each receive in ``ApproximateReceiveCount``.
Redrive uses SQS's own message move task where the endpoint has it; otherwise
it receives, sends to the source queue and only then deletes from the DLQ, so
an interruption can at worst leave a message in both queues, never in
neither; the idempotency ledger then keeps the file from being delivered twice.
Deleting receives the DLQ's messages and deletes those it was asked for (by
message id, or every message whose last failure had a given reason); the
others are made visible again at once, as listing does.
Both queues are reached through the ``Queue`` port (``adapters.sqs.SQSQueue``).

The DLQ holds two kinds of message: those SQS moved after maxReceiveCount receives,
and those the handler moved at once because they can never succeed
(``courier.dead_letter``), which carry courier's attributes (``courier.*``: the
reasons, the original id, receive count and times). A listing shows each kind
(``moved_by``), the reason from courier's attribute where there is one; a redrive
by hand sends the body back with the original attributes only. SQS's move task
moves messages verbatim: courier's attributes go along, and are ignored (and
replaced if the message is dead-lettered again).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from courier import dead_letter
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
    versions: tuple[str | None, ...] = ()  # each object's version id, as the message names it (empty: not known)
    moved_by: str = "sqs"  # "courier": moved at once, as it can never succeed; "sqs": after maxReceiveCount receives
    original_id: str | None = None  # the id it had in the queue, when courier moved it (SQS keeps the id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "receive_count": self.receive_count,
            "sent_at_ms": self.sent_at_ms,
            "objects": list(self.objects),
            "versions": list(self.versions),
            "reason": self.reason,
            "detail": self.detail,
            "moved_by": self.moved_by,
            "original_message_id": self.original_id,
        }

    def names(self, bucket: str, key: str, version: str | None = None) -> bool:
        """Whether the message names ``s3://bucket/key`` (with ``version``: that revision of it, by version id)."""
        url = f"s3://{bucket}/{key}"
        if version is None:
            return url in self.objects
        return any(o == url and v == version for o, v in zip(self.objects, self.versions, strict=False))


def _refs(message: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str | None, ...]]:
    parsed = parse_message(lambda_sqs_record(message, "arn:aws:sqs:::dlq", ""))
    return tuple(f"s3://{o.bucket}/{o.key}" for o in parsed.objects), tuple(o.version_id for o in parsed.objects)


def _reason(message: dict[str, Any], note: FailureNote | None) -> str | None:
    """The last failure's reason: courier's attribute if it moved the message, else the ledger's note while it keeps
    it, else what the body itself shows (unparseable)."""
    moved = dead_letter.moved_reasons(message.get("MessageAttributes"))
    if moved:
        return ",".join(moved)
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


def _letter(message: dict[str, Any], ledger: BaseLedger | None) -> DeadLetter:
    ours = message.get("MessageAttributes")
    original_id = dead_letter.moved_message_id(ours)
    # The aggregator notes a failure under the id the message had in the queue: courier's move gave it a new one.
    note = ledger.failure_note(original_id or message["MessageId"]) if ledger is not None else None
    attributes = message.get("Attributes", {})
    objects, versions = _refs(message)
    # A message courier moved: its receive count and sent time are the original's (the DLQ's are courier's send).
    receive_count = dead_letter.moved_number(ours, dead_letter.RECEIVE_COUNT)
    sent_at_ms = dead_letter.moved_number(ours, dead_letter.SENT_MS)
    return DeadLetter(
        message_id=message["MessageId"],
        receive_count=int(attributes.get("ApproximateReceiveCount", 0)) if receive_count is None else receive_count,
        sent_at_ms=int(attributes.get("SentTimestamp", 0)) if sent_at_ms is None else sent_at_ms,
        objects=objects or (note.objects if note else ()),
        reason=_reason(message, note),
        detail=note.detail if note else None,
        versions=versions,
        moved_by="sqs" if dead_letter.moved_reasons(ours) is None else "courier",
        original_id=original_id,
    )


def list_dead_letters(dlq: Queue, ledger: BaseLedger | None, limit: int = 1000) -> list[DeadLetter]:
    return [_letter(message, ledger) for message in _peek(dlq, limit)]


def find_dead_letters(
    dlq: Queue, ledger: BaseLedger | None, wanted: Callable[[DeadLetter], bool], limit: int = 1000, idle_rounds: int = 3
) -> tuple[list[DeadLetter], int, int]:
    """(the DLQ messages ``wanted`` accepts, messages seen, messages SQS counts), peeking without hiding any.

    Each receive has a visibility timeout of 0, so the messages stay visible to a redrive
    running meanwhile. The price: SQS may return the same messages again, so the peek stops
    once it has seen as many as the DLQ holds, after ``idle_rounds`` receives in a row
    brought nothing new, or at ``limit``; with a deep DLQ it may not see every message,
    and says how many it saw.
    """
    depth = sum(dlq.depth())  # in-flight ones too: a message someone else holds is in the DLQ, unseen by this peek
    seen: set[str] = set()
    found: list[DeadLetter] = []
    idle = 0
    while idle < idle_rounds and len(seen) < min(max(depth, 1), limit):
        fresh = [m for m in dlq.receive(_BATCH, 0) if m["MessageId"] not in seen]
        idle = 0 if fresh else idle + 1
        for message in fresh:
            seen.add(message["MessageId"])
            # The ledger's failure note is read only for the messages kept, or to learn what an unparseable body named.
            letter = _letter(message, None)
            if ledger is not None and (not letter.objects or wanted(letter)):
                letter = _letter(message, ledger)
            if wanted(letter):
                found.append(letter)
    return found, len(seen), depth


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
            queue.send(message["Body"], dead_letter.original_attributes(message.get("MessageAttributes")))  # first send ...
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
    """Delete the DLQ messages named by id (the DLQ's, or the one courier's move recorded), and those whose last
    failure had ``reason``.

    Messages that match neither are made visible again at once. ``dry_run`` deletes
    nothing and reports what would go. Raises ``ValueError`` when asked for nothing.
    """
    if not message_ids and reason is None:
        raise ValueError("name the messages to delete: message ids, or a reason")
    result, keep, seen = DeleteResult(dry_run=dry_run), [], set()
    try:
        for message in _receive_each(dlq, limit):
            seen.update(_ids(message))
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


def _ids(message: dict[str, Any]) -> set[str]:
    """A DLQ message's own id and, if courier moved it, the id it had in the queue (what the logs and a sender know)."""
    original = dead_letter.moved_message_id(message.get("MessageAttributes"))
    return {message["MessageId"], original} if original else {message["MessageId"]}


def _is_named(message: dict[str, Any], ledger: BaseLedger | None, message_ids: Collection[str], reason: str | None) -> bool:
    if _ids(message) & set(message_ids):
        return True
    if reason is None:
        return False
    note_id = dead_letter.moved_message_id(message.get("MessageAttributes")) or message["MessageId"]
    return _reason(message, ledger.failure_note(note_id) if ledger is not None else None) == reason
