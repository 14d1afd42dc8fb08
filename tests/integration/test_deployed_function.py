"""`--function` against a deployed stack, emulated: the function, its queue and its mapping made through the real APIs."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from typer.testing import CliRunner

from courier.cli import app
from courier.cli._context import Context

NAME = "courier-prod-aggregator"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("courier/handler.py", "def lambda_handler(event, context):\n    return {}\n")
    return buffer.getvalue()


@pytest.fixture
def deployed(aws: Any, clean_courier_env) -> dict[str, str]:
    role = aws.client("iam").create_role(
        RoleName=NAME,
        AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}',
    )["Role"]["Arn"]
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName="courier-prod-queue")["QueueUrl"]
    sqs.create_queue(QueueName="courier-prod-dlq")
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam = aws.client("lambda")
    lam.create_function(
        FunctionName=NAME,
        Runtime="python3.12",
        Role=role,
        Handler="courier.handler.lambda_handler",
        Code={"ZipFile": _zip()},
        Timeout=120,
        Environment={
            "Variables": {
                "COURIER_ARCHIVE_BUCKET": "courier-prod-archive",
                "COURIER_NIFI_URL": "https://nifi.prod.example:9443/contentListener",
                "COURIER_IDEMPOTENCY_TABLE": "courier-prod-idempotency",
                "COURIER_NIFI_CA_BUNDLE": "/var/task/nifi-ca.pem",
            }
        },
    )
    uuid = lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=NAME, BatchSize=100)["UUID"]
    return {"queue_url": queue_url, "queue_arn": queue_arn, "uuid": uuid}


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
