"""`courier deploy`: a new package onto an environment's aggregator, blue/green through CodeDeploy.

The path: ``make package`` -> a published version holding the zip -> a CodeDeploy deployment
of the ``live`` alias from the version it points to now to the new one (the group's canary,
rolled back by CodeDeploy when an alarm of the group fires) -> wait, and report.

The Terraform makes the alias ignore ``function_version`` (infra/terraform/modules/aggregator),
so CodeDeploy alone moves it; an apply that uploads a new package, or changes only the function's
settings (``publish = true`` publishes a version for either), publishes a version and leaves the
alias where it is. ``deploy`` then shifts the alias to that newest version when it holds the
package and ``$LATEST``'s settings, publishing nothing; when ``$LATEST`` holds the package but no
version does, the version is published from it rather than uploaded twice. A deployment that fails
after its version was published (CreateDeployment denied, the version never ready) says so, and a
rerun deploys that version.

The breaker controller has no alias and no deployment group: EventBridge invokes its
unqualified function (``$LATEST``) every minute, and it publishes no versions, so there is
nothing to shift; ``terraform apply`` updates its code from the same package.

Pure: everything AWS goes through the :class:`~courier.ports.BlueGreen` port.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from courier.errors import CourierError, DeployError
from courier.ports import BlueGreen, DeploymentGroup, DeploymentState, LiveAlias, Target

logger = logging.getLogger(__name__)

FINAL = frozenset({"Succeeded", "Failed", "Stopped"})
# Lambda takes a zip of at most 50 MB in the request itself (larger ones go through S3).
MAX_DIRECT_UPLOAD = 50 * 1024 * 1024


@dataclass(frozen=True)
class Package:
    """The zip ``make package`` built, and Lambda's CodeSha256 of it (base64 SHA-256).

    Parameters
    ----------
    path, content
        Where the zip is, and its bytes (sent in the UpdateFunctionCode request itself).
    code_sha256
        What Lambda will report as the CodeSha256 of a version holding it.

    Example
    -------
    >>> Package.read(Path("dist/courier-lambda.zip")).code_sha256  # doctest: +SKIP
    'hznHbmgfkAkjuQDJ3w73XPQh05yrtUZQxLmtGbanbYU='
    """

    path: Path
    content: bytes
    code_sha256: str

    @classmethod
    def read(cls, path: Path) -> Package:
        if not path.is_file():
            raise DeployError(f"no package at {path}: build it with `make package` (or give --package)")
        content = path.read_bytes()
        if len(content) > MAX_DIRECT_UPLOAD:
            raise DeployError(f"{path} is {len(content) / 2**20:.1f} MB: Lambda takes at most 50 MB in one request")
        return cls(path, content, base64.b64encode(hashlib.sha256(content).digest()).decode())


@dataclass(frozen=True)
class Plan:
    """What a deployment will do, read before anything changes (all of ``--dry-run``).

    Parameters
    ----------
    target, package
        Where to, and what.
    live, group
        The alias and the code behind it now; the deployment group's config and rollback.
    ignored_alarms
        Rollback alarms of the group this deployment does not watch (``--ignore-alarm``): a hotfix
        while ``breaker-open`` is in ALARM during a NiFi outage, which would stop every deployment.

    Example
    -------
    >>> planned = plan(Target.of_environment("prod"), Path("dist/courier-lambda.zip"), blue_green)  # doctest: +SKIP
    >>> planned.already_live, planned.live.version  # doctest: +SKIP
    (False, '7')
    """

    target: Target
    package: Package
    live: LiveAlias
    group: DeploymentGroup
    ignored_alarms: tuple[str, ...] = ()

    @property
    def watched_alarms(self) -> tuple[str, ...]:
        """The group's rollback alarms this deployment watches."""
        return tuple(a for a in self.group.alarms if a not in self.ignored_alarms)

    @property
    def shifts_to(self) -> str | None:
        """A version published already to shift the alias to, publishing nothing: the newest version, when it
        is not the live one and holds this package and what ``$LATEST`` holds (code and settings). A
        ``terraform apply`` with ``publish = true`` published it (a change of settings alone publishes one
        with the same code), or an earlier ``courier deploy`` published it and then failed."""
        newest, live, sha = self.live.newest, self.live, self.package.code_sha256
        if newest is None or newest.version == live.version or newest.code_sha256 != sha or live.latest_sha256 != sha:
            return None
        return newest.version if newest.configuration == live.latest_configuration else None

    @property
    def publishes_settings(self) -> bool:
        """The live version runs this package but ``$LATEST`` holds other settings no version has yet: publish them."""
        live, sha = self.live, self.package.code_sha256
        return (
            self.shifts_to is None
            and live.code_sha256 == sha == live.latest_sha256
            and live.configuration != live.latest_configuration
        )

    @property
    def already_live(self) -> bool:
        """The alias's version runs this very package with the newest settings: nothing to deploy."""
        return self.live.code_sha256 == self.package.code_sha256 and self.shifts_to is None and not self.publishes_settings

    @property
    def uploads(self) -> bool:
        """False when ``$LATEST`` holds the package already (a ``terraform apply`` uploaded it)."""
        return self.live.latest_sha256 != self.package.code_sha256


