"""Destructive or duplicating commands print their plan and ask; against AWS, NiFi's settings are the function's."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
import typer
from rich.console import Console

from courier.adapters.function import DeployedFunction
from courier.cli import _context, _render
from courier.cli._context import Context


@pytest.fixture
def stderr(monkeypatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(_render, "err", Console(file=buffer, width=300, color_system=None))
    return buffer


def terminal(monkeypatch, answer: bool | None) -> list[str]:
    """stdin a terminal (answer: what the operator types) or not (None); returns the questions asked."""
    asked: list[str] = []
    monkeypatch.setattr(_render.sys, "stdin", SimpleNamespace(isatty=lambda: answer is not None))
    monkeypatch.setattr(_render.typer, "confirm", lambda question, **_: asked.append(question) or bool(answer))
    return asked


def test_without_a_terminal_and_without_yes_it_prints_the_plan_and_stops(monkeypatch, stderr):
    asked = terminal(monkeypatch, None)
    with pytest.raises(typer.Exit) as stopped:
        _render.confirm(["about to delete 3 message(s)"], yes=False)
    assert stopped.value.exit_code == 1 and asked == []
    assert "about to delete 3 message(s)" in stderr.getvalue() and "give --yes" in stderr.getvalue()


def test_yes_goes_ahead_after_printing_the_plan(monkeypatch, stderr):
    asked = terminal(monkeypatch, None)
    _render.confirm(["about to send 2 bundle(s) to NiFi https://nifi.example/contentListener"], yes=True)
    assert asked == [] and "https://nifi.example/contentListener" in stderr.getvalue()


def test_on_a_terminal_it_asks_and_a_no_stops(monkeypatch, stderr):
    asked = terminal(monkeypatch, False)
    with pytest.raises(typer.Exit):
        _render.confirm(["about to move ~5 message(s)"], yes=False)
    assert asked == ["go ahead?"] and "cancelled" in stderr.getvalue()
    terminal(monkeypatch, True)
    _render.confirm(["about to move ~5 message(s)"], yes=False)  # a yes goes ahead


def _of_aws(monkeypatch, function_environment: dict[str, str], shell: dict[str, str]) -> Context:
    session = SimpleNamespace(region_name="eu-west-2", profile_name="prod", client=lambda *a, **k: None)
    monkeypatch.setattr(_context, "aws_session", lambda profile, region: session)
    deployed = DeployedFunction("courier-prod-aggregator", function_environment, "eu-west-2", account="123456789012")
    monkeypatch.setattr(DeployedFunction, "read", classmethod(lambda cls, client, name: deployed))
    return Context.of_aws(shell, "courier-prod-aggregator", "prod", "eu-west-2")


def test_with_a_function_nifi_url_and_plain_http_never_come_from_the_shell(monkeypatch, stderr):
    shell = {
        "COURIER_NIFI_URL": "http://attacker.example/listener",
        "COURIER_NIFI_ALLOW_HTTP": "true",
        "COURIER_NIFI_CA_BUNDLE": "nifi-ca.pem",
    }
    context = _of_aws(monkeypatch, {"COURIER_NIFI_URL": "https://nifi.prod.example:9443/contentListener"}, shell)
    assert context.environ["COURIER_NIFI_URL"] == "https://nifi.prod.example:9443/contentListener"
    assert "COURIER_NIFI_ALLOW_HTTP" not in context.environ and context.environ["COURIER_NIFI_CA_BUNDLE"] == "nifi-ca.pem"
    assert context.target() == "AWS account 123456789012, region eu-west-2, function courier-prod-aggregator"
    bare = _of_aws(monkeypatch, {}, shell)  # a function without a NiFi URL: missing, not the shell's
    assert "COURIER_NIFI_URL" not in bare.environ
