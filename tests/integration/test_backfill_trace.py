"""courier backfill and courier trace against moto: the listing, the inventory, the queue, the ledger, the index, the DLQ."""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys

import pytest
from typer.testing import CliRunner

from courier.cli import app
from courier.operator.backfill import notification
from courier.ports import Revision

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def courier(*args):
    return runner.invoke(app, list(args))


def test_backfill_announces_each_revision_once_and_trace_tells_each_exit_path(
    runtime, land, queued, aws, stack, cli_env, tmp_path
):
    keys = [f"old/{i:02d} file+{i}.json" for i in range(12)]
    for key in keys:
        land(key, key.encode())
    land(keys[0], b"a second revision")  # noncurrent versions are announced too
    queued()  # moto's own events (and its TestEvent): taken off the queue unprocessed, as if notifications were off
    state = str(tmp_path / "state")

    first = courier("backfill", "--prefix", "old/", "--rate", "1000", "--state-dir", state)
    assert first.exit_code == 0, first.output
    messages = queued()
    assert len(messages) == 13 and "enqueued" in first.output
    result = runtime.aggregator.process(messages)
    assert result.returned == [] and len(result.delivered) == 13

    again = courier("backfill", "--prefix", "old/", "--rate", "1000", "--state-dir", state)
    assert again.exit_code == 0 and queued() == []  # after the checkpoint: nothing left
    restarted = courier("backfill", "--prefix", "old/", "--restart", "--rate", "1000", "--state-dir", state)
    assert restarted.exit_code == 0 and queued() == [], restarted.output
    (line,) = [row for row in restarted.output.splitlines() if "already delivered (ledger)" in row]
    assert "13" in line  # told apart through the ledger, not sent

    shown = courier("trace", f"s3://{stack.landing_bucket}/{keys[0]}", "--state-dir", state)
    print(f"$ courier trace  # exit {shown.exit_code}\n{shown.stdout}", file=sys.__stderr__)  # the README's excerpt
    told = courier("trace", f"s3://{stack.landing_bucket}/{keys[3]}", "--json", "--state-dir", state)
    assert told.exit_code == 0, told.output
    story = json.loads(told.stdout.splitlines()[-1])
    assert story["verdict"] == "delivered" and story["bundles"][0]["delivered"] and story["ledger"][0]["status"] == "COMPLETE"

    dynamodb = aws.client("dynamodb")  # the ledger's TTL has passed: the archive index still tells
    for item in dynamodb.scan(TableName=stack.idempotency_table)["Items"]:
        dynamodb.delete_item(TableName=stack.idempotency_table, Key={k: item[k] for k in ("object_name", "revision")})
    late = courier("trace", f"s3://{stack.landing_bucket}/{keys[3]}", "--json", "--state-dir", state)
    late_story = json.loads(late.stdout.splitlines()[-1])
    assert late.exit_code == 0 and late_story["bundles_found_through"] == "archive index" and late_story["ledger"] == []
    assert late_story["bundles"][0]["key"] == story["bundles"][0]["key"]

    land("new/pending.json", b"x")
    queued()  # announced but never processed
    pending = courier("trace", f"s3://{stack.landing_bucket}/new/pending.json", "--state-dir", state)
    assert pending.exit_code == 2, pending.output
    assert "not delivered yet" in pending.output

    poison = notification(stack.landing_bucket, Revision("new/pending.json", None, 1, "e", story_time(story)))
    aws.client("sqs").send_message(QueueUrl=stack.dlq_url, MessageBody=json.dumps(poison))
    failed = courier("trace", f"s3://{stack.landing_bucket}/new/pending.json", "--state-dir", state)
    assert failed.exit_code == 3 and "in the DLQ" in failed.output, failed.output
    print(f"$ courier trace  # exit {failed.exit_code}\n{failed.stdout}", file=sys.__stderr__)

    # A key nobody uploaded: its own line and exit code, told apart from "not delivered yet" (the uploader's problem).
    never = courier("trace", f"s3://{stack.landing_bucket}/new/never-uploaded.json", "--state-dir", state)
    assert never.exit_code == 6 and "never landed: no revision in the bucket" in never.output, never.output


def story_time(story):
    from datetime import datetime

    return datetime.fromisoformat(story["revisions"][0]["last_modified"])


def test_backfill_reads_a_csv_inventory_report(aws, stack, queued, cli_env, tmp_path):
    s3 = aws.client("s3")
    landed = [s3.put_object(Bucket=stack.landing_bucket, Key=f"inv/{i}.csv", Body=b"x" * i) for i in range(1, 4)]
    queued()
    versions = s3.list_object_versions(Bucket=stack.landing_bucket, Prefix="inv/")["Versions"]
    rows = io.StringIO()
    writer = csv.writer(rows)
    for v in versions:
        modified = v["LastModified"].strftime("%Y-%m-%dT%H:%M:%S.000Z")
        writer.writerow(
            [stack.landing_bucket, v["Key"].replace("/", "%2F"), v["VersionId"], "true", "false", v["Size"], modified, v["ETag"]]
        )
    s3.put_object(Bucket=stack.archive_bucket, Key="inventory/data/1.csv.gz", Body=gzip.compress(rows.getvalue().encode()))
    manifest = {
        "sourceBucket": stack.landing_bucket,
        "destinationBucket": f"arn:aws:s3:::{stack.archive_bucket}",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag",
        "files": [{"key": "inventory/data/1.csv.gz", "size": 1, "MD5checksum": "x"}],
    }
    s3.put_object(Bucket=stack.archive_bucket, Key="inventory/manifest.json", Body=json.dumps(manifest).encode())
    url = f"s3://{stack.archive_bucket}/inventory/manifest.json"

    result = courier("backfill", "--inventory", url, "--rate", "1000", "--state-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    bodies = [json.loads(m["body"]) for m in queued()]
    got = {(b["Records"][0]["s3"]["object"]["key"], b["Records"][0]["s3"]["object"]["versionId"]) for b in bodies}
    assert got == {(f"inv/{i}.csv", r["VersionId"]) for i, r in zip(range(1, 4), landed, strict=True)}

    manifest["fileFormat"] = "Parquet"
    s3.put_object(Bucket=stack.archive_bucket, Key="inventory/manifest.json", Body=json.dumps(manifest).encode())
    refused = courier("backfill", "--inventory", url, "--state-dir", str(tmp_path))
    assert refused.exit_code == 1 and "only CSV" in refused.output
