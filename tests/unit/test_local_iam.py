"""The local stack renders the same role policy templates as Terraform, and checks what AWS checks."""

from __future__ import annotations

import re

import pytest

from courier.errors import LocalStackError
from courier.local import iam
from courier.stackfile import FAKE_CREDENTIALS
from terraform import POLICIES, resources, templatefile_call

MODULE_OF = {iam.AGGREGATOR.template: "aggregator", iam.CONTROLLER.template: "breaker_controller"}
QUEUE = "arn:aws:sqs:eu-west-2:123456789012:courier-queue"
SECRET = "arn:aws:secretsmanager:eu-west-2:123456789012:secret:courier/nifi-AbCdEf"
DLQ = "arn:aws:sqs:eu-west-2:123456789012:courier-dlq"
VALUES = iam.local_values("eu-west-2", QUEUE, SECRET, "uuid-1", DLQ)


def rendered(template: str) -> dict:
    return iam.render(iam.policy_template(template), VALUES[template])


def test_the_templates_the_local_stack_renders_are_the_ones_the_modules_render():
    assert sorted(p.name for p in POLICIES.glob("*.json.tftpl")) == sorted(MODULE_OF)
    for template, module in MODULE_OF.items():
        path, passed = templatefile_call(resources(module)[("aws_iam_role_policy", "this")]["policy"])
        assert (POLICIES / template).resolve() == (iam.POLICY_DIR / template).resolve()
        assert path == f"../../policies/{template}"
        # The same placeholders: the local stack gives a value for each one the module passes.
        assert set(VALUES[template]) == set(passed) == set(re.findall(r"\$\{(\w+)\}", iam.policy_template(template)))


@pytest.mark.parametrize("template", sorted(MODULE_OF))
def test_rendered_policies_name_the_local_resources_and_no_wildcard(template):
    document = rendered(template)
    assert document["Version"] == "2012-10-17"
    for statement in document["Statement"]:
        assert all("*" not in action for action in statement["Action"]), statement
        for resource in statement["Resource"]:
            assert resource.startswith("arn:aws:") and ":*:" not in resource and resource != "*", resource
    resources_ = {r for s in document["Statement"] for r in s["Resource"]}
    assert QUEUE in resources_ and SECRET in resources_
    assert "arn:aws:dynamodb:eu-west-2:123456789012:table/courier-breaker" in resources_


def test_the_controller_may_switch_only_the_mapping_it_is_given():
    by_sid = {s["Sid"]: s for s in rendered(iam.CONTROLLER.template)["Statement"]}
    for sid in ("ReadThatMapping", "PauseAndResumeOnlyThatMappingOfTheAggregator"):
        assert by_sid[sid]["Resource"] == ["arn:aws:lambda:eu-west-2:123456789012:event-source-mapping:uuid-1"]
    function = "arn:aws:lambda:eu-west-2:123456789012:function:courier-aggregator"
    condition = by_sid["PauseAndResumeOnlyThatMappingOfTheAggregator"]["Condition"]
    assert condition == {"ArnLike": {"lambda:FunctionArn": [function, f"{function}:*"]}}


def test_render_does_terraforms_substitution_and_refuses_what_it_cannot():
    assert iam.render('{"R": ["${a}/*"]}', {"a": 'x"y'}) == {"R": ['x"y/*']}  # JSON-escaped
    with pytest.raises(LocalStackError, match="placeholders"):
        iam.render('{"R": "${a}"}', {"a": "x", "b": "unused"})
    with pytest.raises(LocalStackError, match="more than"):
        iam.render('{"R": "${jsonencode(a)}"}', {"a": "x"})
    with pytest.raises(LocalStackError, match="more than"):
        iam.render("%{ for a in b }{}%{ endfor }", {})


def test_the_operator_signs_with_the_key_operator_commands_use():
    assert iam.OPERATOR.environment() == FAKE_CREDENTIALS
    assert len({p.access_key for p in (iam.AGGREGATOR, iam.CONTROLLER, iam.OPERATOR)}) == 3
    assert all(
        a.endswith(":*") and a.split(":")[0] in iam.OPERATOR_SERVICES for a in iam.OPERATOR_POLICY["Statement"][0]["Action"]
    )


def test_a_transaction_is_authorised_per_item_action_and_a_batch_per_table():
    table = "arn:aws:dynamodb:eu-west-2:1:table/"
    transaction = {"TransactItems": [{"Update": {"TableName": "ledger"}}, {"ConditionCheck": {"TableName": "other"}}]}
    assert iam._dynamodb_checks("TransactWriteItems", transaction, "eu-west-2", "1") == [
        ("UpdateItem", table + "ledger"),
        ("ConditionCheckItem", table + "other"),
    ]
    batch = {"RequestItems": {"ledger": {}, "breaker": {}}}
    assert iam._dynamodb_checks("BatchGetItem", batch, "eu-west-2", "1") == [
        ("BatchGetItem", table + "ledger"),
        ("BatchGetItem", table + "breaker"),
    ]
    assert iam._dynamodb_checks("GetItem", {"TableName": "ledger"}, "eu-west-2", "1") == [("GetItem", table + "ledger")]
    assert iam._dynamodb_checks("ListTables", {}, "eu-west-2", "1") == [("ListTables", "*")]


def test_lambda_requests_name_their_mapping_or_function():
    prefix = "arn:aws:lambda:eu-west-2:1"
    assert iam._lambda_arn("/2015-03-31/event-source-mappings/abc", "eu-west-2", "1") == f"{prefix}:event-source-mapping:abc"
    assert iam._lambda_arn("/2015-03-31/event-source-mappings/", "eu-west-2", "1") == "*"
    assert iam._lambda_arn("/2015-03-31/functions/f/configuration", "eu-west-2", "1") == f"{prefix}:function:f"
    arn = f"{prefix}:function:f:live"
    assert iam._lambda_arn(f"/2015-03-31/functions/{arn}/invocations", "eu-west-2", "1") == arn
    assert iam.BATCH_ACTIONS["DeleteMessageBatch"] == "DeleteMessage"


def test_a_versions_tags_are_authorised_by_the_version_tagging_actions_as_in_aws():
    from moto.s3.responses import ACTION_MAP, S3Response

    # moto's own map has no version-tagging action: the gap this patch closes is still there.
    assert "PutObjectVersionTagging" not in str(ACTION_MAP) and "GetObjectVersionTagging" not in str(ACTION_MAP)
    iam.authorize_like_aws()
    response = S3Response.__new__(S3Response)
    response.data = {}

    def action(method: str, query: dict) -> str:
        response._set_action("KEY", method, query)
        return response.data["Action"]

    assert action("PUT", {"tagging": [""], "versionId": ["v1"]}) == "PutObjectVersionTagging"
    assert action("GET", {"tagging": [""], "versionId": ["v1"]}) == "GetObjectVersionTagging"
    assert action("PUT", {"tagging": [""]}) == "PutObjectTagging"  # the current revision's: a plain form
    assert action("GET", {"tagging": [""]}) == "GetObjectTagging"
    assert action("GET", {"versionId": ["v1"]}) == "GetObjectVersion"
