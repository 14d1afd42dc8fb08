"""`terraform apply` of envs/staging (and prod) against the local stack's emulator: apply, plan, check, destroy.

The environment's own files, unchanged, with an override file pointing the provider at the
emulator (tests/terraform_emulator.py). The cycle proves what `terraform test` with a mocked
provider cannot: the provider's requests succeed against an AWS API (moto's, with the patches of
courier.local.aws_fidelity), a second plan is empty (the configuration reads back as written),
destroy removes everything; and what Terraform created is what the local stack provisions for
the code (queue and DLQ attributes, tables, lifecycle, notification, mapping, role policies).
The tests run in file order: the last destroys. A cycle takes minutes; it runs once per suite.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import botocore.config
import pytest

import terraform_cli as tf
import terraform_emulator as te
from conftest import delivered_files, wait_until
from courier.ledger.base import EXPIRY_ATTRIBUTE, PARTITION_KEY, SORT_KEY
from courier.local import iam
from courier.resources import (
    BREAKER_EXPIRY_ATTRIBUTE,
    BREAKER_KEY,
    DLQ_RETENTION_SECONDS,
    MAX_RECEIVE_COUNT,
    QUEUE_RETENTION_SECONDS,
    landing_lifecycle,
)
from terraform_emulator import Applied, apply, stop

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(tf.unavailable() is not None, reason=f"terraform apply against the emulator: {tf.unavailable()}"),
    pytest.mark.timeout(900),
]

ACCOUNT = iam.ACCOUNT_ID
REGION = te.REGION


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    applied = apply(tmp_path_factory.mktemp("staging"), "staging")
    yield applied
    stop(applied)


def second_plan_exit_code(applied: Applied) -> tuple[int, str]:
    result = tf.terraform(applied.root, applied.tmp, "plan", "-detailed-exitcode", "-input=false", check=False)
    return result.returncode, result.stdout[-6000:] + result.stderr[-3000:]


def destroy_to_an_empty_state(applied: Applied) -> None:
    tf.terraform(applied.root, applied.tmp, "destroy", "-auto-approve", "-input=false", timeout=600)
    assert applied.resources() == {}


def test_a_second_plan_of_the_applied_staging_is_empty(staging: Applied):
    code, output = second_plan_exit_code(staging)
    assert code == 0, output


def test_the_queue_and_dlq_are_what_the_local_stack_provisions(staging: Applied):
    sqs = staging.client("sqs")
    queue = sqs.get_queue_attributes(
        QueueUrl=sqs.get_queue_url(QueueName=staging.name("queue"))["QueueUrl"], AttributeNames=["All"]
    )
    dlq = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName=staging.name("dlq"))["QueueUrl"], AttributeNames=["All"])
    queue, dlq = queue["Attributes"], dlq["Attributes"]
    assert int(queue["MessageRetentionPeriod"]) == QUEUE_RETENTION_SECONDS
    assert int(dlq["MessageRetentionPeriod"]) == DLQ_RETENTION_SECONDS
    assert json.loads(queue["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["QueueArn"], "maxReceiveCount": MAX_RECEIVE_COUNT}
    # The visibility timeout the design derives: 6 x the function's timeout + the batching window.
    timeout = staging.client("lambda").get_function_configuration(FunctionName=staging.name("aggregator"))["Timeout"]
    mapping = only_mapping(staging)
    assert int(queue["VisibilityTimeout"]) == 6 * timeout + mapping["MaximumBatchingWindowInSeconds"]
    assert queue["SqsManagedSseEnabled"] == "true"
    assert json.loads(dlq["RedriveAllowPolicy"]) == {"redrivePermission": "byQueue", "sourceQueueArns": [queue["QueueArn"]]}
    assert "Policy" in dlq and "Policy" in queue


def test_the_tables_have_the_codes_keys_and_ttl(staging: Applied):
    dynamodb = staging.client("dynamodb")
    for table, keys, ttl in (
        (staging.name("idempotency"), [(PARTITION_KEY, "HASH"), (SORT_KEY, "RANGE")], EXPIRY_ATTRIBUTE),
        (staging.name("breaker"), [(BREAKER_KEY, "HASH")], BREAKER_EXPIRY_ATTRIBUTE),
    ):
        described = dynamodb.describe_table(TableName=table)["Table"]
        assert [(k["AttributeName"], k["KeyType"]) for k in described["KeySchema"]] == keys
        assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        live = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        assert (live["TimeToLiveStatus"], live["AttributeName"]) == ("ENABLED", ttl)


def test_the_landing_bucket_has_the_local_stacks_lifecycle_and_notification(staging: Applied):
    s3 = staging.client("s3")
    bucket = "example-courier-landing-staging"
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"] == landing_lifecycle()["Rules"]
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{staging.name('queue')}"
    notified = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    assert [(n["QueueArn"], n["Events"]) for n in notified] == [(queue_arn, ["s3:ObjectCreated:*"])]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


def only_mapping(applied: Applied) -> dict[str, Any]:
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{applied.name('queue')}"
    mappings = applied.client("lambda").list_event_source_mappings(EventSourceArn=queue_arn)["EventSourceMappings"]
    assert len(mappings) == 1, mappings
    return dict(mappings[0])


def test_the_mapping_invokes_the_live_alias_reporting_batch_item_failures(staging: Applied):
    mapping = only_mapping(staging)
    assert mapping["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{staging.name('aggregator')}:live"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    alias = staging.client("lambda").get_alias(FunctionName=staging.name("aggregator"), Name="live")
    assert alias["FunctionVersion"] != "$LATEST"


def template_values(applied: Applied, mapping_uuid: str) -> dict[str, dict[str, str]]:
    """The values the modules pass to each policy template, as the environment's ARNs (as iam.local_values does locally)."""
    secret_arn = applied.client("secretsmanager").describe_secret(SecretId=f"{applied.name('')[:-1]}/nifi")["ARN"]
    lambda_prefix = f"arn:aws:lambda:{REGION}:{ACCOUNT}"
    local = iam.local_values(REGION, "queue", secret_arn, mapping_uuid, "dlq")
    ours = {
        "landing_bucket_arn": f"arn:aws:s3:::example-courier-landing-{applied.environment}",
        "archive_bucket_arn": f"arn:aws:s3:::example-courier-archive-{applied.environment}",
        "idempotency_table_arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{applied.name('idempotency')}",
        "breaker_table_arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{applied.name('breaker')}",
        "secret_arn": secret_arn,
        "queue_arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{applied.name('queue')}",
        "dlq_arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{applied.name('dlq')}",
        "function_arn": f"{lambda_prefix}:function:{applied.name('aggregator')}",
        "aggregator_function_arn": f"{lambda_prefix}:function:{applied.name('aggregator')}",
        "lambda_arn_prefix": lambda_prefix,
        "event_source_mapping_arn": f"{lambda_prefix}:event-source-mapping:{mapping_uuid}",
    }
    logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda"
    values = {}
    for template, local_map in local.items():
        function = "aggregator" if template == iam.AGGREGATOR.template else "breaker-controller"
        unknown = set(local_map) - set(ours) - {"log_group_arn"}
        assert not unknown, f"{template} takes values this test does not know: {sorted(unknown)}"
        values[template] = {key: ours.get(key, f"{logs}/{applied.name(function)}") for key in local_map}
    return values


