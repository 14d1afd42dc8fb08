"""A bad setting stops `courier local up` before anything starts, with its one-line message; logs say why, not only what."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from courier.cli import app
from courier.errors import ConfigError
from courier.local.lambda_runtime import describe_error
from courier.local.stack import LocalConfig, LocalStack

runner = CliRunner()


def test_a_bad_setting_fails_the_check_with_the_variable_named(tmp_path, clean_courier_env):
    stack = LocalStack(LocalConfig(state_dir=tmp_path))
    with pytest.raises(ConfigError, match="COURIER_FETCH_CONCURRENCY must be an integer .* got 'abc'"):
        stack.check_settings({"COURIER_FETCH_CONCURRENCY": "abc"})
    # What the stack sets itself is valid: with nothing else set the check passes, the CA not made yet.
    settings = stack.check_settings({})
    assert settings.archive_bucket == "courier-archive" and settings.nifi_ca_bundle is None
    assert settings.landing_buckets == ("courier-landing",)  # the local function reads only its landing bucket


def test_local_up_with_a_bad_setting_stops_before_starting_anything(tmp_path, clean_courier_env, monkeypatch):
    monkeypatch.setenv("COURIER_FETCH_CONCURRENCY", "abc")
    started = []
    monkeypatch.setattr("courier.local.stack.Emulator.start", lambda self: started.append("emulator") or self)
    monkeypatch.setattr("courier.local.stack.FakeNiFi.start", lambda self: started.append("nifi") or self)
    result = runner.invoke(app, ["local", "up", "--state-dir", str(tmp_path / "state"), "--aws-port", "1", "--nifi-port", "2"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["error: COURIER_FETCH_CONCURRENCY must be an integer between 1 and 128, got 'abc'"], result.output
    assert started == [] and not (tmp_path / "state").exists()


def test_runtime_logs_carry_the_error_message_not_only_its_class():
    described = describe_error(ConfigError("COURIER_FETCH_CONCURRENCY must be an integer between 1 and 128, got 'abc'"))
    assert described == "ConfigError: COURIER_FETCH_CONCURRENCY must be an integer between 1 and 128, got 'abc'"
    assert describe_error(RuntimeError()) == "RuntimeError"
    assert describe_error(ValueError("line one\nline two")) == "ValueError: line one line two"


def test_an_unknown_nifi_auth_mode_stops_local_up_before_starting_anything(tmp_path, clean_courier_env, monkeypatch):
    started = []
    monkeypatch.setattr("courier.local.stack.Emulator.start", lambda self: started.append("emulator") or self)
    monkeypatch.setattr("courier.local.stack.FakeNiFi.start", lambda self: started.append("nifi") or self)
    args = ["local", "up", "--state-dir", str(tmp_path / "state"), "--aws-port", "1", "--nifi-port", "2", "--nifi-auth", "tls"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert [line for line in result.output.splitlines() if line.strip()] == [
        "error: --nifi-auth must be one of mtls, header, both, got 'tls'"
    ], result.output
    assert started == [] and not (tmp_path / "state").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--nifi", "docker"], "error: --nifi must be one of local, real, got 'docker'"),
        (["--nifi", "real", "--nifi-auth", "header"], "error: --nifi real supports only --nifi-auth mtls, got 'header'"),
    ],
)
def test_a_receiver_the_stack_cannot_run_stops_local_up_before_starting_anything(
    tmp_path, clean_courier_env, monkeypatch, extra, message
):
    started = []
    monkeypatch.setattr("courier.local.stack.Emulator.start", lambda self: started.append("emulator") or self)
    monkeypatch.setattr("courier.local.stack.FakeNiFi.start", lambda self: started.append("nifi") or self)
    args = ["local", "up", "--state-dir", str(tmp_path / "state"), "--aws-port", "1", "--nifi-port", "2", *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert [line for line in result.output.splitlines() if line.strip()] == [message], result.output
    assert started == [] and not (tmp_path / "state").exists()
