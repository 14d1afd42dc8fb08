"""Dead-letter at once what can never succeed, instead of after maxReceiveCount receives.

A message whose every failure is the file's (or the message's) own fault, a
``PermanentError`` with ``charged_to_file`` (a malformed body, an object missing,
above the ceiling, unreadable, in a foreign bucket, superseded, beyond the
ledger, refused by NiFi alone), fails the same way on every receive. Waiting for
SQS's redrive policy to move it takes maxReceiveCount receives (hours in AWS),
so the handler sends such a message to the DLQ itself and deletes it from the
queue, on its first failure (:func:`settle`).

What goes to the DLQ: the body unchanged, the original message attributes
unchanged, and courier's own attributes (``courier.*``, :data:`COURIER_ATTRIBUTES`):
the reasons (courier's enum values, never outside text), and the original
message id, receive count, first-receive and sent times (numbers, parsed; the id
bounded and restricted to the characters SQS uses). ``courier dlq list`` reads
them; ``courier dlq redrive`` strips them (:func:`original_attributes`).

Nothing is lost on the way: if the send or the delete fails, or the original
attributes leave no room for courier's (SQS allows 10 per message), the message
is reported as a batch item failure like any other, and the receive-count path
takes it; at worst a message sent but not deleted reaches the DLQ twice, which
``courier dlq`` tolerates (the ledger keeps a redriven file from being delivered twice).
Transient failures, and a NiFi refusal while the batch shows a NiFi outage, keep
the receive-count path.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from courier.errors import CourierError, reasons_where
from courier.observability import logger, metric

if TYPE_CHECKING:
    from courier.aggregator import BatchResult
    from courier.ports import DeadLetters

# Every reason whose error is the file's own fault: retrying the same message cannot help.
PERMANENT_REASONS = reasons_where(lambda error: error.charged_to_file)
# Charged to a file, but also evidence of an outage when the batch shows one (several bundles refused).
OUTAGE_EVIDENCE_REASONS = reasons_where(lambda error: error.charged_to_file and error.dependency is not None)

PREFIX = "courier."
REASONS = f"{PREFIX}reasons"
MESSAGE_ID = f"{PREFIX}message-id"
RECEIVE_COUNT = f"{PREFIX}receive-count"
FIRST_RECEIVE_MS = f"{PREFIX}first-receive-ms"
SENT_MS = f"{PREFIX}sent-ms"
COURIER_ATTRIBUTES = (REASONS, MESSAGE_ID, RECEIVE_COUNT, FIRST_RECEIVE_MS, SENT_MS)
SQS_MAX_ATTRIBUTES = 10
# SQS message ids are UUIDs; anything else is cut to this and to these characters.
_ID_LIMIT = 128
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]")


def permanent_reasons(result: BatchResult, message_id: str) -> tuple[str, ...] | None:
    """The message's reasons, sorted, when every one of its failures is permanent; None otherwise."""
    reasons = result.reasons.get(message_id)
    if not reasons or not reasons <= PERMANENT_REASONS:
        return None
    if result.systemic is not None and reasons & OUTAGE_EVIDENCE_REASONS:
        return None  # the batch shows an outage: NiFi's refusals are its evidence, not the file's fault
    return tuple(sorted(reasons))


def settle(records: Iterable[Mapping[str, Any]], result: BatchResult, dead_letters: DeadLetters | None) -> dict[str, Any]:
    """Dead-letter the messages that can never succeed; the partial batch response for the rest."""
    if dead_letters is None:
        return result.response()
    for record in records:
        message_id = str(record.get("messageId", ""))
        reasons = permanent_reasons(result, message_id) if message_id in result.failed else None
        if reasons is None:
            continue
        attributes = dead_letter_attributes(record, reasons)
        if attributes is None:
            logger.warning("no room for courier's attributes: left to the redrive policy", extra={"message_id": message_id})
            continue
        try:
            dead_letters.move(record, attributes)
        except CourierError as exc:
            logger.warning("not dead-lettered at once: left to the redrive policy", extra={"error": str(exc)})
            continue
        del result.failed[message_id]  # deleted from the queue already: nothing for Lambda to return
        for reason in reasons:
            metric("DeadLetteredImmediately", reason=reason)
        logger.info("dead-lettered at once", extra={"message_id": message_id, "reasons": list(reasons)})
    return result.response()


