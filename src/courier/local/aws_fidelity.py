"""moto behaviours that differ from AWS's where `terraform apply` of an environment meets them.

Applying ``envs/staging`` against the emulator (tests/e2e/test_terraform_applied.py) fails or
drifts on these, each moto's, none the Terraform's; each patch gives the emulator AWS's answer
and has a test (tests/unit/test_aws_fidelity.py) that fails once moto changes the behaviour it
patches, so an upgrade that fixes one shows which patch to drop.

* S3 lifecycle: moto ignores ``x-amz-transition-default-minimum-object-size`` and drops
  ``ObjectSizeGreaterThan``/``ObjectSizeLessThan`` (inside ``And`` too) from what it returns:
  the provider's read-back never matches and it waits 3 minutes. Here a bucket returns the
  rules and the setting it was given.
* CloudWatch: no ``PutCompositeAlarm``; moto's ``PutMetricAlarm`` already stores an ``AlarmRule``.
* Budgets: no ``DescribeSubscribersForNotification``, ``ListTagsForResource``, ``TagResource``,
  ``UntagResource``.
* SQS: ``RedriveAllowPolicy`` refused by name on GetQueueAttributes (the provider retries until
  its timeout); any SetQueueAttributes without ``Policy`` wipes the queue's policy; the
  ``RedrivePolicy`` comes back re-spaced (AWS returns it compact, as Terraform writes it).
* Secrets Manager: enabling rotation on a secret with no value yet fails (moto's internal
  error); AWS records the rotation. moto cannot run the rotation function (no Docker here),
  so with a value it is not invoked either: the rotation drill covers rotation itself.
* Lambda: an event source mapping on an alias reports the version's ARN; AWS the alias's.
* CodeDeploy: a deployment group returns no ``alarmConfiguration``; no ``DeleteDeploymentGroup``
  or ``DeleteApplication``.
"""

from __future__ import annotations

import json
import threading
from typing import Any

_APPLIED = threading.Lock()
_done = False

LIFECYCLE_SIZE_HEADER = "x-amz-transition-default-minimum-object-size"
LIFECYCLE_SIZE_DEFAULT = "all_storage_classes_128K"


def make_moto_like_aws_for_terraform() -> None:
    """Apply every patch once per process."""
    global _done
    with _APPLIED:
        if _done:
            return
        _s3_lifecycle_as_given()
        _cloudwatch_composite_alarms()
        _budgets_subscribers_and_tags()
        _sqs_attributes_like_aws()
        _secret_rotation_without_a_value()
        _mapping_on_an_alias()
        _codedeploy_groups_like_aws()
        _done = True


# --- S3 --------------------------------------------------------------------------------------

# Elements S3 repeats in a LifecycleConfiguration, by their name in the API's shape.
_LIST_NAMES = {"Rule": "Rules", "Transition": "Transitions", "NoncurrentVersionTransition": "NoncurrentVersionTransitions"}
_TEXT = {"ID", "Prefix", "Key", "Value", "Status", "StorageClass", "Date"}


def lifecycle_from_xml(parsed: dict[str, Any]) -> list[dict[str, Any]]:
    """The rules of a parsed (xmltodict) LifecycleConfiguration in the API's shape: numbers as numbers, lists as lists."""

    def shape(name: str, value: Any) -> Any:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, inner in value.items():
                if key.startswith("@"):
                    continue
                if name == "And" and key == "Tag":
                    out["Tags"] = [shape("Tag", tag) for tag in (inner if isinstance(inner, list) else [inner])]
                elif key in _LIST_NAMES:
                    out[_LIST_NAMES[key]] = [shape(key, item) for item in (inner if isinstance(inner, list) else [inner])]
                else:
                    out[key] = shape(key, inner)
            return out
        if value is None:
            return "" if name == "Prefix" else {}
        if name not in _TEXT and isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)
        if value in ("true", "false") and name not in _TEXT:
            return value == "true"
        return value

    return list(shape("LifecycleConfiguration", parsed.get("LifecycleConfiguration") or {}).get("Rules", []))


