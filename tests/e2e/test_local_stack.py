"""The whole pipeline on the local stack: upload, deliver, archive, drill faults."""

from __future__ import annotations

import hashlib
import json
import tarfile

from conftest import admin, delivered_files, wait_until
from courier.adapters.s3 import SHA256_METADATA

AWKWARD_KEYS = [
    "plain.json",
    "with space.json",
    "plus+sign.json",
    "percent%20.json",
    "unicodé/日本語.json",
    "deep/a/b/c/d.json",
    "a",
    "a/b",
]


def upload(stack, keys):
    s3 = stack.session.client("s3")
    sent = {}
    for i, key in enumerate(keys):
        body = json.dumps({"key": key, "i": i}).encode() * 50
        s3.put_object(Bucket=stack.resources.landing_bucket, Key=key, Body=body)
        sent[key] = body
    return sent


def distinct(stack) -> int:
    return stack.fake_nifi.state.stats()["distinct_files"]


def test_every_uploaded_file_is_delivered_exactly_once_and_archived(local_stack):
    sent = upload(local_stack, AWKWARD_KEYS)
    assert wait_until(lambda: distinct(local_stack) == len(sent), timeout=30)
    assert local_stack.drain(10)
    delivered = delivered_files(local_stack)
    assert {k: v for k, v in delivered.items()} == {k: [v] for k, v in sent.items()}

    s3 = local_stack.session.client("s3")
    archive = local_stack.resources.archive_bucket
    archived = {o["Key"] for o in s3.list_objects_v2(Bucket=archive, Prefix="bundles/").get("Contents", [])}
    journal = [json.loads(line) for line in (local_stack.state_dir / "received.jsonl").read_text().splitlines()]
    assert len(archived) == len(journal) == len(local_stack.fake_nifi.state.bundles)
    for entry in journal:
        (key,) = [k for k in archived if k.endswith(f"/{entry['sha256']}.tar.gz")]
        obj = s3.get_object(Bucket=archive, Key=key)
        body = obj["Body"].read()
        assert obj["Metadata"][SHA256_METADATA] == entry["sha256"] == hashlib.sha256(body).hexdigest()
        assert (local_stack.state_dir / "received" / f"{entry['sha256']}.tar.gz").read_bytes() == body
    assert local_stack.summary()["dlq"] == 0


def test_duplicate_s3_event_for_a_delivered_file_causes_no_second_delivery(local_stack):
    upload(local_stack, ["dup.json"])
    assert wait_until(lambda: distinct(local_stack) == 1, timeout=20)
    assert local_stack.drain(10)
    sqs = local_stack.session.client("sqs")
    # Replay the exact notification S3 sent (as S3's at-least-once delivery may).
    s3 = local_stack.session.client("s3")
    head = s3.head_object(Bucket=local_stack.resources.landing_bucket, Key="dup.json")
    body = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "eu-west-2",
                "eventTime": "2026-11-25T10:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": local_stack.resources.landing_bucket},
                    "object": {
                        "key": "dup.json",
                        "size": head["ContentLength"],
                        "eTag": head["ETag"].strip('"'),
                        "versionId": head["VersionId"],  # the landing bucket is versioned: S3 names the version
                        "sequencer": "0055AED6DCD90281E5",
                    },
                },
            }
        ]
    }
    sqs.send_message(QueueUrl=local_stack.resources.queue_url, MessageBody=json.dumps(body))
    assert wait_until(lambda: local_stack.poller.stats.snapshot()["messages_deleted"] >= 2, timeout=20)
    assert local_stack.drain(10)
    stats = local_stack.fake_nifi.state.stats()
    assert stats["bundles_received"] == 1 and stats["duplicate_deliveries"] == 0


