"""The CLI's context: a local stack's endpoint and settings reach the clients and Settings, never os.environ."""

from __future__ import annotations

import os

import pytest
import typer
from typer.testing import CliRunner

from courier.cli import app
from courier.cli._context import Clients, Context
from courier.cli._exit import ExitCode
from courier.stackfile import FAKE_CREDENTIALS, StackInfo, write_stack_file

runner = CliRunner()
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: refused at once


@pytest.fixture
def stack_dir(tmp_path, clean_courier_env):
    ca = tmp_path / "ca.pem"
    ca.write_text("not needed until a connection is made")
    resources = {
        "archive_bucket": "local-archive",
        "queue_url": f"{UNREACHABLE}/123456789012/courier-queue",
        "dlq_url": f"{UNREACHABLE}/123456789012/courier-dlq",
        "breaker_table": "courier-breaker",
    }
    nifi = "https://127.0.0.1:8443"
    info = StackInfo(1, 0.0, UNREACHABLE, f"{nifi}/contentListener", nifi, str(ca), "uuid", resources)
    write_stack_file(tmp_path, info)
    return tmp_path


def test_exit_codes_keep_their_numbers():
    assert [(c.name, int(c)) for c in ExitCode] == [
        ("OK", 0),
        ("ERROR", 1),
        ("NOTHING", 2),
        ("INTEGRITY", 3),
        ("NIFI", 4),
        ("INCOMPLETE", 5),
    ]


def test_a_local_stack_gives_the_endpoint_credentials_and_settings(stack_dir):
    context = Context.load(stack_dir, environ={})
    assert context.clients.endpoint_url == UNREACHABLE
    client = context.clients("s3")
    assert client.meta.endpoint_url == UNREACHABLE and client.meta.region_name == "eu-west-2"
    assert context.clients.session.get_credentials().access_key == FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"]
    settings = context.settings()
    assert (settings.archive_bucket, settings.nifi_url) == ("local-archive", "https://127.0.0.1:8443/contentListener")
    assert context.resource("breaker_table") == "courier-breaker"
    assert context.setting("idempotency_table") == "courier-idempotency"


def test_the_environment_overrides_the_stacks_defaults(stack_dir):
    environ = {
        "COURIER_ARCHIVE_BUCKET": "mine",
        "COURIER_IDEMPOTENCY_TABLE": "ledger",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4999",
    }
    context = Context.load(stack_dir, environ=environ)
    assert context.settings().archive_bucket == "mine"
    assert context.setting("idempotency_table") == "ledger"
    assert context.clients.endpoint_url is None  # boto3 itself follows the AWS_ENDPOINT_URL the user set


def test_without_a_stack_it_is_aws_and_the_settings_are_the_environments(tmp_path, clean_courier_env):
    context = Context.load(tmp_path, environ={"AWS_DEFAULT_REGION": "eu-central-1"})
    assert context.stack is None and context.resource("queue_url") is None
    assert context.clients.endpoint_url is None and context.clients("sqs").meta.region_name == "eu-central-1"
    assert Clients.for_stack(None, {}).session.region_name == "eu-west-2"
    with pytest.raises(typer.Exit) as raised:  # after printing the one-line message
        context.settings()
    assert raised.value.exit_code == ExitCode.ERROR


def test_commands_against_a_stack_file_leave_the_environment_alone(stack_dir, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    before = dict(os.environ)
    status = runner.invoke(app, ["status", "--state-dir", str(stack_dir)])
    assert status.exit_code == ExitCode.ERROR
    assert status.output.startswith("error: could not read the pipeline's state:")
    assert len(status.output.strip().splitlines()) == 1
    # The stack's settings were used: the archive bucket is not asked for, the time is.
    verify = runner.invoke(app, ["archive", "verify", "--from", "someday", "--state-dir", str(stack_dir)])
    assert verify.exit_code == ExitCode.ERROR and "--from/--to must be ISO dates" in verify.output
    dlq = runner.invoke(app, ["dlq", "list", "--state-dir", str(stack_dir)])
    assert dlq.exit_code == ExitCode.ERROR and dlq.output.startswith("error: could not read the DLQ:")
    assert dict(os.environ) == before


def test_without_a_stack_the_settings_must_be_in_the_environment(tmp_path, clean_courier_env):
    verify = runner.invoke(app, ["archive", "verify", "--state-dir", str(tmp_path)])
    assert verify.exit_code == ExitCode.ERROR
    assert verify.output.strip() == "error: COURIER_ARCHIVE_BUCKET is required: S3 bucket that receives the bundles."


def test_on_aws_the_names_carry_the_environment_from_courier_name(tmp_path, clean_courier_env):
    """The Terraform names every resource courier-<env>-...; the commands find them by COURIER_NAME."""
    from courier.resources import BREAKER_TABLE, DLQ, FUNCTION_NAME, QUEUE

    prod = Context.load(tmp_path, environ={"COURIER_NAME": "courier-prod"})
    assert [prod.aws_name(n) for n in (QUEUE, DLQ, FUNCTION_NAME, BREAKER_TABLE)] == [
        "courier-prod-queue",
        "courier-prod-dlq",
        "courier-prod-aggregator",
        "courier-prod-breaker",
    ]
    unset = Context.load(tmp_path, environ={})
    assert unset.aws_name(QUEUE) == QUEUE  # the local stack's names
