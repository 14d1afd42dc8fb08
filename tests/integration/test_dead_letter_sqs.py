"""The handler's move to the DLQ (SQSDeadLetters) against moto's SQS: what the unit tests' fake cannot show."""

from __future__ import annotations

from typing import Any

import pytest

from courier.adapters.sqs import SQSDeadLetters, SQSQueue
from courier.dead_letter import PREFIX, dead_letter_attributes
from courier.errors import AwsCallError
from courier.events import lambda_sqs_record
from courier.operator.dlq import list_dead_letters, redrive

# What an uploader's tool may have set on its own message: text with control characters, a binary value.
HOSTILE = {
    "note": {"DataType": "String", "StringValue": "line\tone\r\nline two \u202e"},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
    "count": {"DataType": "Number", "StringValue": "7"},
}


def _drop_test_event(aws: Any, stack: Any, queued: Any) -> None:
    """The provisioning's s3:TestEvent, out of the way."""
    for record in queued():
        aws.client("sqs").delete_message(QueueUrl=stack.queue_url, ReceiptHandle=record["receiptHandle"])


def _one_record(aws: Any, stack: Any, queued: Any) -> dict[str, Any]:
    sqs = aws.client("sqs")
    _drop_test_event(aws, stack, queued)
    sqs.send_message(QueueUrl=stack.queue_url, MessageBody="not an S3 event", MessageAttributes=HOSTILE)
    (message,) = sqs.receive_message(QueueUrl=stack.queue_url, AttributeNames=["All"], MessageAttributeNames=["All"])["Messages"]
    return lambda_sqs_record(message, stack.queue_arn, "eu-west-2")  # Lambda passes every message attribute


def test_a_send_that_succeeds_and_a_delete_that_fails_leaves_two_copies_dlq_list_and_redrive_take_both(aws, stack, queued):
    sqs = aws.client("sqs")
    record = _one_record(aws, stack, queued)
    attributes = dead_letter_attributes(record, ["malformed_event"])
    assert attributes is not None
    stale = {**record, "receiptHandle": "not-a-receipt-handle"}  # the delete fails after the send went through
    with pytest.raises(AwsCallError):
        SQSDeadLetters(sqs).move(stale, attributes)
    SQSDeadLetters(sqs).move(record, attributes)  # the next receive moves it again, and deletes it

    dlq, queue = SQSQueue(sqs, stack.dlq_url, stack.dlq_arn), SQSQueue(sqs, stack.queue_url, stack.queue_arn)
    letters = list_dead_letters(dlq, None)
    assert len({letter.message_id for letter in letters}) == 2  # two copies, each listed under its own id
    assert {(letter.moved_by, letter.reason, letter.original_id) for letter in letters} == {
        ("courier", "malformed_event", record["messageId"])
    }
    assert queue.depth() == (0, 0)

    assert redrive(dlq, queue).moved == 2
    back = sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    assert len(back) == 2
    for message in back:  # the uploader's attributes come back byte for byte, courier's are gone
        assert message["Body"] == "not an S3 event"
        assert not any(name.startswith(PREFIX) for name in message["MessageAttributes"])
        assert message["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\x01\xff"
        assert message["MessageAttributes"]["note"]["StringValue"] == HOSTILE["note"]["StringValue"]
