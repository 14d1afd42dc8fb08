"""`courier deploy`'s Lambda half against the emulator: a real upload, publish and alias (moto), CodeDeploy stubbed.

moto implements UpdateFunctionCode with Publish, PublishVersion, ListVersionsByFunction, GetAlias
and GetFunction (the waiter's call); its CodeDeploy accepts a deployment but never runs one, so CodeDeploy is
botocore's Stubber here, as in tests/unit/test_deploy.py.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from courier.adapters.deploy import LambdaCodeDeploy
from courier.operator.deploy import deploy, plan
from courier.ports import Target

TARGET = Target.of_environment("staging")
GROUP = {
    "deploymentGroupInfo": {
        "deploymentConfigName": "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        "alarmConfiguration": {"enabled": True, "alarms": [{"name": "courier-staging-aggregator-errors"}]},
        "autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]},
    }
}


def _zip(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("courier/handler.py", text)
    return buffer.getvalue()


@pytest.fixture
def function(aws: Any) -> Any:
    """The aggregator as Terraform leaves it: version 1 published, `live` on it."""
    role = aws.client("iam").create_role(
        RoleName=TARGET.function,
        AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}',
    )["Role"]["Arn"]
    lam = aws.client("lambda")
    lam.create_function(
        FunctionName=TARGET.function,
        Runtime="python3.12",
        Role=role,
        Handler="courier.handler.lambda_handler",
        Code={"ZipFile": _zip("version = 1\n")},
        Publish=True,
    )
    lam.create_alias(FunctionName=TARGET.function, Name="live", FunctionVersion="1")
    return lam


def test_a_new_package_becomes_a_published_version_and_the_appspec_targets_it(aws, function, tmp_path: Path):
    package = tmp_path / "courier-lambda.zip"
    package.write_bytes(_zip("version = 2\n"))
    codedeploy = aws.client("codedeploy")
    sent: list[dict[str, Any]] = []
    codedeploy.meta.events.register("provide-client-params.codedeploy.CreateDeployment", lambda params, **_: sent.append(params))
    with Stubber(codedeploy) as stubbed:
        stubbed.add_response(
            "get_deployment_group", GROUP, {"applicationName": TARGET.application, "deploymentGroupName": TARGET.group}
        )
        stubbed.add_response("create_deployment", {"deploymentId": "d-EMULATED1"}, None)
        stubbed.add_response("get_deployment", {"deploymentInfo": {"status": "Succeeded"}}, {"deploymentId": "d-EMULATED1"})
        blue_green = LambdaCodeDeploy(function, codedeploy, TARGET)
        planned = plan(TARGET, package, blue_green)
        assert planned.live.version == "1" and planned.uploads and not planned.already_live
        outcome = deploy(planned, blue_green, sleep=pytest.fail)
    properties = json.loads(sent[0]["revision"]["appSpecContent"]["content"])["Resources"][0][TARGET.function]["Properties"]
    assert (properties["CurrentVersion"], properties["TargetVersion"]) == ("1", outcome.target_version)
    published = function.get_function_configuration(FunctionName=TARGET.function, Qualifier=outcome.target_version)
    assert published["CodeSha256"] == base64.b64encode(hashlib.sha256(package.read_bytes()).digest()).decode()
    assert outcome.target_version != "1"
    # CodeDeploy (stubbed) did not move the alias: only a deployment does, never the publish.
    assert function.get_alias(FunctionName=TARGET.function, Name="live")["FunctionVersion"] == "1"


def test_a_package_an_apply_uploaded_is_published_from_latest(aws, function, tmp_path: Path):
    package = tmp_path / "courier-lambda.zip"
    package.write_bytes(_zip("version = 2\n"))
    function.update_function_code(FunctionName=TARGET.function, ZipFile=package.read_bytes())  # as `terraform apply` would
    codedeploy = aws.client("codedeploy")
    with Stubber(codedeploy) as stubbed:
        stubbed.add_response("get_deployment_group", GROUP, None)
        stubbed.add_response("create_deployment", {"deploymentId": "d-EMULATED2"}, None)
        stubbed.add_response("get_deployment", {"deploymentInfo": {"status": "Succeeded"}}, None)
        blue_green = LambdaCodeDeploy(function, codedeploy, TARGET)
        planned = plan(TARGET, package, blue_green)
        assert not planned.uploads
        outcome = deploy(planned, blue_green, sleep=pytest.fail)
    assert outcome.succeeded and outcome.target_version != "1"
    published = function.get_function_configuration(FunctionName=TARGET.function, Qualifier=outcome.target_version)
    assert published["CodeSha256"] == planned.package.code_sha256


def test_the_operator_commands_find_the_mapping_terraform_puts_on_the_live_alias(aws, function):
    # Terraform's mapping invokes `live`; listing by the unqualified name does not find it.
    from courier.adapters.function import DeployedFunction
    from courier.adapters.mapping import LambdaEventSourceMapping

    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName="courier-staging-queue")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    alias_arn = function.get_alias(FunctionName=TARGET.function, Name="live")["AliasArn"]
    uuid = function.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=alias_arn)["UUID"]
    assert function.list_event_source_mappings(FunctionName=TARGET.function)["EventSourceMappings"] == []  # the old query
    mapping = LambdaEventSourceMapping.of_function(function, TARGET.function, queue_arn)  # courier status
    assert mapping is not None and mapping.uuid == uuid
    deployed = DeployedFunction.read(function, TARGET.function)  # --function: the queue and mapping it names
    assert (deployed.mapping_uuid, deployed.queue_arn) == (uuid, queue_arn)
    # Another function's mapping on the same queue is not taken for this one's.
    assert LambdaEventSourceMapping.of_function(function, "courier-staging-breaker-controller", queue_arn) is None
