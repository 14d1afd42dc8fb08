"""`courier deploy`: publish, CodeDeploy shifts `live`, wait and report.

moto has no CodeDeploy that ever finishes a deployment (its deployments stay Created), so both
APIs are botocore's Stubber on real clients: every request is validated against the service
model's shapes, and a call nobody stubbed fails the test (that is how the dry run is shown to
change nothing). tests/integration/test_deploy_emulated.py runs the Lambda half against moto.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from typer.testing import CliRunner

from courier.adapters.deploy import LambdaCodeDeploy, configuration
from courier.cli import app
from courier.cli._exit import ExitCode
from courier.errors import DeployError
from courier.operator.deploy import appspec_content, deploy, plan
from courier.ports import Target

runner = CliRunner()
TARGET = Target.of_environment("prod")
FUNCTION = "courier-prod-aggregator"
ALIAS_ARN = f"arn:aws:lambda:eu-west-2:123456789012:function:{FUNCTION}:live"
PACKAGE = b"PK\x05\x06" + bytes(18)  # an empty zip is enough: Lambda's side is stubbed
NEW_SHA = base64.b64encode(hashlib.sha256(PACKAGE).digest()).decode()
OLD_SHA = base64.b64encode(hashlib.sha256(b"the code of version 7").digest()).decode()
ALARMS = ["courier-prod-aggregator-errors", "courier-prod-breaker-open"]
GROUP = {
    "deploymentGroupInfo": {
        "applicationName": FUNCTION,
        "deploymentGroupName": f"{FUNCTION}-live",
        "deploymentConfigName": "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        "computePlatform": "Lambda",
        "alarmConfiguration": {"enabled": True, "alarms": [{"name": n} for n in ALARMS]},
        "autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]},
    }
}


SETTINGS = {"MemorySize": 512, "Timeout": 300, "Environment": {"Variables": {"COURIER_NIFI_URL": "https://nifi.example/in"}}}
NEW_SETTINGS = {**SETTINGS, "Environment": {"Variables": {"COURIER_NIFI_URL": "https://nifi-2.example/in"}}}


def version(number: str, sha: str, settings: dict[str, Any]) -> dict[str, Any]:
    """One FunctionConfiguration of ListVersionsByFunction."""
    return {"FunctionName": FUNCTION, "Version": number, "CodeSha256": sha, "Runtime": "python3.12", **settings}


class Aws:
    """A stubbed Lambda and CodeDeploy client, and the CreateDeployment requests they were given."""

    def __init__(self) -> None:
        credentials = {"region_name": "eu-west-2", "aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "x"}
        self.lambda_client = boto3.client("lambda", **credentials)
        self.codedeploy = boto3.client("codedeploy", **credentials)
        self.lam, self.cd = Stubber(self.lambda_client), Stubber(self.codedeploy)
        self.created: list[dict[str, Any]] = []
        self.codedeploy.meta.events.register(
            "provide-client-params.codedeploy.CreateDeployment", lambda params, **_: self.created.append(params)
        )

    def __enter__(self) -> Aws:
        self.lam.activate()
        self.cd.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.lam.deactivate()
        self.cd.deactivate()

    def done(self) -> None:
        self.lam.assert_no_pending_responses()
        self.cd.assert_no_pending_responses()

    def alias(self, version: str = "7", weights: dict[str, float] | None = None) -> None:
        answer: dict[str, Any] = {"AliasArn": ALIAS_ARN, "Name": "live", "FunctionVersion": version}
        if weights:
            answer["RoutingConfig"] = {"AdditionalVersionWeights": weights}
        self.lam.add_response("get_alias", answer, {"FunctionName": FUNCTION, "Name": "live"})

    def reads(
        self,
        live_sha: str = OLD_SHA,
        latest_sha: str = OLD_SHA,
        weights: dict[str, float] | None = None,
        newer: dict[str, dict[str, Any]] | None = None,
        latest_settings: dict[str, Any] | None = None,
    ) -> None:
        """What the plan reads: the alias, every version (two pages: $LATEST and 1-7, then `newer`), the group.

        Versions 1-7 and $LATEST have SETTINGS unless told; `newer` maps a version to its CodeSha256 and settings."""
        self.alias("7", weights)
        first = [version("$LATEST", latest_sha, latest_settings or SETTINGS)]
        first += [version(str(n), live_sha if n == 7 else OLD_SHA, SETTINGS) for n in range(1, 8)]
        later = [version(number, **found) for number, found in (newer or {}).items()]
        self.lam.add_response(
            "list_versions_by_function", {"Versions": first, "NextMarker": "page-2"}, {"FunctionName": FUNCTION}
        )
        self.lam.add_response("list_versions_by_function", {"Versions": later}, {"FunctionName": FUNCTION, "Marker": "page-2"})
        if weights:
            return  # refused before the group is read
        self.cd.add_response(
            "get_deployment_group", GROUP, {"applicationName": FUNCTION, "deploymentGroupName": f"{FUNCTION}-live"}
        )

    def upload(self, version: str = "8") -> None:
        self.lam.add_response(
            "update_function_code",
            {"Version": version, "CodeSha256": NEW_SHA, "LastUpdateStatus": "InProgress"},
            {"FunctionName": FUNCTION, "ZipFile": PACKAGE, "Publish": True},
        )
        self.ready(version)

    def ready(self, version: str = "8") -> None:
        self.lam.add_response(
            "get_function",
            {"Configuration": {"Version": version, "LastUpdateStatus": "Successful"}},
            {"FunctionName": FUNCTION, "Qualifier": version},
        )

    def create(self, deployment_id: str = "d-8ABCDEFGH", override: bool = False) -> None:
        expected = {"applicationName": FUNCTION, "deploymentGroupName": f"{FUNCTION}-live", "description": ANY, "revision": ANY}
        if override:
            expected["overrideAlarmConfiguration"] = ANY
        self.cd.add_response("create_deployment", {"deploymentId": deployment_id}, expected)

    def poll(self, info: dict[str, Any], alias_version: str = "7", weights: dict[str, float] | None = None) -> None:
        self.cd.add_response("get_deployment", {"deploymentInfo": info}, {"deploymentId": "d-8ABCDEFGH"})
        self.alias(alias_version, weights)

    def sent_appspec(self) -> dict[str, Any]:
        (request,) = self.created
        content = request["revision"]["appSpecContent"]
        assert request["revision"]["revisionType"] == "AppSpecContent"
        assert hashlib.sha256(content["content"].encode()).hexdigest() == content["sha256"]
        return json.loads(content["content"])


@pytest.fixture
def package(tmp_path: Path) -> Path:
    path = tmp_path / "courier-lambda.zip"
    path.write_bytes(PACKAGE)
    return path


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_names_are_the_terraforms_for_each_environment():
    assert Target.of_environment("staging") == Target(
        "courier-staging-aggregator", "live", "courier-staging-aggregator", "courier-staging-aggregator-live"
    )
    assert Target.of_environment("prod", name="acme-courier-prod").group == "acme-courier-prod-aggregator-live"
    with pytest.raises(DeployError, match="not an environment name"):
        Target.of_environment("Prod/../x")


def test_the_appspec_shifts_the_alias_from_the_current_to_the_target_version():
    text, digest = appspec_content(TARGET, "7", "8")
    assert json.loads(text) == {
        "version": 0.0,
        "Resources": [
            {
                FUNCTION: {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {"Name": FUNCTION, "Alias": "live", "CurrentVersion": "7", "TargetVersion": "8"},
                }
            }
        ],
    }
    assert digest == hashlib.sha256(text.encode()).hexdigest()


def test_a_deployment_publishes_the_package_and_shifts_live_from_the_current_to_the_new_version(package):
    clock, seen = Clock(), []
    with Aws() as aws:
        aws.reads()
        aws.upload("8")
        aws.create()
        aws.poll({"status": "InProgress"}, "7", {"8": 0.1})
        aws.poll({"status": "Succeeded"}, "8")
        blue_green = LambdaCodeDeploy(aws.lambda_client, aws.codedeploy, TARGET)
        planned = plan(TARGET, package, blue_green)
        outcome = deploy(
            planned, blue_green, poll_seconds=15, on_progress=lambda d, s: seen.append(s), sleep=clock.sleep, clock=clock
        )
        aws.done()
    assert outcome.succeeded and (outcome.deployment_id, outcome.target_version) == ("d-8ABCDEFGH", "8")
    properties = aws.sent_appspec()["Resources"][0][FUNCTION]["Properties"]
    assert (properties["CurrentVersion"], properties["TargetVersion"], properties["Alias"]) == ("7", "8", "live")
    assert [(s.status, s.target_weight) for s in seen] == [("InProgress", 0.1), ("Succeeded", 1.0)]
    assert clock.slept == [15]


def test_a_package_terraform_already_uploaded_is_published_from_latest_not_uploaded_again(package):
    with Aws() as aws:
        aws.reads(latest_sha=NEW_SHA)
        aws.lam.add_response(
            "publish_version", {"Version": "8", "CodeSha256": NEW_SHA}, {"FunctionName": FUNCTION, "CodeSha256": NEW_SHA}
        )
        aws.ready("8")
        aws.create()
        aws.poll({"status": "Succeeded"}, "8")
        blue_green = LambdaCodeDeploy(aws.lambda_client, aws.codedeploy, TARGET)
        outcome = deploy(plan(TARGET, package, blue_green), blue_green, sleep=pytest.fail)
        aws.done()
    assert outcome.succeeded and aws.sent_appspec()["Resources"][0][FUNCTION]["Properties"]["TargetVersion"] == "8"


def test_an_alias_being_shifted_is_not_deployed_over(package):
    with Aws() as aws:
        aws.reads(weights={"8": 0.1})
        blue_green = LambdaCodeDeploy(aws.lambda_client, aws.codedeploy, TARGET)
        with pytest.raises(DeployError, match=r"being shifted \(10% on version 8\)"):
            plan(TARGET, package, blue_green)
        aws.done()


def test_the_wait_ends_at_the_timeout_while_the_deployment_goes_on(package):
    clock = Clock()
    with Aws() as aws:
        aws.reads()
        aws.upload("8")
        aws.create()
        for _ in range(3):
            aws.poll({"status": "InProgress"}, "7", {"8": 0.1})
        blue_green = LambdaCodeDeploy(aws.lambda_client, aws.codedeploy, TARGET)
        outcome = deploy(plan(TARGET, package, blue_green), blue_green, 30, 15, sleep=clock.sleep, clock=clock)
        aws.done()
    assert outcome.waited_out and outcome.state.status == "InProgress" and clock.slept == [15, 15]


# --- the command ---------------------------------------------------------------------------------


class FakeSession:
    """What ``aws_session(profile, region)`` returns: the stubbed clients."""

    def __init__(self, aws: Aws, profile: str | None, region: str | None) -> None:
        self.aws, self.profile_name, self.region_name = aws, profile or "default", region or "eu-west-2"

    def client(self, service: str, endpoint_url: str | None = None) -> Any:
        return {"lambda": self.aws.lambda_client, "codedeploy": self.aws.codedeploy}[service]


@pytest.fixture
def aws(monkeypatch) -> Any:
    with Aws() as stubbed:
        monkeypatch.setattr("courier.cli._context.aws_session", lambda profile, region: FakeSession(stubbed, profile, region))
        yield stubbed


def run(*args: str) -> Any:
    return runner.invoke(app, ["deploy", "--env", "prod", "--region", "eu-west-2", *args])


def test_the_dry_run_prints_the_plan_and_makes_only_reads(aws, package):
    aws.reads()  # no update, publish or deployment stubbed: any such call would fail the command
    result = run("--package", str(package), "--dry-run")
    aws.done()
    assert result.exit_code == ExitCode.OK, result.output
    assert "plan (dry run: nothing changed)" in result.stdout
    assert "shift live from version 7" in result.stdout and "CodeDeployDefault.LambdaCanary10Percent5Minutes" in result.stdout
    assert "rollback on DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_ALARM; alarms courier-prod-aggregator-errors" in result.stdout
    assert aws.created == []


def test_a_deployment_stopped_by_an_alarm_exits_3_with_the_reason_and_the_rollback(aws, package):
    aws.reads()
    aws.upload("8")
    aws.create()
    stopped = {
        "status": "Stopped",
        "errorInformation": {
            "code": "ALARM_ACTIVE",
            "message": "One or more alarms have been activated: courier-prod-aggregator-errors",
        },
        "rollbackInfo": {"rollbackDeploymentId": "d-ROLLBACK1", "rollbackMessage": "Rolled back on alarm"},
    }
    aws.poll(stopped, "7")
    result = run("--package", str(package))
    aws.done()
    assert result.exit_code == ExitCode.FAILED
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line == (
        "error: deployment d-8ABCDEFGH Stopped: ALARM_ACTIVE: One or more alarms have been activated: "
        "courier-prod-aggregator-errors; rolled back by d-ROLLBACK1 (Rolled back on alarm); live goes back to version 7"
    )
    assert "Traceback" not in result.output


def test_a_failed_deployment_exits_3(aws, package):
    aws.reads()
    aws.upload("8")
    aws.create()
    aws.poll({"status": "Failed", "errorInformation": {"code": "INVALID_LAMBDA_FUNCTION", "message": "no such version"}}, "7")
    result = run("--package", str(package))
    assert result.exit_code == ExitCode.FAILED
    assert "Failed: INVALID_LAMBDA_FUNCTION: no such version" in result.stderr


def test_a_missing_package_ends_with_one_line_before_any_aws_call(aws, tmp_path):
    result = run("--package", str(tmp_path / "dist" / "courier-lambda.zip"))
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: deploy to prod failed: no package at {tmp_path / 'dist' / 'courier-lambda.zip'}: "
        "build it with `make package` (or give --package)"
    )


def test_a_denied_upload_names_the_action_in_one_line(aws, package):
    aws.reads()
    aws.lam.add_client_error(
        "update_function_code",
        service_error_code="AccessDeniedException",
        service_message=f"User: arn:aws:sts::123456789012:assumed-role/ci/deploy is not authorized to perform: "
        f"lambda:UpdateFunctionCode on resource: arn:aws:lambda:eu-west-2:123456789012:function:{FUNCTION}",
        http_status_code=403,
    )
    result = run("--package", str(package))
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: deploy to prod failed: lambda:UpdateFunctionCode on {FUNCTION} was denied (AccessDeniedException): "
        "the caller lacks the permission for it"
    )
    assert aws.created == []


def test_a_package_already_live_is_nothing_to_deploy(aws, package):
    aws.reads(live_sha=NEW_SHA, latest_sha=NEW_SHA)  # version 7 is the newest, with $LATEST's settings
    result = run("--package", str(package))
    aws.done()
    assert result.exit_code == ExitCode.NOTHING
    assert "nothing to deploy: version 7 behind live already runs this package" in result.stdout


def test_a_version_whose_update_failed_is_not_deployed(package):
    with Aws() as aws:
        aws.reads()
        aws.lam.add_response(
            "update_function_code",
            {"Version": "8", "CodeSha256": NEW_SHA, "LastUpdateStatus": "InProgress"},
            {"FunctionName": FUNCTION, "ZipFile": PACKAGE, "Publish": True},
        )
        aws.lam.add_response(
            "get_function",
            {"Configuration": {"LastUpdateStatus": "Failed", "LastUpdateStatusReason": "ENI limit reached in subnet-1"}},
            {"FunctionName": FUNCTION, "Qualifier": "8"},
        )
        blue_green = LambdaCodeDeploy(aws.lambda_client, aws.codedeploy, TARGET)
        with pytest.raises(DeployError, match="version 8 of courier-prod-aggregator did not become ready: ENI limit reached"):
            deploy(plan(TARGET, package, blue_green), blue_green, sleep=pytest.fail)
        aws.done()
    assert aws.created == []


def test_a_published_version_holding_other_code_is_not_deployed(package):
    with Aws() as aws:
        aws.reads()
        aws.lam.add_response("update_function_code", {"Version": "8", "CodeSha256": OLD_SHA}, None)  # no wait for it
        blue_green = LambdaCodeDeploy(aws.lambda_client, aws.codedeploy, TARGET)
        with pytest.raises(DeployError, match="version 8 of courier-prod-aggregator holds other code"):
            deploy(plan(TARGET, package, blue_green), blue_green, sleep=pytest.fail)
        aws.done()
    assert aws.created == []


# --- a version published already (a config-only apply, a deployment that failed after publishing) -------


def test_a_configuration_only_apply_is_deployed_by_shifting_live_to_the_version_it_published(aws, package):
    # `terraform apply` with publish = true changed only an environment variable: version 8 has the
    # live code and the new settings, $LATEST too; live stays on 7 until a deployment moves it.
    aws.reads(
        live_sha=NEW_SHA,
        latest_sha=NEW_SHA,
        newer={"8": {"sha": NEW_SHA, "settings": NEW_SETTINGS}},
        latest_settings=NEW_SETTINGS,
    )
    aws.ready("8")
    aws.create()
    aws.poll({"status": "Succeeded"}, "8")
    result = run("--package", str(package))
    aws.done()  # no update_function_code nor publish_version stubbed: any would fail the command
    assert result.exit_code == ExitCode.OK, result.output
    assert "version 8 holds the package and the newest settings: publish nothing" in result.stdout
    properties = aws.sent_appspec()["Resources"][0][FUNCTION]["Properties"]
    assert (properties["CurrentVersion"], properties["TargetVersion"]) == ("7", "8")


def test_settings_no_version_holds_yet_are_published_from_latest_and_deployed(aws, package):
    aws.reads(live_sha=NEW_SHA, latest_sha=NEW_SHA, latest_settings=NEW_SETTINGS)
    aws.lam.add_response(
        "publish_version", {"Version": "8", "CodeSha256": NEW_SHA}, {"FunctionName": FUNCTION, "CodeSha256": NEW_SHA}
    )
    aws.ready("8")
    aws.create()
    aws.poll({"status": "Succeeded"}, "8")
    result = run("--package", str(package))
    aws.done()
    assert result.exit_code == ExitCode.OK, result.output
    assert aws.sent_appspec()["Resources"][0][FUNCTION]["Properties"]["TargetVersion"] == "8"


def test_a_newest_version_with_other_code_is_not_what_deploying_this_package_ships(aws, package):
    aws.reads(live_sha=NEW_SHA, latest_sha=OLD_SHA, newer={"8": {"sha": OLD_SHA, "settings": SETTINGS}})
    result = run("--package", str(package))
    aws.done()
    assert result.exit_code == ExitCode.NOTHING
    assert "nothing to deploy" in result.stdout


def test_a_deployment_denied_after_publishing_names_the_version_and_the_rerun_deploys_it(aws, package):
    aws.reads()
    aws.upload("8")
    aws.cd.add_client_error(
        "create_deployment",
        service_error_code="AccessDeniedException",
        service_message="User: arn:aws:sts::123456789012:assumed-role/ci/deploy is not authorized to perform: "
        "codedeploy:CreateDeployment",
        http_status_code=400,
    )
    first = run("--package", str(package))
    aws.done()
    assert first.exit_code == ExitCode.ERROR
    line = first.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: deploy to prod failed: codedeploy:CreateDeployment on {FUNCTION}/{FUNCTION}-live was denied")
    assert line.endswith("; version 8 published, live unchanged on version 7; rerun `courier deploy` to deploy it")
    # The rerun: version 8 is the newest and holds the package, as $LATEST does; nothing is uploaded or published.
    aws.reads(latest_sha=NEW_SHA, newer={"8": {"sha": NEW_SHA, "settings": SETTINGS}})
    aws.ready("8")
    aws.create()
    aws.poll({"status": "Succeeded"}, "8")
    aws.created.clear()  # the denied request of the first run
    rerun = run("--package", str(package))
    aws.done()
    assert rerun.exit_code == ExitCode.OK, rerun.output
    assert aws.sent_appspec()["Resources"][0][FUNCTION]["Properties"]["TargetVersion"] == "8"


def test_a_version_that_never_became_ready_is_named_for_the_rerun(package):
    with Aws() as aws:
        aws.reads()
        aws.lam.add_response(
            "update_function_code",
            {"Version": "8", "CodeSha256": NEW_SHA, "LastUpdateStatus": "InProgress"},
            {"FunctionName": FUNCTION, "ZipFile": PACKAGE, "Publish": True},
        )
        aws.lam.add_client_error("get_function", service_error_code="AccessDeniedException", http_status_code=403)
        blue_green = LambdaCodeDeploy(aws.lambda_client, aws.codedeploy, TARGET)
        with pytest.raises(DeployError) as raised:
            deploy(plan(TARGET, package, blue_green), blue_green, sleep=pytest.fail)
        aws.done()
    assert str(raised.value).startswith(f"lambda:GetFunction on {FUNCTION}:8 was denied")
    assert str(raised.value).endswith("version 8 published, live unchanged on version 7; rerun `courier deploy` to deploy it")
    assert aws.created == []


def test_settings_compare_by_what_a_version_freezes_not_by_what_lambda_reports_of_each_version():
    latest = {
        **version("$LATEST", NEW_SHA, SETTINGS),
        "FunctionArn": f"arn:aws:lambda:eu-west-2:123456789012:function:{FUNCTION}:$LATEST",
        "LastModified": "2026-11-26T06:00:00.000+0000",
        "RevisionId": "a",
        "Layers": [{"Arn": "arn:aws:lambda:eu-west-2:123456789012:layer:x:3", "CodeSize": 10}],
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "VpcConfig": {"SubnetIds": ["subnet-2", "subnet-1"], "SecurityGroupIds": ["sg-1"], "VpcId": "vpc-1"},
    }
    published = {
        **latest,
        "Version": "8",
        "FunctionArn": latest["FunctionArn"].replace("$LATEST", "8"),
        "LastModified": "2026-11-26T06:01:00.000+0000",
        "RevisionId": "b",
        "Layers": [{"Arn": "arn:aws:lambda:eu-west-2:123456789012:layer:x:3", "CodeSize": 11}],
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "On"},
        "VpcConfig": {**latest["VpcConfig"], "SubnetIds": ["subnet-1", "subnet-2"]},
    }
    assert configuration(published) == configuration(latest)
    assert configuration({**published, **NEW_SETTINGS}) != configuration(latest)  # an environment variable changed
    assert configuration({**published, "MemorySize": 1024}) != configuration(latest)


@pytest.mark.parametrize("ignored", [None, "courier-prod-breaker-open"])
def test_an_ignored_alarm_is_left_out_of_this_deployments_alarms_and_logged(aws, package, caplog, ignored):
    # During a NiFi outage breaker-open is in ALARM and would stop every deployment, a hotfix included.
    aws.reads()
    aws.upload("8")
    aws.create(override=ignored is not None)
    aws.poll({"status": "Succeeded"}, "8")
    with caplog.at_level("WARNING", logger="courier.operator.deploy"):
        result = run("--package", str(package), *(["--ignore-alarm", ignored] if ignored else []))
    aws.done()
    assert result.exit_code == ExitCode.OK, result.output
    (request,) = aws.created
    logged = [r for r in caplog.records if r.getMessage() == "deployment ignores rollback alarms"]
    if ignored is None:  # the group's own alarm configuration, untouched
        assert "overrideAlarmConfiguration" not in request and logged == []
        return
    assert request["overrideAlarmConfiguration"] == {"enabled": True, "alarms": [{"name": "courier-prod-aggregator-errors"}]}
    assert request["description"].endswith("; ignoring alarms courier-prod-breaker-open")
    assert "ignoring courier-prod-breaker-open" in result.stdout
    (record,) = logged
    assert record.ignored_alarms == ["courier-prod-breaker-open"]


def test_an_alarm_to_ignore_that_the_group_does_not_have_stops_before_anything_changes(aws, package):
    aws.reads()  # no upload or deployment stubbed: any such call would fail the command
    result = run("--package", str(package), "--ignore-alarm", "courier-prod-breaker-opn")
    aws.done()
    assert result.exit_code == ExitCode.ERROR
    error = " ".join(result.stderr.split())
    assert "error: deploy to prod failed: --ignore-alarm courier-prod-breaker-opn: not a rollback alarm of" in error
    assert aws.created == [] and "Traceback" not in result.output
