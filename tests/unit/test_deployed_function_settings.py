"""Operator commands against a deployed stack: settings from the aggregator's configuration, the caller's profile.

The Lambda API is botocore's Stubber on a real client, so the requests and answers have
the shapes AWS's service model gives them (GetFunctionConfiguration, ListEventSourceMappings).
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from courier.adapters.aws import session as aws_session
from courier.adapters.function import DeployedFunction
from courier.cli import app
from courier.cli._context import Context
from courier.cli._exit import ExitCode
from courier.errors import AwsCallError
from courier.resources import DLQ

runner = CliRunner()
NAME = "courier-prod-aggregator"
FUNCTION_ARN = f"arn:aws:lambda:eu-west-2:123456789012:function:{NAME}"
QUEUE_ARN = "arn:aws:sqs:eu-west-2:123456789012:courier-prod-queue"
UUID = "6d9bce8e-836b-442c-8070-74e77903c815"
ENVIRONMENT = {
    "COURIER_ARCHIVE_BUCKET": "courier-prod-archive-123456789012",
    "COURIER_NIFI_URL": "https://nifi.prod.example:9443/contentListener",
    "COURIER_NIFI_SECRET_ID": "courier-prod/nifi",
    "COURIER_NIFI_CA_BUNDLE": "/var/task/nifi-ca.pem",
    "COURIER_IDEMPOTENCY_TABLE": "courier-prod-idempotency",
    "COURIER_BREAKER_TABLE": "courier-prod-breaker",
    "COURIER_FUNCTION_TIMEOUT_SECONDS": "120",
    "POWERTOOLS_SERVICE_NAME": "courier-prod",
}
CONFIGURATION = {
    "FunctionName": NAME,
    "FunctionArn": FUNCTION_ARN,
    "Runtime": "python3.12",
    "Role": "arn:aws:iam::123456789012:role/courier-prod-aggregator",
    "Handler": "courier.handler.lambda_handler",
    "CodeSize": 5242880,
    "Timeout": 120,
    "MemorySize": 1024,
    "LastModified": "2026-11-20T09:12:44.000+0000",
    "Version": "$LATEST",
    "Environment": {"Variables": ENVIRONMENT},
    "State": "Active",
}
MAPPINGS = {
    "EventSourceMappings": [
        {
            "UUID": UUID,
            "BatchSize": 100,
            "MaximumBatchingWindowInSeconds": 5,
            "EventSourceArn": QUEUE_ARN,
            "FunctionArn": FUNCTION_ARN,
            "State": "Enabled",
            "StateTransitionReason": "USER_INITIATED",
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": 10},
        }
    ]
}


def lambda_client() -> Any:
    return boto3.client("lambda", region_name="eu-west-2", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x")


def stubbed(*, denied: bool = False) -> tuple[Any, Stubber]:
    client = lambda_client()
    stubber = Stubber(client)
    if denied:
        stubber.add_client_error(
            "get_function_configuration",
            service_error_code="AccessDeniedException",
            service_message=f"User: arn:aws:sts::123456789012:assumed-role/oncall/me is not authorized to perform: "
            f"lambda:GetFunctionConfiguration on resource: {FUNCTION_ARN}",
            http_status_code=403,
            expected_params={"FunctionName": NAME},
        )
    else:
        stubber.add_response("get_function_configuration", CONFIGURATION, {"FunctionName": NAME})
        stubber.add_response("list_event_source_mappings", MAPPINGS, {"FunctionName": NAME})
    stubber.activate()
    return client, stubber


class FakeSession:
    """What ``aws_session(profile, region)`` returns, with the Lambda client stubbed."""

    def __init__(self, profile: str | None, region: str | None, denied: bool) -> None:
        self.profile_name = profile or "default"
        self.region_name = region or "eu-west-2"
        self.denied = denied
        self.stubbers: list[Stubber] = []

    def client(self, service: str, endpoint_url: str | None = None) -> Any:
        assert service == "lambda", f"no {service} call expected"
        client, stubber = stubbed(denied=self.denied)
        self.stubbers.append(stubber)
        return client


class Sessions:
    """The sessions the commands made; ``denied`` makes their Lambda calls answer AccessDenied."""

    def __init__(self) -> None:
        self.made: list[FakeSession] = []
        self.denied = False

    def __call__(self, profile: str | None = None, region: str | None = None) -> FakeSession:
        self.made.append(FakeSession(profile, region, self.denied))
        return self.made[-1]


@pytest.fixture
def sessions(monkeypatch) -> Sessions:
    made = Sessions()
    monkeypatch.setattr("courier.cli._context.aws_session", made)
    return made


def test_the_settings_queue_and_mapping_come_from_the_functions_configuration():
    client, stubber = stubbed()
    deployed = DeployedFunction.read(client, NAME)
    stubber.assert_no_pending_responses()
    assert deployed.name == NAME and deployed.region == "eu-west-2"
    assert deployed.queue_arn == QUEUE_ARN and deployed.queue_name == "courier-prod-queue" and deployed.mapping_uuid == UUID
    assert deployed.environment["COURIER_ARCHIVE_BUCKET"] == "courier-prod-archive-123456789012"
    assert deployed.environment["COURIER_NAME"] == "courier-prod"  # from <name>-aggregator: the DLQ's and others' names
    assert "COURIER_NIFI_CA_BUNDLE" not in deployed.environment  # a path inside the function, not on the caller's machine
    assert "POWERTOOLS_SERVICE_NAME" not in deployed.environment


def test_a_command_context_takes_the_functions_settings_over_the_callers(sessions, clean_courier_env, tmp_path, capsys):
    context = Context.for_operator(tmp_path, NAME, "prod", "eu-west-2", environ={"COURIER_ARCHIVE_BUCKET": "stale-from-my-shell"})
    settings = context.settings()
    assert settings.archive_bucket == "courier-prod-archive-123456789012"
    assert settings.nifi_url == "https://nifi.prod.example:9443/contentListener"
    assert settings.idempotency_table == "courier-prod-idempotency"
    assert context.stack is None and context.queue_name() == "courier-prod-queue" and context.mapping_uuid() == UUID
    assert context.function_name() == NAME and context.aws_name(DLQ) == "courier-prod-dlq"
    assert (sessions.made[0].profile_name, sessions.made[0].region_name) == ("prod", "eu-west-2")
    assert capsys.readouterr().err.strip() == f"using the deployed function {NAME} (region eu-west-2, profile prod)"


def test_courier_function_is_read_as_a_setting(sessions, clean_courier_env, tmp_path):
    context = Context.for_operator(tmp_path, environ={"COURIER_FUNCTION": NAME})
    assert context.deployed is not None and context.deployed.name == NAME
    # ... by the operator commands only: the local stack's commands never go to the function's account.
    assert Context.load(tmp_path, environ={"COURIER_FUNCTION": NAME}).deployed is None
    assert not sessions.made[1:]


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["dlq", "list"],
        ["dlq", "redrive"],
        ["dlq", "delete", "--message-id", "m-1"],
        ["replay", "--bundle", "bundles/2026/11/25/10/abc.tar.gz"],
        ["archive", "verify"],
        ["trace", "s3://courier-prod-landing/in/a.csv"],
        ["backfill", "--bucket", "courier-prod-landing"],
    ],
)
def test_a_denied_call_is_one_line_naming_the_action(command, sessions, clean_courier_env, tmp_path):
    sessions.denied = True
    result = runner.invoke(app, [*command, "--state-dir", str(tmp_path), "--function", NAME, "--profile", "oncall"])
    assert result.exit_code == ExitCode.ERROR and isinstance(result.exception, SystemExit), result.output
    (line,) = result.stderr.strip().splitlines()
    assert line == (
        f"error: lambda:GetFunctionConfiguration on {NAME} was denied (AccessDeniedException): "
        "the caller lacks the permission for it"
    )


def test_the_callers_profile_and_region_make_the_session(tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.write_text("[profile prod]\nregion = eu-west-2\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    made = aws_session("prod")
    assert (made.profile_name, made.region_name) == ("prod", "eu-west-2")
    assert aws_session("prod", "us-east-1").region_name == "us-east-1"
    with pytest.raises(AwsCallError, match="the AWS profile 'staging' is not in ~/.aws/config"):
        aws_session("staging")


def test_an_unknown_profile_is_one_line(tmp_path, monkeypatch, clean_courier_env):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    result = runner.invoke(app, ["status", "--state-dir", str(tmp_path), "--profile", "prod"])
    assert result.exit_code == ExitCode.ERROR and isinstance(result.exception, SystemExit), result.output
    (line,) = result.stderr.strip().splitlines()
    assert line == "error: the AWS profile 'prod' is not in ~/.aws/config or ~/.aws/credentials"


def test_slo_report_takes_the_callers_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    result = runner.invoke(app, ["slo-report", "--aws", "--profile", "prod", "--out", str(tmp_path / "out")])
    assert result.exit_code == ExitCode.ERROR and isinstance(result.exception, SystemExit), result.output
    (line,) = result.stderr.strip().splitlines()
    assert line == "error: the AWS profile 'prod' is not in ~/.aws/config or ~/.aws/credentials"
