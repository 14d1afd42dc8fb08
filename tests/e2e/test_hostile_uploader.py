"""One hostile uploader beside honest ones, on the local stack: nobody else's delivery stalls or is corrupted.

While honest files arrive at a steady rate, the hostile side lands cold-storage objects in groups (their GETs
fail), a notification with a forged size for an honest revision, a notification naming an object outside the
landing bucket (an archived bundle under the archive's ``bundles/``), and keys made to hurt: rich markup,
ESC/OSC 8 sequences, U+2028, a 255-byte name that is also another key's directory, a case-only pair.

A message that can never succeed (a cold object, a foreign bucket) is moved to the DLQ by courier on its first
failure (``courier.dead_letter``); the test waits for the DLQ to hold them all.

Where the emulator evaluates the landing bucket's put guard (``provision.emulator_evaluates_put_guard``) a cold
PUT is refused by the bucket policy; the test then checks that refusal and lands the cold objects with the policy
lifted for a moment (objects from before the policy, or a bucket managed elsewhere), so the aggregator's own
per-object handling is exercised in both cases.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import delivered_files, wait_until
from courier.adapters.breaker import DynamoDBBreakerTable
from courier.local import iam
from courier.local.provision import emulator_evaluates_put_guard
from courier.operator.slo import SLO_P95_SECONDS, local_latencies, summarise
from courier.operator.status import breaker_state
from courier.resources import landing_put_guard

pytestmark = pytest.mark.e2e

FORGED_SIZE = 53_687_091_200  # 50 GiB: above the ceiling, beyond any budget
LONG_NAME = "n" * 251 + ".csv"  # 255 bytes: at the file-system limit before any suffix
HOSTILE_KEYS = [
    "markup/[/]closing.json",
    "markup/[bold]loud[/bold] [link=http://evil.example]x[/link].json",
    "ctrl/clear\x1b[2J\x1b[H.json",
    "ctrl/title\x1b]0;owned\x07.json",
    "ctrl/osc8 \x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\.json",
    "sep/line\u2028separator\u2029para\x85next.json",
    f"clash/{LONG_NAME}",
    f"clash/{LONG_NAME}/inner.csv",
    "case/A.csv",
    "case/a.csv",
]
COLD = [("GLACIER", 0), ("DEEP_ARCHIVE", 1), ("GLACIER", 2)]  # (storage class, group)
COLD_KEYS = ["cold/[/]g{g}-{i} \x1b[31mred\x1b[0m\u2028.json", "cold/[bold]g{g}-{i}[/bold].json", "cold/plain-g{g}-{i}.json"]


def record(bucket: str, key: str, size: int, etag: str, version: str | None) -> dict:
    obj = {"key": key, "size": size, "eTag": etag, "sequencer": "0055AED6DCD90281E5"}
    if version:
        obj["versionId"] = version
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "eu-west-2",
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}, "object": obj},
    }


def courier(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "courier", *args]
    env = {**os.environ, "COLUMNS": "400"}  # wide: an escaped key is not wrapped mid-escape
    return subprocess.run(command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=env)


def assert_inert(output: str) -> None:
    """Nothing from outside reaches the terminal as a control: no ESC/BEL, no line or paragraph separator."""
    for raw in ("\x1b", "\x07", "\u2028", "\u2029", "\x85"):
        assert raw not in output, f"{raw!r} reached the terminal: {output!r}"


def put_cold(stack, key: str, storage_class: str) -> None:
    s3 = stack.session.client("s3")
    bucket = stack.resources.landing_bucket
    body = b'{"cold": true}'
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, StorageClass=storage_class)
    except ClientError as exc:
        # The landing bucket's put guard stands only where the emulator evaluates it.
        assert emulator_evaluates_put_guard({"Version": "2012-10-17", "Statement": landing_put_guard(f"arn:aws:s3:::{bucket}")})
        # AWS answers AccessDenied; moto's bucket-policy refusal is a bare 403.
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403, exc.response
        iam.take_denials()  # refused on purpose
        policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
        s3.delete_bucket_policy(Bucket=bucket)
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body, StorageClass=storage_class)
        finally:
            s3.put_bucket_policy(Bucket=bucket, Policy=policy)


def extracts_everywhere(bundle: Path, into: Path) -> None:
    with tarfile.open(bundle, "r:gz") as tar:
        tar.extractall(into / "python", filter="data")
    gnu = shutil.which("tar")
    assert gnu, "GNU tar is part of the test environment"
    (into / "gnu").mkdir()
    result = subprocess.run([gnu, "-xzf", str(bundle), "-C", str(into / "gnu")], capture_output=True, text=True)
    assert result.returncode == 0, f"GNU tar failed on {bundle.name}: {result.stderr}"


def test_a_hostile_uploader_neither_stalls_nor_corrupts_anyone_elses_delivery(stack_factory, tmp_path):
    stack = stack_factory(visibility_timeout_seconds=2)
    s3 = stack.session.client("s3")
    sqs = stack.session.client("sqs")
    landing, archive = stack.resources.landing_bucket, stack.resources.archive_bucket
    breaker_table = DynamoDBBreakerTable(stack.session.client("dynamodb"), stack.resources.breaker_table)
    states: set[str] = set()

    uploader = stack.start_demo(rate=2, size=4000, seed=21)
    assert wait_until(lambda: stack.fake_nifi.state.stats()["distinct_files"] >= 2, timeout=30)

    # Honest files with hostile names (an uploader may name its files anything S3 takes).
    honest: dict[str, bytes] = {}
    for i, key in enumerate(HOSTILE_KEYS):
        body = json.dumps({"i": i}).encode()
        s3.put_object(Bucket=landing, Key=key, Body=body)
        honest[key] = body

    # A forged size for an honest revision, sent at once so both messages meet in one batch.
    target = s3.put_object(Bucket=landing, Key="forged/target.json", Body=b'{"honest": true}')
    honest["forged/target.json"] = b'{"honest": true}'
    forged = record(landing, "forged/target.json", FORGED_SIZE, target["ETag"].strip('"'), target["VersionId"])
    forged_id = sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=json.dumps({"Records": [forged]}))["MessageId"]

    # A notification naming an archived bundle: an object the aggregator's role could read, outside the landing bucket.
    assert wait_until(lambda: s3.list_objects_v2(Bucket=archive, Prefix="bundles/").get("KeyCount", 0) > 0, timeout=30)
    foreign = s3.list_objects_v2(Bucket=archive, Prefix="bundles/")["Contents"][0]
    foreign_record = record(archive, foreign["Key"], foreign["Size"], foreign["ETag"].strip('"'), None)
    foreign_id = sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=json.dumps({"Records": [foreign_record]}))[
        "MessageId"
    ]

    # Cold objects in groups, a few seconds apart, while the honest traffic goes on.
    cold_keys: list[str] = []
    for storage_class, group in COLD:
        for i, pattern in enumerate(COLD_KEYS):
            key = pattern.format(g=group, i=i)
            put_cold(stack, key, storage_class)
            cold_keys.append(key)
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            states.add(breaker_state(breaker_table))
            time.sleep(0.5)

    # Until every hostile message is in the DLQ, the circuit must stay CLOSED.
    expected_dlq = len(cold_keys) + 1

    def hostile_parked() -> bool:
        states.add(breaker_state(breaker_table))
        return stack.depths()[2] >= expected_dlq

    assert wait_until(hostile_parked, timeout=150, interval=0.5), (stack.depths(), stack.summary())
    uploader.stop()
    assert wait_until(lambda: (states.add(breaker_state(breaker_table)), stack.summary()["lost"] == 0)[1], timeout=60), (
        stack.summary()
    )
    assert stack.drain(30)
    states.add(breaker_state(breaker_table))
    assert states == {"CLOSED"}, states

    # Every honest file exactly once, in one distinct bundle, with its bytes; the foreign object never.
    summary = stack.summary()
    assert summary["uploaded"] >= 20 and summary["delivered"] == summary["uploaded"] and summary["duplicated"] == 0
    delivered = delivered_files(stack)
    for key, body in honest.items():
        assert delivered.get(key) == [body], key
    assert not any(key.startswith("cold/") for key in delivered)
    assert foreign["Key"] not in delivered
    bundles_of: dict[str, set[str]] = {}
    for path in stack.fake_nifi.state.received_dir.glob("*.tar.gz"):
        with tarfile.open(path, "r:gz") as tar:
            for entry in json.load(tar.extractfile("manifest.json"))["files"]:
                assert entry["bucket"] == landing
                bundles_of.setdefault(entry["key"], set()).add(path.name)
    assert all(len(names) == 1 for names in bundles_of.values())

    # Latency of every delivered file within the local target (the SLO's 2 minutes), hostile traffic notwithstanding.
    latency = summarise(local_latencies(stack.state_dir))
    assert latency["slo_met"] and latency["seconds"]["max"] <= SLO_P95_SECONDS, latency

    # Every bundle NiFi received extracts whole, with Python's data filter and with GNU tar.
    received = sorted((stack.state_dir / "received").glob("*.tar.gz"))
    assert received
    for n, bundle in enumerate(received):
        extracts_everywhere(bundle, tmp_path / f"x{n}")

    # The hostile messages are in the DLQ, each with its own reason; the forged one was never a failure.
    state = str(stack.state_dir)
    listed = courier("dlq", "list", "--json", "--state-dir", state)
    assert listed.returncode == 0, listed.stderr
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    # Courier moved them at once (they can never succeed): each under a new DLQ id, its queue id kept beside it.
    by_id = {e["original_message_id"] or e["message_id"]: e for e in entries}
    assert forged_id not in by_id
    assert by_id[foreign_id]["reason"] == "foreign_bucket"
    cold_entries = [e for origin, e in by_id.items() if origin != foreign_id]
    assert sorted(o for e in cold_entries for o in e["objects"]) == sorted(f"s3://{landing}/{k}" for k in cold_keys)
    assert {e["reason"] for e in cold_entries} == {"object_unreadable"}
    assert all("InvalidObjectState" in e["detail"] for e in cold_entries), cold_entries

    table = courier("dlq", "list", "--state-dir", state)
    assert table.returncode == 0, table.stderr
    assert_inert(table.stdout + table.stderr)
    assert "[/]g0-0" in table.stdout and "\\x1b[31mred" in table.stdout and "foreign_bucket" in table.stdout

    # trace tells each story without letting a key act on the terminal: a cold file failed, an odd honest one
    # delivered (its index line holds U+2028). Keys with ESC are left to the unit tests of the rendering: the
    # emulator answers 500 to a version listing whose prefix holds one (docs/local-stack.md, "Honest limits").
    failed = courier("trace", f"s3://{landing}/{cold_keys[1]}", "--state-dir", state)
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert_inert(failed.stdout + failed.stderr)
    assert "object_unreadable" in failed.stdout and "[bold]g0-1[/bold]" in failed.stdout
    for key in ("sep/line\u2028separator\u2029para\x85next.json", "markup/[/]closing.json"):
        told = courier("trace", f"s3://{landing}/{key}", "--state-dir", state)
        assert told.returncode == 0, told.stdout + told.stderr
        assert_inert(told.stdout + told.stderr)
