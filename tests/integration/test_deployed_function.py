"""`--function` against a deployed stack, emulated: the function, its queue and its mapping made through the real APIs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from courier.cli import app
from courier.cli._context import Context
from courier.operator.backfill import notification
from courier.ports import Revision
from support import deploy_function

NAME = "courier-prod-aggregator"


def _deploy(aws: Any, environment: dict[str, str]) -> dict[str, str]:
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName="courier-prod-queue")["QueueUrl"]
    sqs.create_queue(QueueName="courier-prod-dlq")
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    deploy_function(aws, NAME, environment)
    uuid = aws.client("lambda").create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=NAME, BatchSize=100)["UUID"]
    return {"queue_url": queue_url, "queue_arn": queue_arn, "uuid": uuid}


@pytest.fixture
def deployed(aws: Any, clean_courier_env) -> dict[str, str]:
    return _deploy(
        aws,
        {
            "COURIER_ARCHIVE_BUCKET": "courier-prod-archive",
            "COURIER_NIFI_URL": "https://nifi.prod.example:9443/contentListener",
            "COURIER_IDEMPOTENCY_TABLE": "courier-prod-idempotency",
            "COURIER_NIFI_CA_BUNDLE": "/var/task/nifi-ca.pem",
        },
    )


@pytest.fixture
def deployed_on_stack(aws: Any, stack: Any, clean_courier_env) -> dict[str, str]:
    """A deployed aggregator whose settings name the emulated stack's archive and ledger, polling its own queue."""
    environment = {
        "COURIER_ARCHIVE_BUCKET": stack.archive_bucket,
        "COURIER_NIFI_URL": "https://nifi.prod.example:9443/contentListener",
        "COURIER_IDEMPOTENCY_TABLE": stack.idempotency_table,
    }
    return _deploy(aws, environment)


def _bodies(aws: Any, queue_url: str) -> list[dict[str, Any]]:
    messages = aws.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_the_context_is_the_deployed_functions(deployed, tmp_path):
    context = Context.for_operator(tmp_path, NAME, None, "eu-west-2", environ={})
    settings = context.settings()
    assert settings.archive_bucket == "courier-prod-archive" and settings.nifi_ca_bundle is None
    assert context.mapping_uuid() == deployed["uuid"]
    queue, dlq = context.queues()
    assert queue.url == deployed["queue_url"] and dlq.url.endswith("/courier-prod-dlq")


def test_dlq_redrive_dry_run_by_function(deployed, tmp_path):
    result = CliRunner().invoke(
        app, ["dlq", "redrive", "--dry-run", "--state-dir", str(tmp_path), "--function", NAME, "--region", "eu-west-2"]
    )
    assert result.exit_code == 0, result.output
    assert f"using the deployed function {NAME} (region eu-west-2" in result.stderr


def test_trace_takes_the_deployed_functions_settings_from_courier_function(aws, stack, deployed_on_stack, tmp_path, monkeypatch):
    s3 = aws.client("s3")
    s3.put_object(Bucket=stack.landing_bucket, Key="in/a.csv", Body=b"a")
    version = s3.list_object_versions(Bucket=stack.landing_bucket, Prefix="in/a.csv")["Versions"][0]
    revision = Revision("in/a.csv", version["VersionId"], 1, version["ETag"].strip('"'), version["LastModified"])
    dlq_url = aws.client("sqs").get_queue_url(QueueName="courier-prod-dlq")["QueueUrl"]  # COURIER_NAME from the function's name
    aws.client("sqs").send_message(QueueUrl=dlq_url, MessageBody=json.dumps(notification(stack.landing_bucket, revision)))
    monkeypatch.setenv("COURIER_FUNCTION", NAME)
    url = f"s3://{stack.landing_bucket}/in/a.csv"

    result = CliRunner().invoke(app, ["trace", url, "--state-dir", str(tmp_path), "--region", "eu-west-2"])
    assert result.exit_code == 3, result.output
    assert "in the DLQ" in result.stdout and f"using the deployed function {NAME} (region eu-west-2" in result.stderr
    assert aws.client("sqs").receive_message(QueueUrl=dlq_url).get("Messages")  # peeked at: still there, visible


def test_backfill_sends_to_the_deployed_queue_and_skips_revisions_tagged_delivered(aws, stack, deployed_on_stack, tmp_path):
    s3 = aws.client("s3")
    for i in range(3):
        s3.put_object(Bucket=stack.landing_bucket, Key=f"old/{i}.csv", Body=b"x")
    delivered = s3.list_object_versions(Bucket=stack.landing_bucket, Prefix="old/1.csv")["Versions"][0]["VersionId"]
    s3.put_object_tagging(
        Bucket=stack.landing_bucket,
        Key="old/1.csv",
        VersionId=delivered,
        Tagging={"TagSet": [{"Key": "courier-delivered", "Value": "true"}]},
    )
    args = ["backfill", "--prefix", "old/", "--rate", "1000", "--state-dir", str(tmp_path), "--function", NAME]

    unnamed = CliRunner().invoke(app, [*args, "--region", "eu-west-2"])
    assert unnamed.exit_code == 1 and "give --bucket" in unnamed.stderr and "rerun" not in unnamed.output
    result = CliRunner().invoke(app, [*args, "--region", "eu-west-2", "--bucket", stack.landing_bucket])
    assert result.exit_code == 0, result.output
    keys = sorted(b["Records"][0]["s3"]["object"]["key"] for b in _bodies(aws, deployed_on_stack["queue_url"]))
    assert keys == ["old/0.csv", "old/2.csv"]
    (row,) = [line for line in result.stdout.splitlines() if "landing tag" in line]
    assert row.split()[-2] == "1", result.stdout
