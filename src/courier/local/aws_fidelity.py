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
* Application Auto Scaling (the ledger's provisioned capacity): no ``ListTagsForResource``,
  ``TagResource``, ``UntagResource``; the ``Tags`` of ``RegisterScalableTarget`` are dropped.
* SQS: ``RedriveAllowPolicy`` refused by name on GetQueueAttributes (the provider retries until
  its timeout); any SetQueueAttributes without ``Policy`` wipes the queue's policy; the
  ``RedrivePolicy`` comes back re-spaced (AWS returns it compact, as Terraform writes it).
* Secrets Manager: enabling rotation on a secret with no value yet fails (moto's internal
  error); AWS records the rotation. moto cannot run the rotation function (no Docker here),
  so with a value it is not invoked either: the rotation drill covers rotation itself.
* Lambda: an event source mapping on an alias reports the version's ARN; AWS the alias's.
* CodeDeploy: a deployment group returns no ``alarmConfiguration``; no ``DeleteDeploymentGroup``
  or ``DeleteApplication``.
* S3 bucket policies (evaluated by moto on object requests): a statement with a ``Condition``
  comes out as a deny whatever its effect and the request, and one naming principals applies
  to every signer. Here statements are evaluated as IAM does, on the request's keys
  (:func:`request_context`: secure transport, source IP, the ``x-amz-*`` headers as ``s3:``
  keys, the signer's ARN when it is an emulator IAM user).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
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
        _autoscaling_tags()
        _sqs_attributes_like_aws()
        _secret_rotation_without_a_value()
        _mapping_on_an_alias()
        _versions_listed_by_arn()
        _codedeploy_groups_like_aws()
        _bucket_policies_like_aws()
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
            answer: TYPE_RESPONSE = get(self)
            return answer
        if not rules:
            raise NoSuchLifecycleConfiguration(bucket_name=self.bucket_name)
        self.data["Action"] = "GetBucketLifecycleConfiguration"
        result = {"Rules": rules, "TransitionDefaultMinimumObjectSize": bucket.courier_lifecycle_size}
        serialized: TYPE_RESPONSE = self.serialized(ActionResult(result))
        return serialized

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


def _autoscaling_tags() -> None:
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse

    def tags(self: Any) -> dict[str, str]:
        store: dict[str, dict[str, str]] = self.applicationautoscaling_backend.__dict__.setdefault("courier_tags", {})
        return store.setdefault(self._get_param("ResourceARN"), {})

    def list_tags_for_resource(self: Any) -> str:
        return json.dumps({"Tags": tags(self)})

    def tag_resource(self: Any) -> str:
        tags(self).update(self._get_param("Tags", {}))
        return "{}"

    def untag_resource(self: Any) -> str:
        held = tags(self)
        for key in self._get_param("TagKeys", []):
            held.pop(key, None)
        return "{}"

    register = ApplicationAutoScalingResponse.register_scalable_target

    def register_with_tags(self: Any) -> str:
        answer = register(self)
        given = self._get_param("Tags") or {}
        if given:
            store: dict[str, dict[str, str]] = self.applicationautoscaling_backend.__dict__.setdefault("courier_tags", {})
            store.setdefault(json.loads(answer)["ScalableTargetARN"], {}).update(given)
        return str(answer)

    for method in (list_tags_for_resource, tag_resource, untag_resource):
        if not hasattr(ApplicationAutoScalingResponse, method.__name__):
            setattr(ApplicationAutoScalingResponse, method.__name__, method)
    ApplicationAutoScalingResponse.register_scalable_target = register_with_tags  # type: ignore[method-assign]


# --- SQS -------------------------------------------------------------------------------------


def _sqs_attributes_like_aws() -> None:
    from moto.sqs.models import Queue

    if "RedriveAllowPolicy" not in Queue.BASE_ATTRIBUTES:
        Queue.BASE_ATTRIBUTES.append("RedriveAllowPolicy")
    Queue.redrive_allow_policy = None  # type: ignore[attr-defined]

    set_attributes = Queue._set_attributes
    attributes_of = Queue.attributes.fget  # type: ignore[attr-defined]

    def set_keeping_the_policy(self: Any, attributes: dict[str, Any], now: float | None = None) -> None:
        policy = getattr(self, "_policy_json", None)
        set_attributes(self, attributes, now)
        if "Policy" not in attributes and policy is not None:
            self._policy_json = policy

    def compact_redrive_policy(self: Any) -> dict[str, Any]:
        result = dict(attributes_of(self))
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


def _versions_listed_by_arn() -> None:
    """ListVersionsByFunction takes a name or an ARN in AWS; moto finds only a name (an ARN lists nothing, and the
    provider's ``data "aws_lambda_function"`` of the rotation function then fails with "empty result")."""
    from moto.awslambda.models import LambdaStorage

    listed = LambdaStorage.list_versions_by_function

    def by_name_or_arn(self: Any, name: str) -> Any:
        from urllib.parse import unquote

        name = unquote(name)  # the name is read from the request's path, where an ARN's colons come encoded
        if name.startswith("arn:") and len(name.split(":")) >= 7:
            name = name.split(":")[6]
        return listed(self, name)

    LambdaStorage.list_versions_by_function = by_name_or_arn  # type: ignore[method-assign]


# --- CodeDeploy ------------------------------------------------------------------------------


def _codedeploy_groups_like_aws() -> None:
    from moto.codedeploy import responses
    from moto.codedeploy.exceptions import ApplicationDoesNotExistException
    from moto.codedeploy.responses import CodeDeployResponse
    from moto.core.responses import ActionResult, EmptyResult

    info = responses._deployment_group_info

    def with_alarms(deployment_group: Any) -> dict[str, Any]:
        described = info(deployment_group)
        configured = deployment_group.alarm_configuration
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


# --- S3 bucket policies ----------------------------------------------------------------------

# The request an S3 object call is evaluated for, per server thread (moto's server serves each request in one).
_REQUEST = threading.local()


def request_context(request: Any, principal_arn: str | None) -> dict[str, str]:
    """The condition keys of an S3 object request, as AWS fills them.

    The emulator listens on loopback only, and a client on the same host cannot be intercepted
    in transit: loopback requests count as secure transport, what TLS gives AWS's (the brief's
    choice over serving the emulator over TLS). ``s3:TlsVersion`` is left out, so a deny
    conditioned on it does not apply (as a missing key never matches a non-negated operator).
    """
    headers = {k.lower(): v for k, v in dict(getattr(request, "headers", {}) or {}).items()}
    source = getattr(request, "remote_addr", None) or "127.0.0.1"
    context = {
        "aws:SecureTransport": "true" if _loopback(source) or str(getattr(request, "scheme", "")) == "https" else "false",
        "aws:SourceIp": source,
    }
    for name, value in headers.items():
        if name.startswith("x-amz-") and name not in {"x-amz-date", "x-amz-content-sha256", "x-amz-security-token"}:
            context[f"s3:{name}"] = value
    if principal_arn:
        context["aws:PrincipalArn"] = principal_arn
    return context


def _loopback(address: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def condition_holds(operator: str, key: str, wanted: Any, context: dict[str, str]) -> bool:
    """One condition of a policy statement, evaluated as IAM does (the operators S3 bucket policies use).

    A key missing from the request never matches a positive operator and always matches a
    negated one; ``...IfExists`` matches a missing key; ``Null`` tests presence.
    """
    import fnmatch
    import ipaddress

    values = [str(v) for v in (wanted if isinstance(wanted, list) else [wanted])]
    for prefix in ("ForAnyValue:", "ForAllValues:"):
        operator = operator.removeprefix(prefix)  # one value per key here: both reduce to the plain test
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    actual = context.get(key)
    if operator == "Null":
        return (actual is None) == (values[0].lower() == "true")
    negated = operator.startswith(("StringNot", "NotIp", "ArnNot", "NumericNot"))
    if actual is None:
        return if_exists or negated

    def positive(op: str) -> bool:
        if op in ("StringEquals", "ArnEquals"):
            return actual in values
        if op == "StringEqualsIgnoreCase":
            return actual.lower() in {v.lower() for v in values}
        if op in ("StringLike", "ArnLike"):
            return any(fnmatch.fnmatchcase(actual, v) for v in values)
        if op == "Bool":
            return actual.lower() in {v.lower() for v in values}
        if op == "IpAddress":
            return any(ipaddress.ip_address(actual) in ipaddress.ip_network(v, strict=False) for v in values)
        if op.startswith("Numeric"):
            number = float(actual)
            compare: Callable[[float], bool] = {
                "NumericEquals": lambda v: number == v,
                "NumericLessThan": lambda v: number < v,
                "NumericLessThanEquals": lambda v: number <= v,
                "NumericGreaterThan": lambda v: number > v,
                "NumericGreaterThanEquals": lambda v: number >= v,
            }[op]
            return any(compare(float(v)) for v in values)
        raise NotImplementedError(f"condition operator {op} is not emulated")

    if negated:
        base = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase"}.get(operator)
        base = base or {"StringNotLike": "StringLike", "NotIpAddress": "IpAddress", "ArnNotEquals": "ArnEquals"}.get(operator)
        base = base or {"ArnNotLike": "ArnLike", "NumericNotEquals": "NumericEquals"}.get(operator)
        if base is None:
            raise NotImplementedError(f"condition operator {operator} is not emulated")
        return not positive(base)
    return positive(operator)


def statement_applies(statement: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    import fnmatch

    def listed(value: Any) -> list[str]:
        return [str(v) for v in (value if isinstance(value, list) else [value])]

    def matches(patterns: Any, value: str) -> bool:
        return any(
            fnmatch.fnmatchcase(value.lower() if p.startswith("s3:") else value, p.lower() if p.startswith("s3:") else p)
            for p in listed(patterns)
        )

    if "Action" in statement and not matches(statement["Action"], action):
        return False
    if "NotAction" in statement and matches(statement["NotAction"], action):
        return False
    if "Resource" in statement and not matches(statement["Resource"], resource):
        return False
    if "NotResource" in statement and matches(statement["NotResource"], resource):
        return False
    principal = statement.get("Principal", "*")
    everyone = principal == "*" or (isinstance(principal, dict) and "*" in listed(principal.get("AWS", [])))
    if not everyone:
        named = listed(principal.get("AWS", [])) if isinstance(principal, dict) else []
        if context.get("aws:PrincipalArn") not in named:
            return False
    return all(
        condition_holds(operator, key, wanted, context)
        for operator, keys in (statement.get("Condition") or {}).items()
        for key, wanted in keys.items()
    )


def bucket_policy_permission(policy: str | bytes, action: str, resource: str, context: dict[str, str]) -> str:
    """``DENIED``, ``PERMITTED`` or ``NEUTRAL``: an explicit deny wins, then an allow, as IAM evaluates."""
    document = json.loads(policy)
    statements = document.get("Statement", [])
    applying = [
        s
        for s in (statements if isinstance(statements, list) else [statements])
        if statement_applies(s, action, resource, context)
    ]
    if any(s.get("Effect") == "Deny" for s in applying):
        return "DENIED"
    return "PERMITTED" if applying else "NEUTRAL"


def _bucket_policies_like_aws() -> None:
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket
    from moto.s3.responses import S3Response

    key_response = S3Response._key_response

    def with_context(self: Any, request: Any, full_url: str) -> Any:
        _REQUEST.context = request_context(request, _signer_arn(request))
        try:
            return key_response(self, request, full_url)
        finally:
            _REQUEST.context = None

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        context = getattr(_REQUEST, "context", None) or request_context(None, None)
        policy = self.policy.decode() if isinstance(self.policy, bytes) else self.policy
        return PermissionResult[bucket_policy_permission(policy, action, resource, context)]

    S3Response._key_response = with_context  # type: ignore[method-assign]
    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]


def _signer_arn(request: Any) -> str | None:
    """The ARN of the emulator's IAM user whose access key signed the request, if any."""
    import re

    from moto.iam.models import iam_backends

    authorization = dict(getattr(request, "headers", {}) or {}).get("Authorization", "")
    found = re.search(r"Credential=([^/]+)/", authorization)
    if not found:
        return None
    for backends in iam_backends.values():
        for backend in backends.values():
            for user in backend.users.values():
                if any(key.access_key_id == found.group(1) for key in user.access_keys):
                    return str(user.arn)
    return None