def _s3_lifecycle_as_given() -> None:
    import xmltodict
    from moto.core.common_types import TYPE_RESPONSE
    from moto.core.responses import ActionResult
    from moto.s3.exceptions import NoSuchLifecycleConfiguration
    from moto.s3.responses import S3Response

    put = S3Response._bucket_response_put
    get = S3Response.get_bucket_lifecycle
    delete = S3Response.delete_bucket_lifecycle

    def put_as_given(self: Any, request: Any, bucket_name: str, querystring: dict[str, Any]) -> Any:
        answer = put(self, request, bucket_name, querystring)
        if "lifecycle" in querystring and answer == "":
            bucket = self.backend.get_bucket(bucket_name)
            bucket.courier_lifecycle = lifecycle_from_xml(xmltodict.parse(self.body))
            size = request.headers.get(LIFECYCLE_SIZE_HEADER) or LIFECYCLE_SIZE_DEFAULT
            bucket.courier_lifecycle_size = size
            return 200, {LIFECYCLE_SIZE_HEADER: size}, ""
        return answer

    def get_as_given(self: Any) -> TYPE_RESPONSE:
        bucket = self.backend.get_bucket(self.bucket_name)
        rules = getattr(bucket, "courier_lifecycle", None)
        if rules is None or not bucket.rules:
            return get(self)
        if not rules:
            raise NoSuchLifecycleConfiguration(bucket_name=self.bucket_name)
        self.data["Action"] = "GetBucketLifecycleConfiguration"
        result = {"Rules": rules, "TransitionDefaultMinimumObjectSize": bucket.courier_lifecycle_size}
        return self.serialized(ActionResult(result))

    def delete_as_given(self: Any) -> TYPE_RESPONSE:
        answer = delete(self)
        self.backend.get_bucket(self.bucket_name).courier_lifecycle = None
        return answer

    S3Response._bucket_response_put = put_as_given  # type: ignore[method-assign]
    S3Response.get_bucket_lifecycle = get_as_given  # type: ignore[method-assign]
    S3Response.delete_bucket_lifecycle = delete_as_given  # type: ignore[method-assign]


# --- CloudWatch ------------------------------------------------------------------------------


def _cloudwatch_composite_alarms() -> None:
    from moto.cloudwatch.responses import CloudWatchResponse

    if not hasattr(CloudWatchResponse, "put_composite_alarm"):
        # moto's PutMetricAlarm reads AlarmRule and DescribeAlarms lists alarms with a rule as composite.
        CloudWatchResponse.put_composite_alarm = CloudWatchResponse.put_metric_alarm  # type: ignore[attr-defined]


# --- Budgets ---------------------------------------------------------------------------------


def _same_notification(stored: dict[str, Any], asked: dict[str, Any]) -> bool:
    keys = ("NotificationType", "ComparisonOperator", "ThresholdType")
    return all(stored.get(k, "PERCENTAGE" if k == "ThresholdType" else None) == asked.get(k, stored.get(k)) for k in keys) and (
        float(stored.get("Threshold", 0)) == float(asked.get("Threshold", 0))
    )


def _budgets_subscribers_and_tags() -> None:
    from moto.budgets.exceptions import NotFoundException
    from moto.budgets.responses import BudgetsResponse

    def budget_of(self: Any) -> Any:
        budgets = self.backend.budgets[self._get_param("AccountId")]
        name = self._get_param("BudgetName")
        if name not in budgets:
            raise NotFoundException(f"Unable to get budget: {name} - the budget doesn't exist.")
        return budgets[name]

    def describe_subscribers_for_notification(self: Any) -> str:
        asked = self._get_param("Notification")
        for notification in budget_of(self).notifications:
            if _same_notification(notification.details, asked):
                return json.dumps({"Subscribers": notification.subscribers})
        raise NotFoundException("Unable to get subscribers: the notification doesn't exist.")

    def tags(self: Any) -> dict[str, str]:
        store: dict[str, dict[str, str]] = self.backend.__dict__.setdefault("courier_tags", {})
        return store.setdefault(self._get_param("ResourceARN"), {})

    def list_tags_for_resource(self: Any) -> str:
        return json.dumps({"ResourceTags": [{"Key": k, "Value": v} for k, v in tags(self).items()]})

    def tag_resource(self: Any) -> str:
        tags(self).update({tag["Key"]: tag["Value"] for tag in self._get_param("ResourceTags", [])})
        return "{}"

    def untag_resource(self: Any) -> str:
        held = tags(self)
        for key in self._get_param("ResourceTagKeys", []):
            held.pop(key, None)
        return "{}"

    create_budget = BudgetsResponse.create_budget

    def create_budget_with_tags(self: Any) -> str:
        answer = create_budget(self)
        given = self._get_param("ResourceTags", [])
        if given:
            arn = f"arn:aws:budgets::{self._get_param('AccountId')}:budget/{self._get_param('Budget')['BudgetName']}"
            store: dict[str, dict[str, str]] = self.backend.__dict__.setdefault("courier_tags", {})
            store.setdefault(arn, {}).update({tag["Key"]: tag["Value"] for tag in given})
        return str(answer)

    for method in (describe_subscribers_for_notification, list_tags_for_resource, tag_resource, untag_resource):
        if not hasattr(BudgetsResponse, method.__name__):
            setattr(BudgetsResponse, method.__name__, method)
    BudgetsResponse.create_budget = create_budget_with_tags  # type: ignore[method-assign]


# --- SQS -------------------------------------------------------------------------------------