def test_the_function_roles_carry_exactly_the_rendered_templates(staging: Applied):
    client = staging.client("iam")
    values = template_values(staging, only_mapping(staging)["UUID"])
    for template, role in (
        (iam.AGGREGATOR.template, staging.name("aggregator-role")),
        (iam.CONTROLLER.template, staging.name("breaker-controller-role")),
    ):
        policies = client.list_role_policies(RoleName=role)["PolicyNames"]
        rendered = iam.render(iam.policy_template(template), values[template])
        documents = [client.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"] for name in policies]
        assert rendered in documents, f"{role} does not carry {template} as rendered: {documents}"
        assert client.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []


@pytest.fixture(scope="module")
def uploader(staging: Applied) -> Any:
    """The external party: the principal the settings name (tests/terraform_emulator.py), from loopback (in its CIDRs).

    The TLS-only deny does not apply to the emulator's loopback, the uploader's own denies do.
    """
    admin = staging.client("iam")
    admin.create_user(UserName="partner-uploader")
    key = admin.create_access_key(UserName="partner-uploader")["AccessKey"]
    return boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=staging.emulator.endpoint,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )


def empty_the_landing_bucket(applied: Applied) -> None:
    # As an operator empties the bucket before a destroy (no force_destroy: S3 refuses to delete a non-empty bucket).
    # The archive too, once the pipeline has archived bundles in it.
    s3 = applied.client("s3")
    for bucket in (f"example-courier-landing-{applied.environment}", f"example-courier-archive-{applied.environment}"):
        listed = s3.list_object_versions(Bucket=bucket)
        for version in listed.get("Versions", []) + listed.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])


