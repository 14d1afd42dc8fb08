"""``courier deploy``: the package of ``make package`` onto an environment's aggregator, blue/green (courier.operator.deploy)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from courier.cli import _render
from courier.cli._context import Context, Profile, Region
from courier.cli._exit import ExitCode
from courier.cli._render import fail
from courier.errors import CourierError
from courier.operator.deploy import Outcome, deploy, plan
from courier.ports import Target
from courier.resources import PACKAGE_PATH


def deploy_command(
    env: Annotated[str, typer.Option("--env", help="The environment (staging, prod): its resources are named courier-<env>-...")],
    package: Annotated[Path, typer.Option("--package", help="The zip `make package` built.")] = Path(PACKAGE_PATH),
    name: Annotated[
        str | None,
        typer.Option("--name", help="The name prefix, where the environment's Terraform sets `name` (default courier-<env>)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (reads only); change nothing.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Minutes to wait for the deployment; it goes on after.")] = 30.0,
    ignore_alarm: Annotated[
        list[str] | None,
        typer.Option(
            "--ignore-alarm",
            metavar="NAME",
            help="Do not watch this rollback alarm of the group for this deployment (repeatable): a hotfix while "
            "NiFi is down and courier-<env>-breaker-open is in ALARM. Logged, and written in the deployment's description; "
            "needs codedeploy:UpdateDeploymentGroup (AWS requires it for an alarm override).",
        ),
    ] = None,
    profile: Profile = None,
    region: Region = None,
) -> None:
    """Publish the package as a new version of the aggregator (or take the newest version, when an apply
    published it already, e.g. for a change of settings alone) and let CodeDeploy shift its `live` alias to it
    (the deployment group's canary, rolled back when one of its alarms fires); wait and report.

    Exit codes: 0 deployed (or the dry run's plan printed), 1 error (no package, a denied call, still running at
    --timeout), 2 nothing to deploy (the live version runs this package with the newest settings), 3 the
    deployment failed or was stopped and rolled back.
    """
    from courier.adapters.deploy import LambdaCodeDeploy  # botocore: loaded when the command runs, not for --help

    if timeout <= 0:
        raise fail(f"--timeout must be a positive number of minutes, got {timeout:g}")
    try:
        target = Target.of_environment(env, name)
        context = Context.of_aws(dict(os.environ), None, profile, region)
        blue_green = LambdaCodeDeploy(context.clients("lambda"), context.clients("codedeploy"), target)
        planned = plan(target, package, blue_green, tuple(ignore_alarm or ()))
        _render.deploy_plan(planned, dry_run)
        if planned.already_live or dry_run:
            raise typer.Exit(ExitCode.NOTHING if planned.already_live else ExitCode.OK)
        with _render.deploy_progress() as progress:
            outcome = deploy(planned, blue_green, timeout_seconds=timeout * 60, on_progress=progress)
    except CourierError as exc:
        raise fail(f"deploy to {env} failed: {exc}") from None
    _render.deployed(outcome)
    _end(outcome, timeout)


def _end(outcome: Outcome, timeout: float) -> None:
    if outcome.waited_out:
        raise fail(
            f"deployment {outcome.deployment_id} still {outcome.state.status} after {timeout:g} min; it goes on: "
            f"aws deploy get-deployment --deployment-id {outcome.deployment_id}"
        )
    if not outcome.succeeded:
        raise fail(f"deployment {outcome.deployment_id} {outcome.state.status}: {outcome.reason}", ExitCode.FAILED)
