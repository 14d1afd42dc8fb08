"""The aggregator's versions, ``live`` alias and CodeDeploy group, through the Lambda and CodeDeploy APIs."""

from __future__ import annotations

import json
from typing import Any, cast

from botocore.exceptions import ClientError, WaiterError

from courier.adapters.aws import describe, translated
from courier.errors import AwsCallError, DeployError
from courier.ports import DeploymentGroup, DeploymentState, LiveAlias, PublishedVersion, Target

# An update of a 2-MB zip settles in seconds; a VPC function's can take a minute or two.
_UPDATE_WAIT = {"Delay": 2, "MaxAttempts": 150}


# What a published version freezes besides the code (Lambda's FunctionConfiguration): a change to
# any of them makes `publish = true` publish a new version with the same CodeSha256.
VERSIONED_SETTINGS = (
    "Runtime",
    "Role",
    "Handler",
    "Timeout",
    "MemorySize",
    "Environment",
    "VpcConfig",
    "DeadLetterConfig",
    "KMSKeyArn",
    "TracingConfig",
    "Layers",
    "FileSystemConfigs",
    "Architectures",
    "EphemeralStorage",
    "SnapStart",
    "LoggingConfig",
)


def configuration(version: dict[str, Any]) -> str:
    """A version's settings as text two versions can be compared by (layers by ARN, lists in order)."""
    settings: dict[str, Any] = {key: version[key] for key in VERSIONED_SETTINGS if version.get(key) not in (None, {}, [])}
    if "Layers" in settings:
        settings["Layers"] = [layer.get("Arn") for layer in settings["Layers"]]
    if "SnapStart" in settings:  # OptimizationStatus is the version's state, not a setting
        settings["SnapStart"] = settings["SnapStart"].get("ApplyOn")
    if "VpcConfig" in settings:
        vpc = settings["VpcConfig"]
        settings["VpcConfig"] = {k: sorted(v) if isinstance(v, list) else v for k, v in vpc.items() if v not in (None, "", [])}
    return json.dumps(settings, sort_keys=True, default=str)