def test_the_uploader_puts_under_the_bucket_policy_terraform_wrote_and_the_queue_hears_of_it(staging: Applied, uploader: Any):
    from botocore.exceptions import ClientError

    from courier.local.emulator import _detach_moto_self_invocation

    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{staging.name('queue')}"
    _detach_moto_self_invocation(queue_arn)  # moto would invoke the mapped function itself (through Docker)
    bucket = "example-courier-landing-staging"
    uploader.put_object(Bucket=bucket, Key="in/terraform.csv", Body=b"a,b\n")
    with pytest.raises(ClientError) as refused:
        uploader.get_object(Bucket=bucket, Key="in/terraform.csv")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    sqs = staging.client("sqs")
    url = sqs.get_queue_url(QueueName=staging.name("queue"))["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, MaxNumberOfMessages=10).get("Messages", [])
    # Keys arrive URL-encoded in S3 events (moto encodes "/" too; unquote_plus reads both).
    keys = [unquote_plus(record["s3"]["object"]["key"]) for m in messages for record in json.loads(m["Body"]).get("Records", [])]
    assert keys == ["in/terraform.csv"]
    # Nothing left for the pipeline test's runtime: the message is read, the object gone.
    sqs.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
    )
    empty_the_landing_bucket(staging)


def test_files_uploaded_through_terraforms_landing_bucket_are_delivered_once_by_courier_on_its_mapping(
    staging: Applied, uploader: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # courier's aggregator (the local Lambda runtime, on the mapping Terraform made: its queue, batch size, window,
    # the live alias) with the function's environment as Terraform set it, delivering to the local receiver;
    # then one run of the breaker controller against Terraform's breaker table.
    from courier.ports import BreakerState

    pipeline = te.start_pipeline(staging, tmp_path / "receiver", monkeypatch.setenv)
    try:
        bucket = "example-courier-landing-staging"
        uploaded = {f"in/pipeline-{i}.csv": f"row,{i}\n".encode() * (100 + i) for i in range(5)}
        for key, body in uploaded.items():
            uploader.put_object(Bucket=bucket, Key=key, Body=body)
        state = pipeline.fake_nifi.state
        assert wait_until(lambda: len(state.deliveries) >= len(uploaded), timeout=120), dict(state.deliveries)
        decision = pipeline.controller.run_once()
        assert pipeline.poller.stats.snapshot()["errors"] == 0
    finally:
        te.stop_pipeline(pipeline)
    # Exactly once each: one delivery per file, in one bundle, the receiver's SHA-256 check passed (200s only).
    assert sorted(key for _, key, _ in state.deliveries) == sorted(uploaded)
    assert set(state.deliveries.values()) == {1}
    assert all(len(shas) == 1 for shas in state.bundles_of_file.values())
    assert set(state.responses) == {200}
    assert {key: bodies for key, bodies in delivered_files(pipeline).items()} == {k: [v] for k, v in uploaded.items()}
    # The controller read Terraform's breaker table (closed, or no item yet) and left the mapping enabled.
    assert decision.breaker_state in (BreakerState.CLOSED, BreakerState.MISSING) and decision.enabled_after is True, decision
    empty_the_landing_bucket(staging)


def test_destroy_leaves_staging_with_an_empty_state(staging: Applied):
    destroy_to_an_empty_state(staging)


def assert_the_ledger_is_provisioned_and_auto_scaled(prod: Applied) -> None:
    table = prod.name("idempotency")
    described = prod.client("dynamodb").describe_table(TableName=table)["Table"]
    assert described["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    throughput = described["ProvisionedThroughput"]
    assert (throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]) == (5, 15)
    scaling = prod.client("application-autoscaling")
    targets = scaling.describe_scalable_targets(ServiceNamespace="dynamodb", ResourceIds=[f"table/{table}"])["ScalableTargets"]
    bounds = {t["ScalableDimension"]: (t["MinCapacity"], t["MaxCapacity"]) for t in targets}
    assert bounds == {"dynamodb:table:ReadCapacityUnits": (5, 100), "dynamodb:table:WriteCapacityUnits": (15, 400)}
    policies = scaling.describe_scaling_policies(ServiceNamespace="dynamodb", ResourceId=f"table/{table}")["ScalingPolicies"]
    tracked = {
        p["PolicyName"]: p["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]["PredefinedMetricType"]
        for p in policies
    }
    assert tracked == {f"{table}-read": "DynamoDBReadCapacityUtilization", f"{table}-write": "DynamoDBWriteCapacityUtilization"}


def test_prod_without_its_cost_tag_applies_plans_empty_and_destroys(tmp_path: Path):
    # The account-wide cost allocation tag is Cost Explorer's, which moto does not emulate.
    prod = apply(tmp_path, "prod", manage_cost_allocation_tag=False)
    try:
        code, output = second_plan_exit_code(prod)
        assert code == 0, output
        assert only_mapping(prod)["FunctionArn"].endswith(":courier-prod-aggregator:live")
        assert_the_ledger_is_provisioned_and_auto_scaled(prod)
        destroy_to_an_empty_state(prod)
    finally:
        stop(prod)
