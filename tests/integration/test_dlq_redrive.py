"""Redrive and delete against moto: in-process, and through moto's HTTP server as the local stack runs it."""

from __future__ import annotations

import json
import socket

import boto3
import pytest

from courier.adapters.sqs import SQSQueue
from courier.compose import make_ledger_reader
from courier.ledger.base import FailureNote
from courier.operator.dlq import delete_dead_letters, list_dead_letters, redrive


def test_redrive_falls_back_to_receive_send_delete_and_moves_everything(aws, stack):
    sqs = aws.client("sqs")
    dlq, queue = SQSQueue(sqs, stack.dlq_url, stack.dlq_arn), SQSQueue(sqs, stack.queue_url, stack.queue_arn)
    for i in range(12):
        sqs.send_message(QueueUrl=stack.dlq_url, MessageBody=f'{{"n": {i}}}')
    assert len(list_dead_letters(dlq, None)) == 12  # listing leaves them in place
    result = redrive(dlq, queue)
    assert (result.moved, result.method) == (12, "receive-send-delete")
    assert list_dead_letters(dlq, None) == []
    attributes = sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    assert int(attributes["Attributes"]["ApproximateNumberOfMessages"]) == 12 + 1  # plus the provisioning's s3:TestEvent


def test_redrive_max_moves_no_more(aws, stack):
    sqs = aws.client("sqs")
    dlq, queue = SQSQueue(sqs, stack.dlq_url, stack.dlq_arn), SQSQueue(sqs, stack.queue_url, stack.queue_arn)
    for i in range(5):
        sqs.send_message(QueueUrl=stack.dlq_url, MessageBody=f'{{"n": {i}}}')
    assert redrive(dlq, queue, max_messages=2).moved == 2
    assert len(list_dead_letters(dlq, None)) == 3