@dataclass(frozen=True)
class Outcome:
    """How a deployment ended (or where it was when courier stopped waiting).

    Parameters
    ----------
    plan
        The plan it carried out.
    target_version, deployment_id
        The version published for it, and CodeDeploy's id of the deployment.
    state
        CodeDeploy's last answer about it.
    waited_out
        True when ``deploy`` stopped waiting before the deployment ended (it goes on).

    Example
    -------
    >>> outcome = deploy(planned, blue_green)  # doctest: +SKIP
    >>> outcome.succeeded or outcome.reason  # doctest: +SKIP
    'ALARM_ACTIVE: ...; rolled back by d-ROLLBACK1; live goes back to version 7'
    """

    plan: Plan
    target_version: str
    deployment_id: str
    state: DeploymentState
    waited_out: bool = False

    @property
    def succeeded(self) -> bool:
        return self.state.status == "Succeeded"

    @property
    def reason(self) -> str:
        """Why it failed, in one line: CodeDeploy's error and what its rollback did."""
        state = self.state
        parts = [f"{state.error_code}: {state.error_message}" if state.error_code else (state.error_message or "no reason given")]
        if state.rollback_deployment_id or state.rollback_message:
            by = state.rollback_deployment_id or "CodeDeploy"
            parts.append(f"rolled back by {by}" + (f" ({state.rollback_message})" if state.rollback_message else ""))
            parts.append(f"{self.plan.target.alias} goes back to version {self.plan.live.version}")
        return "; ".join(parts)


def appspec(target: Target, current_version: str, target_version: str) -> dict[str, Any]:
    """CodeDeploy's AppSpec for a Lambda deployment: shift ``target.alias`` from one version to another."""
    return {
        "version": 0.0,
        "Resources": [
            {
                target.function: {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": target.function,
                        "Alias": target.alias,
                        "CurrentVersion": current_version,
                        "TargetVersion": target_version,
                    },
                }
            }
        ],
    }


def appspec_content(target: Target, current_version: str, target_version: str) -> tuple[str, str]:
    """The AppSpec as the JSON text CreateDeployment carries, and its hex SHA-256 (CodeDeploy checks it)."""
    text = json.dumps(appspec(target, current_version, target_version), sort_keys=True)
    return text, hashlib.sha256(text.encode()).hexdigest()


def plan(target: Target, package_path: Path, blue_green: BlueGreen, ignore_alarms: tuple[str, ...] = ()) -> Plan:
    """Read the package, the alias and the group; refuse while the alias is being shifted, or an alarm
    to ignore that is not one of the group's (a typo would otherwise ignore nothing, silently)."""
    package = Package.read(package_path)
    live = blue_green.live()
    if live.weights:
        shifted = ", ".join(f"{weight:.0%} on version {version}" for version, weight in live.weights.items())
        raise DeployError(
            f"{target.function}:{target.alias} is being shifted ({shifted}): a deployment is under way or was left half done; "
            f"let it finish, or stop it (aws deploy stop-deployment), before deploying"
        )
    group = blue_green.group()
    unknown = [name for name in ignore_alarms if name not in group.alarms]
    if unknown:
        raise DeployError(
            f"--ignore-alarm {', '.join(unknown)}: not a rollback alarm of {target.group} "
            f"(its alarms: {', '.join(group.alarms) or 'none'})"
        )
    return Plan(target, package, live, group, tuple(dict.fromkeys(ignore_alarms)))


def deploy(
    planned: Plan,
    blue_green: BlueGreen,
    timeout_seconds: float = 1800.0,
    poll_seconds: float = 15.0,
    on_progress: Callable[[str, DeploymentState], None] = lambda deployment_id, state: None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Publish (unless the version is published already), start the deployment, and wait for it
    (at most ``timeout_seconds``; it goes on after)."""
    if planned.shifts_to is not None and planned.live.newest is not None:
        published = planned.live.newest
    else:
        published = blue_green.publish(planned.package.content, planned.package.code_sha256, planned.uploads)
    if published.code_sha256 != planned.package.code_sha256:
        # Someone else updated the function between the upload and the publish: not ours to ship.
        raise DeployError(
            f"version {published.version} of {planned.target.function} holds other code than {planned.package.path} "
            "(another update ran at the same time); deploy again"
        )
    text, digest = appspec_content(planned.target, planned.live.version, published.version)
    description = f"courier deploy: version {planned.live.version} -> {published.version} ({planned.package.code_sha256})"
    watched: tuple[str, ...] | None = None  # the group's own alarm configuration
    if planned.ignored_alarms:
        # CreateDeployment's alarm override: the group's alarms but these, for this deployment only. Written
        # down in the deployment itself (its description) and in the log, for whoever reviews it later.
        watched = planned.watched_alarms
        description += f"; ignoring alarms {', '.join(planned.ignored_alarms)}"
        logger.warning(
            "deployment ignores rollback alarms",
            extra={"ignored_alarms": list(planned.ignored_alarms), "watched_alarms": list(watched)},
        )
    try:
        blue_green.ready(published.version)
        deployment_id = blue_green.start(text, digest, description, watched)
    except CourierError as exc:
        # The version exists now: a rerun finds it the newest and shifts to it without publishing another.
        raise DeployError(
            f"{exc}; version {published.version} published, {planned.target.alias} unchanged on version "
            f"{planned.live.version}; rerun `courier deploy` to deploy it"
        ) from None
    deadline = clock() + timeout_seconds
    while True:
        state = blue_green.state(deployment_id, published.version)
        on_progress(deployment_id, state)
        if state.status in FINAL or clock() >= deadline:
            return Outcome(planned, published.version, deployment_id, state, waited_out=state.status not in FINAL)
        sleep(poll_seconds)
