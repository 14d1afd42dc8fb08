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
        ("NEVER_LANDED", 6),
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


def test_on_the_stacks_own_endpoint_commands_sign_as_its_operator(stack_dir):
    # The process running the stack holds the aggregator's credentials and AWS_ENDPOINT_URL; the
    # emulator enforces IAM, so an operator command must not sign with the aggregator's.
    environ = {"AWS_ENDPOINT_URL": UNREACHABLE, "AWS_ACCESS_KEY_ID": "courier-function", "AWS_SECRET_ACCESS_KEY": "x"}
    clients = Context.load(stack_dir, environ=environ).clients
    assert clients.endpoint_url == UNREACHABLE
    assert clients.session.get_credentials().access_key == FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"]


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
    assert verify.exit_code == ExitCode.ERROR and "--from 'someday' is not a time" in verify.output
    dlq = runner.invoke(app, ["dlq", "list", "--state-dir", str(stack_dir)])
    assert dlq.exit_code == ExitCode.ERROR and dlq.output.startswith("error: could not read the DLQ:")
    assert dict(os.environ) == before


def test_without_a_stack_the_settings_must_be_in_the_environment(tmp_path, clean_courier_env):
    verify = runner.invoke(app, ["archive", "verify", "--state-dir", str(tmp_path)])
    assert verify.exit_code == ExitCode.ERROR
    assert (
        verify.stderr.strip().splitlines()[-1]
        == "error: COURIER_ARCHIVE_BUCKET is required: S3 bucket that receives the bundles."
    )


# --- which stack a command talks to, said in one line ---------------------------------------


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_dead_stacks_leftover_file_says_stack_not_running_at_once(stack_dir):
    import dataclasses
    import time

    from courier.stackfile import read_stack_file

    write_stack_file(stack_dir, dataclasses.replace(read_stack_file(stack_dir), pid=_dead_pid()))
    for command in (["status"], ["dlq", "list"], ["replay", "--bundle", "k"], ["local", "fault", "nifi", "--mode", "ok"]):
        started = time.monotonic()
        result = runner.invoke(app, [*command, "--state-dir", str(stack_dir)])
        assert time.monotonic() - started < 2, command  # no timeout against an endpoint nobody serves
        assert result.exit_code == ExitCode.ERROR, command
        (line,) = result.output.strip().splitlines()
        assert line.startswith("error: local stack not running: ") and "courier local up" in line, line


def test_a_running_stack_is_recognised_by_its_pid(stack_dir):
    from courier.stackfile import process_alive, read_stack_file

    assert read_stack_file(stack_dir).is_running()  # pid 1 always runs
    assert process_alive(os.getpid()) and not process_alive(_dead_pid()) and not process_alive(0) and not process_alive(-1)


@pytest.mark.parametrize(
    ("environ", "target"),
    [
        ({"AWS_PROFILE": "prod"}, "using AWS (region eu-west-2, profile prod)"),
        ({"AWS_DEFAULT_REGION": "eu-central-1"}, "using AWS (region eu-central-1, profile default)"),
        ({"AWS_ENDPOINT_URL": UNREACHABLE}, f"using the AWS endpoint {UNREACHABLE}"),
    ],
)
def test_without_a_stack_the_fallback_to_aws_is_said_in_one_line_on_stderr(tmp_path, environ, target, capsys):
    Context.load(tmp_path, environ=environ)
    assert capsys.readouterr().err.strip() == f"no local stack in {tmp_path}: {target}"
    Context.load(tmp_path, environ=environ, fallback_to_aws=False)
    assert capsys.readouterr().err == ""


def test_slo_report_against_aws_without_credentials_is_one_line(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance metadata to wait for
    result = runner.invoke(app, ["slo-report", "--aws", "--out", str(tmp_path / "out")])
    assert result.exit_code == ExitCode.ERROR and isinstance(result.exception, SystemExit)  # an exit, not a traceback
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: could not read the DeliveryLatency metric: ") and "no AWS credentials found" in line


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