def dead_letter_attributes(record: Mapping[str, Any], reasons: Iterable[str]) -> dict[str, dict[str, Any]] | None:
    """The DLQ message's attributes (SendMessage's shape): the original ones and courier's; None if they do not fit."""
    original = {
        name: value
        for name, value in _send_shape(record.get("messageAttributes") or {}).items()
        if not name.startswith(PREFIX)  # a redrive by SQS's move task keeps courier's: this failure's replace them
    }
    if len(original) + len(COURIER_ATTRIBUTES) > SQS_MAX_ATTRIBUTES:
        return None
    system = record.get("attributes") or {}
    ours = {
        REASONS: _string(",".join(reason for reason in reasons if reason in PERMANENT_REASONS)),
        MESSAGE_ID: _string(_ID_UNSAFE.sub("_", str(record.get("messageId", "")))[:_ID_LIMIT] or "-"),
        RECEIVE_COUNT: _number(system.get("ApproximateReceiveCount")),
        FIRST_RECEIVE_MS: _number(system.get("ApproximateFirstReceiveTimestamp")),
        SENT_MS: _number(system.get("SentTimestamp")),
    }
    return {**original, **ours}


def original_attributes(message_attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """A DLQ message's attributes without courier's (what a redrive sends back)."""
    return {name: value for name, value in (message_attributes or {}).items() if not name.startswith(PREFIX)}


def moved_reasons(message_attributes: Mapping[str, Any] | None) -> tuple[str, ...] | None:
    """The reasons courier recorded when it moved this DLQ message; None for a message SQS moved.

    Only courier's own enum values are kept: anyone who may send to the DLQ could write this attribute.
    """
    value = (message_attributes or {}).get(REASONS)
    if not isinstance(value, Mapping):
        return None
    text = value.get("StringValue")
    return tuple(r for r in str(text or "").split(",") if r in PERMANENT_REASONS)


def moved_message_id(message_attributes: Mapping[str, Any] | None) -> str | None:
    """The id the message had in its queue before courier moved it (its failure note is kept under it)."""
    value = (message_attributes or {}).get(MESSAGE_ID)
    text = str(value.get("StringValue") or "") if isinstance(value, Mapping) else ""
    return _ID_UNSAFE.sub("_", text)[:_ID_LIMIT] or None


def moved_number(message_attributes: Mapping[str, Any] | None, name: str) -> int | None:
    """One of courier's numeric attributes of a DLQ message (receive count, times); None if absent or not a number."""
    value = (message_attributes or {}).get(name)
    if not isinstance(value, Mapping):
        return None
    try:
        return int(str(value.get("StringValue")))
    except ValueError:
        return None


def _string(text: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": text}


def _number(raw: Any) -> dict[str, str]:
    try:
        value = max(0, int(str(raw)))
    except ValueError:
        value = 0
    return {"DataType": "Number", "StringValue": str(value)}


def _send_shape(lambda_attributes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Lambda's record attributes (``stringValue``, base64 ``binaryValue``) as SendMessage takes them."""
    shaped: dict[str, dict[str, Any]] = {}
    for name, value in lambda_attributes.items():
        data_type = str(value.get("dataType") or "String")
        if value.get("stringValue") is not None:
            shaped[str(name)] = {"DataType": data_type, "StringValue": value["stringValue"]}
        elif value.get("binaryValue") is not None:
            binary = value["binaryValue"]  # base64 from Lambda, bytes from the local stack's runtime
            decoded = binary if isinstance(binary, bytes) else base64.b64decode(binary)
            shaped[str(name)] = {"DataType": data_type, "BinaryValue": decoded}
    return shaped
