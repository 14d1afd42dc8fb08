"""A poison message reaches the DLQ with its reason; `courier dlq` shows it and redrives it."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import wait_until
from courier.resources import MAX_RECEIVE_COUNT


def courier(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "courier", *args], capture_output=True, text=True, timeout=120)


def test_poison_message_lands_in_the_dlq_with_its_reason_and_is_redriven(stack_factory):
    stack = stack_factory(visibility_timeout_seconds=1)
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
    assert wait_until(lambda: stack.depths()[2] == 1, timeout=60)  # after maxReceiveCount receives
    assert stack.poller.stats.receive_counts[poison_id] == MAX_RECEIVE_COUNT  # no sooner than the policy says

    state = str(stack.state_dir)
    listed = courier("dlq", "list", "--json", "--state-dir", state)
    assert listed.returncode == 0, listed.stderr
    (entry,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert entry["message_id"] == poison_id and entry["reason"] == "object_missing"
    assert entry["objects"] == [f"s3://{stack.resources.landing_bucket}/never+existed.json"]
    assert "no longer exists" in entry["detail"]

    dry = courier("dlq", "redrive", "--dry-run", "--state-dir", state)
    assert dry.returncode == 0 and poison_id in dry.stdout and stack.depths()[2] == 1

    # Fix the cause (the object appears), then redrive: it is delivered.
    stack.poller.stop()  # hold consumption so the moved message can be seen on the main queue
    s3.put_object(Bucket=stack.resources.landing_bucket, Key="never+existed.json", Body=b"now")
    moved = courier("dlq", "redrive", "--max", "5", "--state-dir", state)
    assert moved.returncode == 0 and "moved 1 message back" in moved.stdout, moved.stderr
    assert stack.depths()[2] == 0
    bodies = [
        m["Body"] for m in sqs.receive_message(QueueUrl=stack.resources.queue_url, MaxNumberOfMessages=10).get("Messages", [])
    ]
    assert json.dumps(body) in bodies
