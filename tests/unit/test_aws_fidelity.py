"""The moto patches of courier.local.aws_fidelity: each scenario run on plain moto and on the patched one.

On plain moto (a fresh interpreter, nothing patched) every scenario must still show moto's own
answer: when an upgrade fixes or changes one, its test here fails and names the patch to review.
Patched, each gives the answer AWS documents, what `terraform apply` reads back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from moto import mock_aws

REGION = "eu-west-2"
Observation = Any


def _client(service: str) -> Any:
    return boto3.client(service, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")


def _error(call: Callable[[], Any]) -> str | None:
    try:
        call()
    except Exception as error:  # plain moto raises NotImplementedError in-process; botocore a ClientError
        return type(error).__name__ if not hasattr(error, "response") else error.response["Error"]["Code"]
    return None


def lifecycle() -> Observation:
    s3 = _client("s3")
    s3.create_bucket(Bucket="courier-b", CreateBucketConfiguration={"LocationConstraint": REGION})
    rule = {
        "ID": "r",
        "Status": "Enabled",
        "Filter": {"And": {"Prefix": "p/", "ObjectSizeGreaterThan": 1024, "Tags": [{"Key": "k", "Value": "v"}]}},
        "Expiration": {"Days": 7},
    }
    s3.put_bucket_lifecycle_configuration(
        Bucket="courier-b", LifecycleConfiguration={"Rules": [rule]}, TransitionDefaultMinimumObjectSize="varies_by_storage_class"
    )
    got = s3.get_bucket_lifecycle_configuration(Bucket="courier-b")
    return {"rules": got["Rules"], "size": got.get("TransitionDefaultMinimumObjectSize")}


def composite_alarm() -> Observation:
    cloudwatch = _client("cloudwatch")
    refused = _error(lambda: cloudwatch.put_composite_alarm(AlarmName="c", AlarmRule='ALARM("a")'))
    if refused:
        return refused
    return [
        (a["AlarmName"], a["AlarmRule"]) for a in cloudwatch.describe_alarms(AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    ]


def budget_subscribers() -> Observation:
    budgets = _client("budgets")
    notification = {
        "NotificationType": "ACTUAL",
        "ComparisonOperator": "GREATER_THAN",
        "Threshold": 80.0,
        "ThresholdType": "PERCENTAGE",
    }
    subscriber = {"SubscriptionType": "SNS", "Address": "arn:aws:sns:eu-west-2:123456789012:t"}
    budgets.create_budget(
        AccountId="123456789012",
        Budget={"BudgetName": "b", "BudgetLimit": {"Amount": "10", "Unit": "USD"}, "TimeUnit": "MONTHLY", "BudgetType": "COST"},
        NotificationsWithSubscribers=[{"Notification": notification, "Subscribers": [subscriber]}],
    )
    arn = "arn:aws:budgets::123456789012:budget/b"
    found: dict[str, Any] = {}
    for name, call in {
        "subscribers": lambda: budgets.describe_subscribers_for_notification(
            AccountId="123456789012", BudgetName="b", Notification=notification
        )["Subscribers"],
        "tag": lambda: budgets.tag_resource(ResourceARN=arn, ResourceTags=[{"Key": "application", "Value": "courier"}]),
        "tags": lambda: budgets.list_tags_for_resource(ResourceARN=arn)["ResourceTags"],
    }.items():
        try:
            found[name] = call()
        except Exception as error:
            found[name] = type(error).__name__ if not hasattr(error, "response") else error.response["Error"]["Code"]
    found.pop("tag")
    return found


def autoscaling_tags() -> Observation:
    scaling = _client("application-autoscaling")
    scaling.register_scalable_target(
        ServiceNamespace="dynamodb",
        ResourceId="table/courier-prod-idempotency",
        ScalableDimension="dynamodb:table:WriteCapacityUnits",
        MinCapacity=15,
        MaxCapacity=400,
        Tags={"environment": "prod"},
    )
    arn = scaling.describe_scalable_targets(ServiceNamespace="dynamodb")["ScalableTargets"][0]["ScalableTargetARN"]
    tag = _error(lambda: scaling.tag_resource(ResourceARN=arn, Tags={"application": "courier"}))
    listed = _error(lambda: scaling.list_tags_for_resource(ResourceARN=arn))
    return {"tag": tag, "tags": listed or scaling.list_tags_for_resource(ResourceARN=arn)["Tags"]}


def sqs_attributes() -> Observation:
    sqs = _client("sqs")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.set_queue_attributes(
        QueueUrl=queue, Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 20})}
    )
    statement = {"Effect": "Deny", "Principal": "*", "Action": "sqs:SendMessage", "Resource": dlq_arn}
    sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})})
    allow = json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [dlq_arn.replace("dlq", "q")]})
    sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"RedriveAllowPolicy": allow})
    by_name = _error(lambda: sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["RedriveAllowPolicy"]))
    dlq_attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
    return {
        "by_name": by_name,
        "policy_kept": "Policy" in dlq_attributes,
        "redrive": sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"],
    }


def _function(name: str) -> str:
    iam = _client("iam")
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = {"ZipFile": b"PK\x05\x06" + b"\0" * 18}
    return str(
        _client("lambda").create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="h.h", Code=code)[
            "FunctionArn"
        ]
    )


def rotation_without_value() -> Observation:
    secrets = _client("secretsmanager")
    secrets.create_secret(Name="s")
    arn = _function("rotation")
    refused = _error(
        lambda: secrets.rotate_secret(
            SecretId="s", RotationLambdaARN=arn, RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False
        )
    )
    described = secrets.describe_secret(SecretId="s")
    return {"refused": refused, "enabled": described.get("RotationEnabled"), "lambda": described.get("RotationLambdaARN")}


def mapping_on_alias() -> Observation:
    _function("f")
    lam = _client("lambda")
    version = lam.publish_version(FunctionName="f")["Version"]
    alias = lam.create_alias(FunctionName="f", Name="live", FunctionVersion=version)["AliasArn"]
    sqs = _client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    created = lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=alias)
    return {"reported": created["FunctionArn"], "alias": alias}


def versions_by_arn() -> Observation:
    arn = _function("f")
    return [v["Version"] for v in _client("lambda").list_versions_by_function(FunctionName=arn)["Versions"]]


def codedeploy_group() -> Observation:
    codedeploy = _client("codedeploy")
    codedeploy.create_application(applicationName="a", computePlatform="Lambda")
    alarms = {"enabled": True, "alarms": [{"name": "courier-aggregator-errors"}], "ignorePollAlarmFailure": False}
    codedeploy.create_deployment_group(
        applicationName="a", deploymentGroupName="g", serviceRoleArn="arn:aws:iam::123456789012:role/r", alarmConfiguration=alarms
    )
    described = codedeploy.get_deployment_group(applicationName="a", deploymentGroupName="g")["deploymentGroupInfo"]
    return {
        "alarms": described.get("alarmConfiguration"),
        "delete_group": _error(lambda: codedeploy.delete_deployment_group(applicationName="a", deploymentGroupName="g")),
        "delete_application": _error(lambda: codedeploy.delete_application(applicationName="a")),
        "left": codedeploy.list_applications()["applications"],
    }


def bucket_policy() -> Observation:
    """A TLS-only deny and a storage-class rule, as the landing bucket's policy has them, on object writes."""
    s3 = _client("s3")
    s3.create_bucket(Bucket="courier-p", CreateBucketConfiguration={"LocationConstraint": REGION})
    objects = "arn:aws:s3:::courier-p/*"
    statements = [
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": objects,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"StringNotEquals": {"s3:x-amz-storage-class": "STANDARD"}},
        },
    ]
    s3.put_bucket_policy(Bucket="courier-p", Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return {
        "standard": _error(lambda: s3.put_object(Bucket="courier-p", Key="a", Body=b"x", StorageClass="STANDARD")),
        "no_class": _error(lambda: s3.put_object(Bucket="courier-p", Key="b", Body=b"x")),
        "glacier": _error(lambda: s3.put_object(Bucket="courier-p", Key="c", Body=b"x", StorageClass="GLACIER")),
    }


SCENARIOS: dict[str, Callable[[], Observation]] = {
    f.__name__: f
    for f in (
        lifecycle,
        composite_alarm,
        budget_subscribers,
        autoscaling_tags,
        sqs_attributes,
        rotation_without_value,
        mapping_on_alias,
        versions_by_arn,
        codedeploy_group,
        bucket_policy,
    )
}


def observe(name: str) -> Observation:
    with mock_aws():
        return SCENARIOS[name]()


# What plain moto 5.2.5 answers: each entry is the behaviour a patch exists for.
MOTO = {
    "lifecycle": lambda seen: (
        seen["size"] == "all_storage_classes_128K" and "ObjectSizeGreaterThan" not in seen["rules"][0]["Filter"]["And"]
    ),
    "composite_alarm": lambda seen: seen == "NotImplementedError",
    "budget_subscribers": lambda seen: seen == {"subscribers": "NotImplementedError", "tags": "NotImplementedError"},
    "autoscaling_tags": lambda seen: seen == {"tag": "NotImplementedError", "tags": "NotImplementedError"},
    "sqs_attributes": lambda seen: (
        seen["by_name"] == "InvalidAttributeName" and not seen["policy_kept"] and ", " in seen["redrive"]
    ),
    "rotation_without_value": lambda seen: seen["refused"] == "UnboundLocalError",
    "mapping_on_alias": lambda seen: seen["reported"] != seen["alias"] and seen["reported"].endswith(":1"),
    "versions_by_arn": lambda seen: seen == [],
    "codedeploy_group": lambda seen: seen["alarms"] == {} and seen["delete_group"] == "NotImplementedError",
    # Every conditioned statement denies, whatever the request: even the STANDARD put over a secure channel.
    # (moto answers a bucket policy's deny with a bare 403, no AccessDenied body.)
    "bucket_policy": lambda seen: seen == {"standard": "403", "no_class": "403", "glacier": "403"},
}


@pytest.fixture(scope="module")
def plain_moto() -> dict[str, Observation]:
    """Every scenario on moto as installed, in a fresh interpreter that imports nothing of courier's."""
    result = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_plain_moto_still_answers_what_the_patch_corrects(plain_moto, name):
    assert MOTO[name](plain_moto[name]), (
        f"moto changed {name}: review its patch in courier.local.aws_fidelity: {plain_moto[name]}"
    )


@pytest.fixture(scope="module", autouse=False)
def patched() -> None:
    from courier.local.aws_fidelity import make_moto_like_aws_for_terraform

    make_moto_like_aws_for_terraform()


def test_lifecycle_reads_back_as_written(patched):
    seen = observe("lifecycle")
    assert seen["size"] == "varies_by_storage_class"
    assert seen["rules"] == [
        {
            "ID": "r",
            "Status": "Enabled",
            "Filter": {"And": {"Prefix": "p/", "ObjectSizeGreaterThan": 1024, "Tags": [{"Key": "k", "Value": "v"}]}},
            "Expiration": {"Days": 7},
        }
    ]


def test_a_composite_alarm_is_created_and_described_as_composite(patched):
    assert observe("composite_alarm") == [("c", 'ALARM("a")')]


def test_a_budget_notifications_subscribers_and_tags_are_answered(patched):
    seen = observe("budget_subscribers")
    assert seen["subscribers"] == [{"SubscriptionType": "SNS", "Address": "arn:aws:sns:eu-west-2:123456789012:t"}]
    assert seen["tags"] == [{"Key": "application", "Value": "courier"}]


def test_a_scalable_targets_tags_are_kept_and_listed(patched):
    assert observe("autoscaling_tags") == {"tag": None, "tags": {"environment": "prod", "application": "courier"}}


def test_redrive_allow_policy_is_kept_beside_the_policy_and_the_redrive_policy_is_compact(patched):
    seen = observe("sqs_attributes")
    assert seen["by_name"] is None and seen["policy_kept"]
    assert seen["redrive"] == '{"deadLetterTargetArn":"arn:aws:sqs:eu-west-2:123456789012:dlq","maxReceiveCount":20}'


def test_rotation_is_recorded_on_a_secret_without_a_value(patched):
    assert observe("rotation_without_value") == {
        "refused": None,
        "enabled": True,
        "lambda": "arn:aws:lambda:eu-west-2:123456789012:function:rotation",
    }


def test_a_mapping_on_an_alias_reports_the_alias(patched):
    seen = observe("mapping_on_alias")
    assert seen["reported"] == seen["alias"]


def test_versions_are_listed_by_the_functions_arn(patched):
    assert observe("versions_by_arn") == ["$LATEST"]


def test_a_deployment_group_returns_its_alarms_and_deletes(patched):
    seen = observe("codedeploy_group")
    assert seen["alarms"] == {"enabled": True, "alarms": [{"name": "courier-aggregator-errors"}], "ignorePollAlarmFailure": False}
    assert seen["delete_group"] is None and seen["delete_application"] is None and seen["left"] == []


def test_bucket_policy_conditions_are_evaluated_on_the_request(patched):
    # Loopback is secure transport here; the storage-class deny applies to what it names, and to a missing header.
    assert observe("bucket_policy") == {"standard": None, "no_class": "403", "glacier": "403"}


@pytest.mark.parametrize(
    ("operator", "key", "wanted", "context", "holds"),
    [
        ("Bool", "aws:SecureTransport", "false", {"aws:SecureTransport": "true"}, False),
        ("Bool", "aws:SecureTransport", "false", {"aws:SecureTransport": "false"}, True),
        ("StringEquals", "s3:x-amz-server-side-encryption", "AES256", {}, False),
        ("StringNotEquals", "s3:x-amz-server-side-encryption", "AES256", {}, True),
        ("StringNotEquals", "s3:x-amz-server-side-encryption", "AES256", {"s3:x-amz-server-side-encryption": "AES256"}, False),
        ("StringNotEqualsIfExists", "s3:x-amz-storage-class", ["STANDARD"], {}, True),
        ("StringEqualsIfExists", "s3:x-amz-storage-class", ["STANDARD"], {}, True),
        ("Null", "s3:x-amz-server-side-encryption", "true", {}, True),
        ("Null", "s3:x-amz-server-side-encryption", "true", {"s3:x-amz-server-side-encryption": "aws:kms"}, False),
        ("IpAddress", "aws:SourceIp", ["127.0.0.0/8"], {"aws:SourceIp": "127.0.0.1"}, True),
        ("NotIpAddress", "aws:SourceIp", ["203.0.113.0/24"], {"aws:SourceIp": "127.0.0.1"}, True),
        ("NumericLessThan", "s3:TlsVersion", "1.2", {}, False),
        ("NumericLessThan", "s3:TlsVersion", "1.2", {"s3:TlsVersion": "1.1"}, True),
        (
            "StringLike",
            "aws:PrincipalArn",
            "arn:aws:iam::*:user/partner-*",
            {"aws:PrincipalArn": "arn:aws:iam::1:user/partner-a"},
            True,
        ),
    ],
)
def test_a_condition_holds_as_iam_evaluates_it(operator, key, wanted, context, holds):
    from courier.local.aws_fidelity import condition_holds

    assert condition_holds(operator, key, wanted, context) is holds


def test_a_statement_naming_principals_applies_only_to_them():
    from courier.local.aws_fidelity import bucket_policy_permission

    policy = json.dumps(
        {
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": {"AWS": ["arn:aws:iam::123456789012:user/partner"]},
                    "Action": "s3:GetObject",
                    "Resource": "*",
                }
            ]
        }
    )
    assert (
        bucket_policy_permission(
            policy, "s3:GetObject", "arn:aws:s3:::b/k", {"aws:PrincipalArn": "arn:aws:iam::123456789012:user/partner"}
        )
        == "DENIED"
    )
    assert (
        bucket_policy_permission(
            policy, "s3:GetObject", "arn:aws:s3:::b/k", {"aws:PrincipalArn": "arn:aws:iam::123456789012:user/other"}
        )
        == "NEUTRAL"
    )
    assert bucket_policy_permission(policy, "s3:GetObject", "arn:aws:s3:::b/k", {}) == "NEUTRAL"


if __name__ == "__main__":
    print(json.dumps({name: observe(name) for name in SCENARIOS}, default=str))
