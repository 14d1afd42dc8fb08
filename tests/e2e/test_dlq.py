"""A poison message reaches the DLQ with its reason; `courier dlq` shows it, redrives it and deletes what is understood.

What can never succeed (a missing object, a malformed body) is moved by courier itself on its first failure
(``courier.dead_letter``), under the function's own IAM policy (the fixture fails the test on any denial).
"""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import wait_until
from courier.dead_letter import FIRST_RECEIVE_MS, REASONS


def courier(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "courier", *args]  # stdin not a terminal, as in a script
    return subprocess.run(command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_poison_message_lands_in_the_dlq_with_its_reason_and_is_redriven(stack_factory):
    # A visibility timeout well above an invocation's time: shorter, the message reappears while its first
    # receive is still being dead-lettered, and the delete by that receive's (stale) handle is a no-op, as in SQS.
    stack = stack_factory(visibility_timeout_seconds=60)
    sqs = stack.session.client("sqs")
    s3 = stack.session.client("s3")
    # An object that never existed: the message can never succeed.
    body = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventTime": "2026-11-25T10:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": stack.resources.landing_bucket},
                    "object": {"key": "never%2Bexisted.json", "size": 3, "eTag": "abc"},
                },
            }
        ]
    }
    poison_id = sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=json.dumps(body))["MessageId"]
    s3.put_object(Bucket=stack.resources.landing_bucket, Key="healthy.json", Body=b"{}")  # batch-mate, must not be held back
    assert wait_until(lambda: stack.fake_nifi.state.stats()["distinct_files"] == 1, timeout=20)
    assert wait_until(lambda: stack.depths()[2] == 1, timeout=60)
    assert stack.poller.stats.receive_counts[poison_id] == 1  # moved by courier on its first failure

    state = str(stack.state_dir)
    listed = courier("dlq", "list", "--json", "--state-dir", state)
    assert listed.returncode == 0, listed.stderr
    (entry,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert entry["original_message_id"] == poison_id and entry["moved_by"] == "courier"
    assert entry["reason"] == "object_missing"
    assert entry["objects"] == [f"s3://{stack.resources.landing_bucket}/never+existed.json"]
    assert "no longer exists" in entry["detail"]

    dry = courier("dlq", "redrive", "--dry-run", "--state-dir", state)
    assert dry.returncode == 0 and entry["message_id"] in dry.stdout and stack.depths()[2] == 1

    # The file is uploaded: its own event delivers it, whatever becomes of the poison message (see dlq.md).
    s3.put_object(Bucket=stack.resources.landing_bucket, Key="never+existed.json", Body=b"now")
    assert wait_until(lambda: stack.fake_nifi.state.stats()["distinct_files"] == 2, timeout=20)
    stack.poller.stop()  # hold consumption so the moved message can be seen on the main queue
    # Plain redrive, as the runbook writes it: the emulator has no message move task, so it moves by hand.
    unasked = courier("dlq", "redrive", "--state-dir", state)  # no terminal, no --yes: the plan, and nothing moved
    assert unasked.returncode == 1 and "give --yes" in unasked.stderr and stack.depths()[2] == 1, unasked.stderr
    assert f"about to move ~1 message(s) from the DLQ {stack.resources.dlq_url}" in unasked.stderr
    moved = courier("dlq", "redrive", "--yes", "--state-dir", state)
    assert moved.returncode == 0 and "moved 1 message back" in moved.stdout, moved.stderr
    assert stack.depths()[2] == 0
    back = sqs.receive_message(QueueUrl=stack.resources.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    (redriven,) = [m for m in back.get("Messages", []) if m["Body"] == json.dumps(body)]
    assert "MessageAttributes" not in redriven  # courier's attributes stripped; the original had none

    # A body nobody can parse, straight into the DLQ: `dlq delete` removes it without an SQS console.
    junk_id = sqs.send_message(QueueUrl=stack.resources.dlq_url, MessageBody="not an S3 event")["MessageId"]
    dry = courier("dlq", "delete", "--all-reason", "malformed_event", "--dry-run", "--state-dir", state)
    assert dry.returncode == 0 and f"would delete 1 message from the DLQ: {junk_id}" in dry.stdout, dry.stderr
    assert stack.depths()[2] == 1
    unasked = courier("dlq", "delete", "--message-id", junk_id, "--state-dir", state)
    assert unasked.returncode == 1 and "about to delete 1 message(s) for good" in unasked.stderr and stack.depths()[2] == 1
    deleted = courier("dlq", "delete", "--message-id", junk_id, "--yes", "--state-dir", state)
    assert deleted.returncode == 0 and f"deleted 1 message from the DLQ: {junk_id}" in deleted.stdout, deleted.stderr
    assert stack.depths()[2] == 0


def test_a_malformed_message_is_in_the_dlq_within_one_visibility_timeout_of_its_first_receive(local_stack):
    stack = local_stack
    sqs = stack.session.client("sqs")
    timeout = stack.config.visibility_timeout_seconds
    sent = sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody="{not json")["MessageId"]
    assert wait_until(lambda: stack.depths()[2] == 1, timeout=4 * timeout)
    (moved,) = sqs.receive_message(
        QueueUrl=stack.resources.dlq_url, AttributeNames=["All"], MessageAttributeNames=["All"], VisibilityTimeout=0
    )["Messages"]
    assert moved["Body"] == "{not json" and moved["MessageAttributes"][REASONS]["StringValue"] == "malformed_event"
    assert stack.poller.stats.receive_counts[sent] == 1  # never received again: nothing waited for maxReceiveCount
    first_receive_ms = int(moved["MessageAttributes"][FIRST_RECEIVE_MS]["StringValue"])
    assert 0 <= int(moved["Attributes"]["SentTimestamp"]) - first_receive_ms < timeout * 1000
    listed = courier("dlq", "list", "--json", "--state-dir", str(stack.state_dir))
    (entry,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (entry["message_id"], entry["reason"], entry["moved_by"]) == (moved["MessageId"], "malformed_event", "courier")