@pytest.fixture
def moto_server():
    """moto's standalone server on a free loopback port: it answers StartMessageMoveTask with an HTML 500 page."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_plain_redrive_over_http_falls_back_when_the_move_task_answers_500(moto_server):
    sqs = boto3.client("sqs", endpoint_url=moto_server, region_name="eu-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    dlq = SQSQueue(sqs, sqs.create_queue(QueueName="courier-dlq")["QueueUrl"])
    queue = SQSQueue(sqs, sqs.create_queue(QueueName="courier-queue")["QueueUrl"])
    for i in range(3):
        sqs.send_message(QueueUrl=dlq.url, MessageBody=f'{{"n": {i}}}')
    assert dlq.start_move_task(queue) is None  # the emulator's HTML 500, not an error of the redrive
    result = redrive(dlq, queue)
    assert (result.moved, result.method) == (3, "receive-send-delete")
    assert dlq.depth() == (0, 0) and queue.depth() == (3, 0)


def _dead_letters(aws, stack, count):
    """``count`` messages in the DLQ; the first two noted as object_missing, the rest not noted (malformed bodies)."""
    sqs = aws.client("sqs")
    ids = [sqs.send_message(QueueUrl=stack.dlq_url, MessageBody=f'{{"n": {i}}}')["MessageId"] for i in range(count)]
    ledger = make_ledger_reader(stack.idempotency_table, aws.client("dynamodb"))
    ledger.note_failures([FailureNote(mid, "object_missing", "gone", 10) for mid in ids[:2]])
    return SQSQueue(sqs, stack.dlq_url, stack.dlq_arn), ledger, ids


def test_delete_by_message_id_deletes_exactly_that_message_and_a_dry_run_nothing(aws, stack):
    dlq, ledger, ids = _dead_letters(aws, stack, 4)
    dry = delete_dead_letters(dlq, ledger, [ids[3], "no-such-id"], dry_run=True)
    assert (dry.deleted, dry.not_found, dry.dry_run) == ([ids[3]], ["no-such-id"], True)
    assert len(list_dead_letters(dlq, None)) == 4
    done = delete_dead_letters(dlq, ledger, [ids[3]])
    assert done.deleted == [ids[3]] and done.not_found == []
    assert sorted(letter.message_id for letter in list_dead_letters(dlq, None)) == sorted(ids[:3])


def test_delete_all_of_a_reason_reads_the_ledgers_notes_and_the_bodies(aws, stack):
    dlq, ledger, ids = _dead_letters(aws, stack, 4)
    aws.client("sqs").send_message(QueueUrl=stack.dlq_url, MessageBody="not json")
    missing = delete_dead_letters(dlq, ledger, reason="object_missing")
    assert sorted(missing.deleted) == sorted(ids[:2])
    malformed = delete_dead_letters(dlq, ledger, reason="malformed_event")  # no note: the body itself is not S3's
    assert len(malformed.deleted) == 3 and list_dead_letters(dlq, None) == []


def test_dlq_delete_command_against_the_stack(aws, stack, monkeypatch, clean_courier_env, tmp_path):
    from typer.testing import CliRunner

    from courier.cli import app
    from courier.cli._context import Clients

    dlq, _, ids = _dead_letters(aws, stack, 3)
    monkeypatch.setattr(Clients, "for_stack", classmethod(lambda cls, stack_info, environ=None: cls(aws)))
    monkeypatch.setenv("COURIER_STATE_DIR", str(tmp_path))  # no local stack: the queues are looked up by name
    runner = CliRunner()
    dry = runner.invoke(app, ["dlq", "delete", "--all-reason", "object_missing", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.startswith("would delete 2 messages from the DLQ: ")
    assert dry.stderr.startswith("no local stack in ")  # and so it says where it went
    unasked = runner.invoke(app, ["dlq", "delete", "--message-id", ids[2]])  # stdin is no terminal here
    assert unasked.exit_code == 1 and "give --yes" in unasked.stderr and len(list_dead_letters(dlq, None)) == 3
    assert f"about to delete 1 message(s) for good from the DLQ {stack.dlq_url} (AWS region" in unasked.stderr
    one = runner.invoke(app, ["dlq", "delete", "--message-id", ids[2], "--yes"])
    assert (one.exit_code, one.stdout.strip()) == (0, f"deleted 1 message from the DLQ: {ids[2]}")
    assert runner.invoke(app, ["dlq", "delete"]).exit_code == 1
    gone = runner.invoke(app, ["dlq", "delete", "--message-id", ids[2]])
    assert gone.exit_code == 1 and "deleted 0 messages from the DLQ" in gone.output and f"not in the DLQ: {ids[2]}" in gone.output
    assert len(list_dead_letters(dlq, None)) == 2


def test_dlq_list_renders_a_hostile_key_and_note_as_plain_text(aws, stack, env, monkeypatch, tmp_path):
    """A key holding markup and terminal escapes: `courier dlq list` neither crashes (MarkupError) nor emits them raw."""
    from datetime import UTC, datetime

    from typer.testing import CliRunner

    from courier.cli import _render, app
    from courier.operator.backfill import notification
    from courier.ports import Revision

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    key = "in/[/]\x1b]8;;https://evil.example/\x07\x1b]0;title\x07\u2028\u202e.csv"
    body = json.dumps(notification(stack.landing_bucket, Revision(key, "v1", 3, "etag", datetime.now(UTC))))
    sqs = aws.client("sqs")
    message_id = sqs.send_message(QueueUrl=stack.dlq_url, MessageBody=body)["MessageId"]
    ledger = make_ledger_reader(stack.idempotency_table, aws.client("dynamodb"))
    ledger.note_failures([FailureNote(message_id, "object_missing", f"GET of {key} [bold]x[/]: \x1b[2J", 10)])
    monkeypatch.setattr(_render.console, "width", 4000)  # no cell cut short with an ellipsis
    shown = CliRunner().invoke(app, ["dlq", "list", "--state-dir", str(tmp_path / "state")])
    assert shown.exit_code == 0, shown.output
    assert "\x1b" not in shown.output and "\u2028" not in shown.output and "\u202e" not in shown.output
    flat = "".join(ch for ch in shown.output if not ch.isspace() and not 0x2500 <= ord(ch) <= 0x257F)  # cells, unwrapped
    assert "in/[/]\\x1b]8;;https://evil.example/" in flat and "[bold]x[/]" in flat


def test_a_message_courier_dead_letters_is_listed_with_its_reason_and_redriven_without_courier_s_attributes(aws, stack):
    """The SQS adapter moves a message (send to the DLQ its redrive policy names, delete from the queue); `dlq list`
    tells it from one SQS moved, and a redrive sends the original body and attributes back, courier's stripped."""
    from courier.adapters.sqs import SQSDeadLetters
    from courier.dead_letter import dead_letter_attributes
    from courier.events import lambda_sqs_record

    sqs = aws.client("sqs")
    dlq, queue = SQSQueue(sqs, stack.dlq_url, stack.dlq_arn), SQSQueue(sqs, stack.queue_url, stack.queue_arn)
    sqs.purge_queue(QueueUrl=stack.queue_url)
    origin = {"origin": {"DataType": "String", "StringValue": "uploader-7"}}
    sqs.send_message(QueueUrl=stack.queue_url, MessageBody="not an S3 event", MessageAttributes=origin)
    sqs.send_message(QueueUrl=stack.dlq_url, MessageBody='{"moved": "by SQS"}')
    (received,) = queue.receive(1, 30)
    record = lambda_sqs_record(received, stack.queue_arn, "eu-west-2")
    SQSDeadLetters(sqs).move(record, dead_letter_attributes(record, ["malformed_event"]))
    assert queue.depth() == (0, 0)  # deleted from the queue

    letters = {letter.moved_by: letter for letter in list_dead_letters(dlq, None)}
    assert set(letters) == {"courier", "sqs"}
    ours = letters["courier"]
    assert (ours.reason, ours.receive_count, ours.original_id) == ("malformed_event", 1, received["MessageId"])
    assert ours.sent_at_ms == int(received["Attributes"]["SentTimestamp"])
    # `dlq delete --message-id` takes the id the logs and the sender know as well as the DLQ's own.
    assert delete_dead_letters(dlq, None, [received["MessageId"]], dry_run=True).deleted == [ours.message_id]

    assert redrive(dlq, queue).moved == 2
    back = {m["Body"]: m.get("MessageAttributes", {}) for m in queue.receive(10, 30)}
    assert back["not an S3 event"] == {"origin": {"StringValue": "uploader-7", "DataType": "String"}}
