"""The Terraform side of `courier deploy`: CodeDeploy owns the `live` alias, with the canary and alarm rollback."""

from __future__ import annotations

from courier.ports import Target
from courier.resources import DEPLOYMENT_GROUP_SUFFIX, FUNCTION_NAME, LIVE_ALIAS, NAME_PREFIX
from terraform import default, load, locals_, resources

AGGREGATOR = resources("aggregator")


def _pipeline_module(name: str) -> dict:
    return next(block[name] for block in load("pipeline")["module"] if name in block)


def test_terraform_never_moves_the_live_alias_after_creating_it():
    alias = AGGREGATOR[("aws_lambda_alias", "this")]
    assert alias["name"] == LIVE_ALIAS
    # An apply would otherwise send all traffic to each version it publishes (no canary) and reset a running canary.
    assert {"function_version", "routing_config"} <= set(alias["lifecycle"][0]["ignore_changes"])
    assert AGGREGATOR[("aws_lambda_function", "this")]["publish"] is True  # versions for CodeDeploy to shift to
    assert AGGREGATOR[("aws_lambda_event_source_mapping", "this")]["function_name"] == "${aws_lambda_alias.this.arn}"


def test_the_deployment_group_is_a_canary_rolled_back_on_alarm():
    group = AGGREGATOR[("aws_codedeploy_deployment_group", "this")]
    assert AGGREGATOR[("aws_codedeploy_app", "this")]["compute_platform"] == "Lambda"
    assert group["deployment_style"] == [{"deployment_type": "BLUE_GREEN", "deployment_option": "WITH_TRAFFIC_CONTROL"}]
    assert group["deployment_config_name"] == "${var.deployment_config_name}"
    assert default("aggregator", "deployment_config_name") == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert "deployment_config_name" not in _pipeline_module("aggregator")  # the canary default is what is deployed
    rollback = group["auto_rollback_configuration"][0]
    assert rollback["enabled"] is True and {"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"} <= set(rollback["events"])
    alarms = group["alarm_configuration"][0]
    assert alarms["alarms"] == "${var.rollback_alarm_names}" and alarms["enabled"] == "${length(var.rollback_alarm_names) > 0}"
    # The pipeline passes alarms, so the alarm configuration is on; monitoring makes alarms of these names.
    passed = _pipeline_module("aggregator")["rollback_alarm_names"]
    assert passed == ["${local.name}-aggregator-errors", "${local.name}-aggregator-canary-errors", "${local.name}-breaker-open"]
    monitoring = resources("monitoring")
    # The canary's: the new version gets 10% for 5 minutes, so 1 bad minute of 2 rolls it back.
    canary = monitoring[("aws_cloudwatch_metric_alarm", "canary_errors")]
    assert canary["alarm_name"] == "${var.name}-aggregator-canary-errors"
    assert canary["dimensions"] == {"FunctionName": "${var.function_name}", "Resource": "${var.function_name}:live"}
    assert (canary["period"], canary["evaluation_periods"], canary["datapoints_to_alarm"]) == (60, 2, 1)
    assert canary["metric_name"] == "Errors" and canary["threshold"] == 0
    assert monitoring[("aws_cloudwatch_metric_alarm", "function_errors")]["alarm_name"] == "${var.name}-${each.key}-errors"
    assert "aggregator" in monitoring[("aws_cloudwatch_metric_alarm", "function_errors")]["for_each"]
    assert monitoring[("aws_cloudwatch_metric_alarm", "breaker_open")]["alarm_name"] == "${var.name}-breaker-open"
    assert _pipeline_module("monitoring")["name"] == "${local.name}"


def test_courier_deploy_names_what_the_terraform_names():
    group = AGGREGATOR[("aws_codedeploy_deployment_group", "this")]
    assert AGGREGATOR[("aws_lambda_function", "this")]["function_name"] == "${var.name}"
    assert AGGREGATOR[("aws_codedeploy_app", "this")]["name"] == "${var.name}"  # the application is named as the function
    assert group["deployment_group_name"] == "${var.name}" + DEPLOYMENT_GROUP_SUFFIX
    assert _pipeline_module("aggregator")["name"] == "${local.name}" + FUNCTION_NAME.removeprefix(NAME_PREFIX)
    assert locals_("pipeline")["name"] == '${coalesce(var.name, "courier-${var.environment}")}'
    for env in ("staging", "prod"):
        function = f"courier-{env}-aggregator"
        assert Target.of_environment(env) == Target(function, LIVE_ALIAS, function, function + "-live")


def test_the_deploying_roles_rights_include_what_an_alarm_override_needs():
    # `courier deploy --ignore-alarm` sends CreateDeployment's overrideAlarmConfiguration
    # (tests/unit/test_deploy.py), and AWS requires codedeploy:UpdateDeploymentGroup for that call:
    # a role with only the rights listed before was denied the very hotfix the option is for.
    from pathlib import Path

    text = (Path(__file__).parents[2] / "infra" / "terraform" / "README.md").read_text()
    needs = text[text.index("What the deploying role needs") :]
    needs = needs[: needs.index("\n\n")]
    assert "--ignore-alarm" in needs and "UpdateDeploymentGroup" in needs
    assert "three rollback alarms" in needs  # errors, canary errors, breaker open