def test_unavailable_then_reject_hash_faults_retry_until_delivered(local_stack):
    local_stack.fake_nifi.state.set_mode("unavailable")
    sent = upload(local_stack, [f"outage-{i}.json" for i in range(5)])
    assert wait_until(lambda: local_stack.fake_nifi.state.responses[503] >= 1, timeout=20)
    local_stack.fake_nifi.state.set_mode("reject-hash")
    assert wait_until(lambda: local_stack.fake_nifi.state.responses[422] >= 1, timeout=20)
    assert distinct(local_stack) == 0
    local_stack.fake_nifi.state.set_mode("ok")
    assert wait_until(lambda: distinct(local_stack) == len(sent), timeout=40)
    assert local_stack.drain(10)
    assert {k: v[0] for k, v in delivered_files(local_stack).items()} == sent
    summary_dlq = local_stack.depths()[2]
    assert summary_dlq == 0


def test_a_key_written_three_times_is_delivered_once_per_version_and_a_reannouncement_adds_nothing(local_stack):
    s3 = local_stack.session.client("s3")
    bucket = local_stack.resources.landing_bucket
    versions = {
        s3.put_object(Bucket=bucket, Key="thrice.json", Body=f"version {i}".encode())["VersionId"]: f"version {i}".encode()
        for i in range(3)
    }
    assert wait_until(lambda: len(delivered_files(local_stack).get("thrice.json", [])) == 3, timeout=30)
    assert sorted(delivered_files(local_stack)["thrice.json"]) == sorted(versions.values())
    bundles_before = len(local_stack.fake_nifi.state.bundles)
    # S3 announcing one version again, exactly as AWS shapes the notification.
    version_id = next(iter(versions))
    head = s3.head_object(Bucket=bucket, Key="thrice.json", VersionId=version_id)
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "eu-west-2",
        "eventTime": "2026-11-26T10:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "courier",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {
                "key": "thrice.json",
                "size": head["ContentLength"],
                "eTag": head["ETag"].strip('"'),
                "versionId": version_id,
                "sequencer": "0055AED6DCD90281E5",
            },
        },
    }
    local_stack.session.client("sqs").send_message(
        QueueUrl=local_stack.resources.queue_url, MessageBody=json.dumps({"Records": [record]})
    )
    assert wait_until(lambda: local_stack.drain(1), timeout=20)
    assert len(local_stack.fake_nifi.state.bundles) == bundles_before and len(delivered_files(local_stack)["thrice.json"]) == 3


def admin_fault(stack, mode: str) -> dict:
    """What an operator does with curl: POST /admin/fault on the receiver's HTTPS admin API, with the admin token."""
    return admin(stack.state_dir, "/admin/fault", {"mode": mode})


def test_a_lost_acknowledgement_is_resent_as_the_same_bundle(local_stack):
    from typer.testing import CliRunner

    from courier.cli import app

    assert admin_fault(local_stack, "ack-lost") == {"mode": "ack-lost"}
    sent = upload(local_stack, [f"acklost/{i}.json" for i in range(5)])
    assert wait_until(lambda: local_stack.fake_nifi.state.stats()["files_received"] >= len(sent), timeout=30)
    admin_fault(local_stack, "ok")
    assert wait_until(lambda: local_stack.summary()["lost"] == 0 and local_stack.drain(1), timeout=60), local_stack.summary()

    result = CliRunner().invoke(app, ["status", "--json", "--state-dir", str(local_stack.state_dir)])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["files_delivered"] == len(sent) and status["files_in_several_bundles"] == 0
    assert status["duplicate_deliveries"] >= 1  # NiFi stored the first copies; its DetectDuplicate drops the resends
    bundles_of = {}
    for path in local_stack.fake_nifi.state.received_dir.glob("*.tar.gz"):
        with tarfile.open(path, "r:gz") as tar:
            for entry in json.load(tar.extractfile("manifest.json"))["files"]:
                bundles_of.setdefault(entry["key"], set()).add(path.name)
    assert {key: len(names) for key, names in bundles_of.items()} == {key: 1 for key in sent}