class LambdaCodeDeploy:
    """:class:`~courier.ports.BlueGreen` on AWS: a Lambda client and a CodeDeploy client, both given.

    Parameters
    ----------
    lambda_client, codedeploy_client
        boto3 clients of the environment's account and region.
    target
        The function, alias, application and group (:meth:`courier.ports.Target.of_environment`).

    Every denied or failed call raises ``AwsCallError`` naming the action, e.g.
    ``lambda:UpdateFunctionCode on courier-prod-aggregator was denied (AccessDeniedException)``.

    Example
    -------
    >>> target = Target.of_environment("prod")
    >>> blue_green = LambdaCodeDeploy(boto3.client("lambda"), boto3.client("codedeploy"), target)  # doctest: +SKIP
    >>> blue_green.live().version  # doctest: +SKIP
    '7'
    """

    def __init__(self, lambda_client: Any, codedeploy_client: Any, target: Target) -> None:
        self.lambda_client = lambda_client
        self.codedeploy = codedeploy_client
        self.target = target

    def live(self) -> LiveAlias:
        function, alias = self.target.function, self.target.alias
        gone = DeployError(f"no alias {function}:{alias} in this account and region: is --env (or --region) right?")
        with translated(f"lambda:GetAlias on {function}:{alias}", missing=gone):
            found = self.lambda_client.get_alias(FunctionName=function, Name=alias)
        version = str(found["FunctionVersion"])
        weights = (found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        versions = self._versions()
        live, latest = versions.get(version), versions.get("$LATEST")
        if live is None or latest is None:
            raise DeployError(f"{function} lists no version {version if live is None else '$LATEST'}: is --env right?")
        published = [v for v in versions.values() if v.version.isdigit()]
        newest = max(published, key=lambda v: int(v.version)) if published else None
        return LiveAlias(
            version, live.code_sha256, latest.code_sha256, dict(weights), newest, live.configuration, latest.configuration
        )

    def group(self) -> DeploymentGroup:
        application, group = self.target.application, self.target.group
        gone = DeployError(f"no CodeDeploy deployment group {group} in application {application}")
        with translated(f"codedeploy:GetDeploymentGroup on {application}/{group}", missing=gone):
            info = self.codedeploy.get_deployment_group(applicationName=application, deploymentGroupName=group)
        info = info["deploymentGroupInfo"]
        alarms = info.get("alarmConfiguration") or {}
        rollback = info.get("autoRollbackConfiguration") or {}
        return DeploymentGroup(
            config_name=str(info.get("deploymentConfigName", "")),
            alarms=tuple(a["name"] for a in alarms.get("alarms", [])),
            alarms_enabled=bool(alarms.get("enabled")),
            rollback_events=tuple(rollback.get("events", [])) if rollback.get("enabled") else (),
        )

    def publish(self, package: bytes, code_sha256: str, upload: bool) -> PublishedVersion:
        function = self.target.function
        if not upload:
            # `terraform apply` uploaded this package already (and published it): uploading it again
            # would change nothing; PublishVersion returns that version, or publishes $LATEST.
            with translated(f"lambda:PublishVersion on {function}"):
                published = self.lambda_client.publish_version(FunctionName=function, CodeSha256=code_sha256)
        else:
            with translated(f"lambda:UpdateFunctionCode on {function}"):
                published = self.lambda_client.update_function_code(FunctionName=function, ZipFile=package, Publish=True)
        return PublishedVersion(str(published["Version"]), str(published["CodeSha256"]), configuration(published))

    def ready(self, version: str) -> None:
        self._wait_updated(version)

    def start(self, appspec: str, appspec_sha256: str, description: str, alarms: tuple[str, ...] | None = None) -> str:
        application, group = self.target.application, self.target.group
        override: dict[str, Any] = {}
        if alarms is not None:
            override["overrideAlarmConfiguration"] = {"enabled": bool(alarms), "alarms": [{"name": name} for name in alarms]}
        with translated(f"codedeploy:CreateDeployment on {application}/{group}"):
            created = self.codedeploy.create_deployment(
                applicationName=application,
                deploymentGroupName=group,
                description=description,
                revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec, "sha256": appspec_sha256}},
                **override,
            )
        return str(created["deploymentId"])

    def state(self, deployment_id: str, target_version: str) -> DeploymentState:
        with translated(f"codedeploy:GetDeployment of {deployment_id}"):
            info = self.codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        with translated(f"lambda:GetAlias on {self.target.function}:{self.target.alias}"):
            alias = self.lambda_client.get_alias(FunctionName=self.target.function, Name=self.target.alias)
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        weight = 1.0 if str(alias["FunctionVersion"]) == target_version else float(weights.get(target_version, 0.0))
        error = info.get("errorInformation") or {}
        rollback = info.get("rollbackInfo") or {}
        return DeploymentState(
            status=str(info["status"]),
            target_weight=weight,
            error_code=error.get("code"),
            error_message=error.get("message"),
            rollback_deployment_id=rollback.get("rollbackDeploymentId"),
            rollback_message=rollback.get("rollbackMessage"),
        )

    def _versions(self) -> dict[str, PublishedVersion]:
        """Every version of the function and ``$LATEST``, all pages (50 a page by default; a function keeps them all)."""
        function = self.target.function
        found: dict[str, PublishedVersion] = {}
        with translated(f"lambda:ListVersionsByFunction on {function}"):
            for page in self.lambda_client.get_paginator("list_versions_by_function").paginate(FunctionName=function):
                for version in page.get("Versions", []):
                    found[str(version["Version"])] = PublishedVersion(
                        str(version["Version"]), str(version["CodeSha256"]), configuration(version)
                    )
        return found

    def _wait_updated(self, version: str) -> None:
        """Until the version's LastUpdateStatus is Successful: CodeDeploy cannot shift to a version still updating."""
        function = self.target.function
        waiter = self.lambda_client.get_waiter("function_updated_v2")
        try:
            waiter.wait(FunctionName=function, Qualifier=version, WaiterConfig=_UPDATE_WAIT)
        except WaiterError as exc:
            last = exc.last_response or {}
            # GetFunction's own answer (its Configuration too): the stubs type only its error part.
            response = cast(dict[str, Any], last)
            code = (response.get("Error") or {}).get("Code")
            if code:  # the GetFunction call itself failed (denied, throttled)
                raise AwsCallError(
                    describe(f"lambda:GetFunction on {function}:{version}", ClientError(last, "GetFunction")), code
                ) from None
            reason = (response.get("Configuration") or {}).get("LastUpdateStatusReason") or "its update did not succeed"
            raise DeployError(f"version {version} of {function} did not become ready: {reason}") from None