def _sqs_attributes_like_aws() -> None:
    from moto.sqs.models import Queue

    if "RedriveAllowPolicy" not in Queue.BASE_ATTRIBUTES:
        Queue.BASE_ATTRIBUTES.append("RedriveAllowPolicy")
    Queue.redrive_allow_policy = None  # type: ignore[attr-defined]

    set_attributes = Queue._set_attributes
    attributes = Queue.attributes.fget  # type: ignore[attr-defined]

    def set_keeping_the_policy(self: Any, given: dict[str, Any], now: float | None = None) -> None:
        policy = getattr(self, "_policy_json", None)
        set_attributes(self, given, now)
        if "Policy" not in given and policy is not None:
            self._policy_json = policy

    def compact_redrive_policy(self: Any) -> dict[str, Any]:
        result = dict(attributes(self))
        if result.get("RedrivePolicy"):
            result["RedrivePolicy"] = json.dumps(self.redrive_policy, separators=(",", ":"))
        if not result.get("RedriveAllowPolicy"):  # unset, or cleared with "" (as the provider deletes it)
            result.pop("RedriveAllowPolicy", None)
        return result

    Queue._set_attributes = set_keeping_the_policy  # type: ignore[method-assign]
    Queue.attributes = property(compact_redrive_policy)  # type: ignore[assignment,method-assign]


# --- Secrets Manager -------------------------------------------------------------------------


def _secret_rotation_without_a_value() -> None:
    from moto.secretsmanager.models import SecretsManagerBackend

    rotate = SecretsManagerBackend.rotate_secret

    def record_rotation(
        self: Any,
        secret_id: str,
        client_request_token: str | None = None,
        rotation_lambda_arn: str | None = None,
        rotation_rules: dict[str, Any] | None = None,
        rotate_immediately: bool = True,
    ) -> str:
        secret = self.secrets.get(secret_id) if self._is_valid_identifier(secret_id) else None
        if secret is None or not rotation_lambda_arn or secret.versions and rotate_immediately:
            return str(rotate(self, secret_id, client_request_token, rotation_lambda_arn, rotation_rules, rotate_immediately))
        # No value yet, or only testSecret asked for: AWS records the rotation; moto cannot run the function here.
        secret.rotation_requested = True
        secret.rotation_lambda_arn = rotation_lambda_arn
        if rotation_rules:
            secret.auto_rotate_after_days = rotation_rules.get("AutomaticallyAfterDays", 0)
            secret.rotation_rules = rotation_rules
        secret.rotation_enabled = True
        return str(secret.to_short_dict())

    SecretsManagerBackend.rotate_secret = record_rotation  # type: ignore[method-assign]


# --- Lambda ----------------------------------------------------------------------------------


def _mapping_on_an_alias() -> None:
    from moto.awslambda.models import LambdaBackend

    create = LambdaBackend.create_event_source_mapping

    def report_the_alias(self: Any, spec: dict[str, Any]) -> Any:
        asked = str(spec.get("FunctionName", ""))
        mapping = create(self, spec)
        parts = asked.split(":")
        qualifier = parts[7] if asked.startswith("arn:") and len(parts) == 8 else parts[1] if len(parts) == 2 else None
        if qualifier:
            unqualified = ":".join(mapping.function_arn.split(":")[:7])
            mapping.function_arn = f"{unqualified}:{qualifier}"
        return mapping

    LambdaBackend.create_event_source_mapping = report_the_alias  # type: ignore[method-assign]


# --- CodeDeploy ------------------------------------------------------------------------------


def _codedeploy_groups_like_aws() -> None:
    from moto.codedeploy import responses
    from moto.codedeploy.exceptions import ApplicationDoesNotExistException
    from moto.codedeploy.responses import CodeDeployResponse
    from moto.core.responses import ActionResult, EmptyResult

    info = responses._deployment_group_info

    def with_alarms(group: Any) -> dict[str, Any]:
        described = info(group)
        configured = group.alarm_configuration
        if isinstance(configured, dict):
            described["alarmConfiguration"] = configured
        # AWS leaves out what the group does not have; moto answers {} (a load balancer block to remove).
        return {key: value for key, value in described.items() if value not in ({}, None)}

    def delete_deployment_group(self: Any) -> ActionResult:
        groups = self.codedeploy_backend.deployment_groups.get(self._get_param("applicationName"), {})
        groups.pop(self._get_param("deploymentGroupName"), None)
        return ActionResult({"hooksNotCleanedUp": []})

    def delete_application(self: Any) -> EmptyResult:
        name = self._get_param("applicationName")
        if name not in self.codedeploy_backend.applications:
            raise ApplicationDoesNotExistException(f"No application found for name: {name}")
        del self.codedeploy_backend.applications[name]
        self.codedeploy_backend.deployment_groups.pop(name, None)
        return EmptyResult()

    responses._deployment_group_info = with_alarms
    for method in (delete_deployment_group, delete_application):
        if not hasattr(CodeDeployResponse, method.__name__):
            setattr(CodeDeployResponse, method.__name__, method)
