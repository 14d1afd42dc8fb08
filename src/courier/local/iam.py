"""IAM in the emulator: each function under its own role policy, enforced.

The role policies are single-sourced: ``infra/terraform/policies/*.json.tftpl``,
rendered by Terraform's ``templatefile`` in the modules and by :func:`render`
here with the emulator's ARNs (moto's account, the local stack's names from
:mod:`courier.resources`). The local stack then signs as three IAM users:

* the aggregator (``courier-function``) carrying only ``aggregator.json.tftpl``,
* the breaker controller (``courier-controller``) carrying only ``breaker_controller.json.tftpl``,
* the operator and the stack itself (``courier-local``), standing in for the account's
  administrator that applies the Terraform. Any other access key signs as the operator too,
  whatever its secret (:func:`any_other_key_is_the_operator`): tools and scripts written for
  emulators pass ``AWS_ACCESS_KEY_ID=test`` and work unchanged, while the functions' own keys
  stay bound to their users, their secrets and their role policies.

With moto's access control on (its ``INITIAL_NO_AUTH_ACTION_COUNT`` set to 0), every
request is authenticated and checked against its signer's policy, so a policy that
lacks a permission the code needs fails the e2e tests, and what the design forbids
is answered AccessDenied (tests/e2e/test_iam_enforcement.py).

moto's evaluation is partial; :func:`authorize_like_aws` closes the gaps that would
otherwise make it check something else than AWS does:

* moto names a resource only for S3 and SQS requests (not even for SQS's GetQueueUrl)
  and checks every DynamoDB, Secrets Manager and Lambda request against ``*``, which no
  scoped statement matches; here they name their queue, table, secret, function or event
  source mapping ARN;
* IAM authorises a batch or transaction per table and per item action
  (``TransactWriteItems`` needs ``dynamodb:UpdateItem`` ..., ``DeleteMessageBatch``
  needs ``sqs:DeleteMessage``); moto checks the operation's own name;
* S3's ``HeadBucket`` is authorised by ``s3:ListBucket``; moto checks ``s3:HeadBucket``;
* S3 authorises reading and writing a version's tags as ``s3:GetObjectVersionTagging`` and
  ``s3:PutObjectVersionTagging``; moto checks ``s3:GetObjectVersion`` and ``s3:PutObjectTagging``,
  so the templates would need the plain forms, which could tag a current (undelivered) revision;
* S3 authorises DeleteObjects per key, as ``s3:DeleteObjectVersion`` on the object's ARN for a
  key given with its version (``s3:DeleteObject`` without); moto checks ``s3:DeleteObject`` on
  the bucket. Here each key is checked; as in AWS a refused key is answered ``AccessDenied`` in
  the response's ``Errors``, but here one refused key so answers every key of the request
  (stricter than AWS, never laxer);
* moto verifies the signature of a GET, HEAD or DELETE without a body (a Lambda GET) over
  its parsed parameters instead of the empty payload the client signed, so each one failed.

What it still does not evaluate (README, "IAM proven by enforcement"): conditions
(moto treats every condition of an identity policy as met), resource policies
(bucket, queue, key and endpoint policies), KMS, CloudWatch Logs and EC2 (not
emulated or not called by the functions here).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import unquote

from courier.errors import LocalStackError
from courier.resources import (
    ARCHIVE_BUCKET,
    BREAKER_TABLE,
    FUNCTION_NAME,
    IDEMPOTENCY_TABLE,
    LANDING_BUCKET,
)

# moto's default account: every emulated resource lives in it.
ACCOUNT_ID = "123456789012"
CONTROLLER_NAME = "courier-breaker-controller"
POLICY_DIR = Path(__file__).resolve().parents[3] / "infra" / "terraform" / "policies"


class SessionArguments(TypedDict):
    """A boto3 Session's keyword arguments that sign as one emulator IAM user."""

    aws_access_key_id: str
    aws_secret_access_key: str


@dataclass(frozen=True)
class Principal:
    """One IAM user of the emulator: the credentials a part of the stack signs with, and its policy.

    Parameters
    ----------
    user
        The IAM user's name.
    access_key
        Its access key id, also its secret (the emulator's keys are not secrets).
    template
        The policy template it carries (a file of ``infra/terraform/policies``), or None for
        the operator, who carries :data:`OPERATOR_POLICY`.

    Example
    -------
    >>> AGGREGATOR.environment()["AWS_ACCESS_KEY_ID"]
    'courier-function'
    """

    user: str
    access_key: str
    template: str | None

    def environment(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.access_key}

    def session_arguments(self) -> SessionArguments:
        return {"aws_access_key_id": self.access_key, "aws_secret_access_key": self.access_key}


AGGREGATOR_TEMPLATE, CONTROLLER_TEMPLATE = "aggregator.json.tftpl", "breaker_controller.json.tftpl"
AGGREGATOR = Principal("courier-aggregator", "courier-function", AGGREGATOR_TEMPLATE)
CONTROLLER = Principal("courier-breaker-controller", "courier-controller", CONTROLLER_TEMPLATE)
# Same key as courier.stackfile.FAKE_CREDENTIALS: the operator commands sign with it.
OPERATOR = Principal("courier-operator", "courier-local", None)

# The operator stands in for the account administrator who applies the Terraform and runs
# the operator commands; it is no product role and Terraform never sees it. Its actions are
# limited to the services the local stack emulates, so a call to anything else is refused.
# moto names an action by the request's signing name, so CloudWatch's is `monitoring:`.
OPERATOR_SERVICES = ("s3", "sqs", "dynamodb", "secretsmanager", "lambda", "iam", "sts", "logs", "monitoring", "events")
OPERATOR_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "LocalOperatorAdministersTheEmulatedServices",
            "Effect": "Allow",
            "Action": [f"{service}:*" for service in OPERATOR_SERVICES],
            "Resource": "*",
        }
    ],
}

_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def render(template: str, values: Mapping[str, str]) -> dict[str, Any]:
    """A policy template rendered as Terraform's ``templatefile`` renders it, for the subset the
    templates use: ``${name}`` only (no function calls, no ``%{`` directives).

    >>> render('{"Resource": "${arn}/*"}', {"arn": "arn:aws:s3:::b"})
    {'Resource': 'arn:aws:s3:::b/*'}
    """
    if "%{" in template or re.search(r"\$\{(?!\w+\})", template):
        raise LocalStackError("a policy template uses more than ${name} placeholders; the local stack renders only those")
    used = set(_PLACEHOLDER.findall(template))
    if used != set(values):
        raise LocalStackError(f"policy template placeholders {sorted(used)} do not match the values {sorted(values)}")
    policy: dict[str, Any] = json.loads(_PLACEHOLDER.sub(lambda m: json.dumps(values[m.group(1)])[1:-1], template))
    return policy


def policy_template(name: str) -> str:
    path = POLICY_DIR / name
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LocalStackError(f"policy template {path} not found; run the local stack from a courier checkout") from None


def local_values(region: str, queue_arn: str, secret_arn: str, mapping_uuid: str, dlq_arn: str) -> dict[str, dict[str, str]]:
    """Each template's values on the local stack, by template file: what the modules pass, with local ARNs."""
    lambda_prefix = f"arn:aws:lambda:{region}:{ACCOUNT_ID}"
    logs_prefix = f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:/aws/lambda"
    common = {
        "landing_bucket_arn": f"arn:aws:s3:::{LANDING_BUCKET}",
        "archive_bucket_arn": f"arn:aws:s3:::{ARCHIVE_BUCKET}",
        "idempotency_table_arn": f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{IDEMPOTENCY_TABLE}",
        "breaker_table_arn": f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{BREAKER_TABLE}",
        "secret_arn": secret_arn,
        "queue_arn": queue_arn,
    }
    return {
        AGGREGATOR_TEMPLATE: {
            **common,
            "log_group_arn": f"{logs_prefix}/{FUNCTION_NAME}",
            "dlq_arn": dlq_arn,
            "function_arn": f"{lambda_prefix}:function:{FUNCTION_NAME}",
            "lambda_arn_prefix": lambda_prefix,
        },
        CONTROLLER_TEMPLATE: {
            **common,
            "log_group_arn": f"{logs_prefix}/{CONTROLLER_NAME}",
            "event_source_mapping_arn": f"{lambda_prefix}:event-source-mapping:{mapping_uuid}",
            "aggregator_function_arn": f"{lambda_prefix}:function:{FUNCTION_NAME}",
        },
    }


def add_user(principal: Principal, policy: Mapping[str, Any]) -> None:
    """Create (or update) the principal's IAM user with ``policy`` as its only policy and its fixed access key.

    Straight in moto's IAM backend: the API would draw a random key, and the key is what the
    handler, the controller and the operator commands are configured with.
    """
    from moto.iam.models import iam_backends

    iam = iam_backends[ACCOUNT_ID]["aws"]
    if principal.user not in iam.users:
        iam.create_user(region_name="us-east-1", user_name=principal.user, path="/", tags=[])
    for name in list(iam.list_user_policies(principal.user)):
        iam.delete_user_policy(principal.user, name)
    iam.put_user_policy(principal.user, f"{principal.user}-policy", json.dumps(policy))
    if principal.access_key not in iam.access_keys:
        key = iam.create_access_key(principal.user)
        del iam.access_keys[key.physical_resource_id]
        key.access_key_id = key.secret_access_key = principal.access_key
        iam.access_keys[key.physical_resource_id] = key


def grant_functions(region: str, queue_arn: str, secret_arn: str, mapping_uuid: str, dlq_arn: str) -> dict[str, dict[str, Any]]:
    """Give the aggregator and the controller their users, each with its rendered template; return the policies by user."""
    values = local_values(region, queue_arn, secret_arn, mapping_uuid, dlq_arn)
    granted = {}
    for principal in (AGGREGATOR, CONTROLLER):
        assert principal.template
        policy = render(policy_template(principal.template), values[principal.template])
        add_user(principal, policy)
        granted[principal.user] = policy
    return granted


@dataclass(frozen=True)
class Denial:
    """One request the emulator refused: who (the IAM user's ARN), which IAM action, on which resource."""

    principal: str
    action: str
    resource: str


_DENIALS: list[Denial] = []
_DENIALS_LOCK = threading.Lock()


def take_denials() -> list[Denial]:
    """The requests refused since the last call (process-wide, as the emulator's backends are), forgetting them."""
    with _DENIALS_LOCK:
        taken = list(_DENIALS)
        _DENIALS.clear()
        return taken


_ENFORCING = 0
_SAVED_COUNT: float = float("inf")
_ENFORCEMENT_LOCK = threading.Lock()


def enforce() -> None:
    """Switch moto's access control on (process-wide, as moto's setting is): every request from now on is
    authenticated and authorised. Counted: the last :func:`relax` restores the previous setting."""
    global _ENFORCING, _SAVED_COUNT
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    authorize_like_aws()
    with _ENFORCEMENT_LOCK:
        if _ENFORCING == 0:
            take_denials()
            _SAVED_COUNT = settings.INITIAL_NO_AUTH_ACTION_COUNT
            settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
            ActionAuthenticatorMixin.request_count = 0
        _ENFORCING += 1


def relax() -> None:
    global _ENFORCING
    from moto import settings

    with _ENFORCEMENT_LOCK:
        if _ENFORCING == 0:
            return
        _ENFORCING -= 1
        if _ENFORCING == 0:
            settings.INITIAL_NO_AUTH_ACTION_COUNT = _SAVED_COUNT


# --- moto's authorisation, made to check what AWS checks ------------------------------------

BATCH_ACTIONS = {  # SQS authorises a batch by the action of one entry
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
    "DeleteMessageBatch": "DeleteMessage",
    "SendMessageBatch": "SendMessage",
}
VERSION_TAGGING_ACTIONS = {"GET": "GetObjectVersionTagging", "PUT": "PutObjectVersionTagging"}  # S3, by method
TRANSACTION_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def authorize_like_aws() -> None:
    """Patch moto (once per process) so its access control checks the action and resource AWS would (module docstring)."""
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import IAMRequestBase
    from moto.s3 import responses as s3_responses

    if getattr(ActionAuthenticatorMixin, "_courier_like_aws", False):
        return
    any_other_key_is_the_operator()
    s3_responses.ACTION_MAP["BUCKET"]["HEAD"]["DEFAULT"] = "ListBucket"
    set_action = s3_responses.S3Response._set_action

    def versioned_tagging_like_aws(self: Any, action_resource_type: str, method: str, querystring: dict[str, Any]) -> None:
        set_action(self, action_resource_type, method, querystring)
        if action_resource_type == "KEY" and "tagging" in querystring and "versionId" in querystring:
            action = VERSION_TAGGING_ACTIONS.get(method)
            if action:
                self.data["Action"] = action

    s3_responses.S3Response._set_action = versioned_tagging_like_aws  # type: ignore[method-assign]
    s3_action = s3_responses.S3Response._authenticate_and_authorize_s3_action

    def delete_objects_per_key(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
        if key_name is not None or self.data.get("Action") != "DeleteObject" or not self.is_delete_keys():
            s3_action(self, bucket_name=bucket_name, key_name=key_name)
            return
        for action, key in delete_objects_checks(self.body):
            self.data["Action"] = action
            s3_action(self, bucket_name=bucket_name, key_name=key)
        self.data["Action"] = "DeleteObject"

    s3_responses.S3Response._authenticate_and_authorize_s3_action = delete_objects_per_key  # type: ignore[method-assign]
    signed_request = IAMRequestBase._create_aws_request

    def over_the_payload_sent(self: Any) -> Any:
        if self._body or self._method not in ("GET", "HEAD", "DELETE"):  # a form body is parsed into _data, rightly
            return signed_request(self)
        parameters, self._data = self._data, b""
        try:
            return signed_request(self)
        finally:
            self._data = parameters

    IAMRequestBase._create_aws_request = over_the_payload_sent  # type: ignore[method-assign]
    check = IAMRequestBase.check_action_permitted

    def recording_denials(self: Any, resource: str) -> None:
        try:
            check(self, resource)
        except Exception:
            denial = Denial(self._access_key.arn, self._action, resource)
            with _DENIALS_LOCK:
                _DENIALS.append(denial)
            # In the stack's log (<state-dir>/lambda.log): a policy that lacks a permission shows here first.
            logging.getLogger("courier.local.iam").warning(
                "IAM denied %s %s on %s", denial.principal.rsplit("/", 1)[-1], denial.action, denial.resource
            )
            raise

    IAMRequestBase.check_action_permitted = recording_denials  # type: ignore[method-assign]
    original = ActionAuthenticatorMixin._authenticate_and_authorize_normal_action

    def like_aws(self: Any, resource: str = "*") -> None:
        from moto import settings

        enforcing = ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT
        checks = iam_checks(self, resource) if enforcing else None
        if checks is None:
            original(self, resource)
            return
        for action, arn in checks:
            self._get_action = lambda action=action: action  # what moto's check names; the instance serves one request
            try:
                original(self, arn)
            finally:
                del self._get_action

    ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = like_aws  # type: ignore[method-assign]
    ActionAuthenticatorMixin._courier_like_aws = True  # type: ignore[attr-defined]


FUNCTION_KEYS = frozenset({AGGREGATOR.access_key, CONTROLLER.access_key})


def any_other_key_is_the_operator() -> None:
    """Patch moto so an access key no IAM user holds is the operator's, its signature unchecked.

    moto refuses a key it does not know (``InvalidClientTokenId``) and checks each signature
    against the key's secret. The functions' keys keep both checks: a function signs only as
    itself, under its role policy. Any other key (``test``, what emulator tutorials and tools
    pass) is the operator, who may do everything the emulator serves anyway.
    """
    from moto.iam import access_control

    known_user = access_control.IAMUserAccessKey.__init__

    def or_the_operator(self: Any, account_id: str, partition: str, access_key_id: str, headers: dict[str, str]) -> None:
        try:
            known_user(self, account_id, partition, access_key_id, headers)
        except access_control.CreateAccessKeyFailure:
            if access_key_id in FUNCTION_KEYS or OPERATOR.user not in self.backend.users:
                raise
            self._owner_user_name = OPERATOR.user
            self._access_key_id = self._secret_access_key = access_key_id
            self.any_secret = True  # read by the signature check below

    access_control.IAMUserAccessKey.__init__ = or_the_operator  # type: ignore[method-assign]
    check_signature = access_control.IAMRequestBase.check_signature

    def unless_any_secret(self: Any) -> None:
        if not getattr(self._access_key, "any_secret", False):
            check_signature(self)

    access_control.IAMRequestBase.check_signature = unless_any_secret  # type: ignore[method-assign]


def delete_objects_checks(body: bytes | str) -> list[tuple[str, str]]:
    """The (S3 action, key) pairs IAM authorises for a DeleteObjects request's body, one per key.

    >>> versioned, plain = "<Object><Key>a</Key><VersionId>v1</VersionId></Object>", "<Object><Key>b</Key></Object>"
    >>> delete_objects_checks(f"<Delete>{versioned}{plain}</Delete>")
    [('DeleteObjectVersion', 'a'), ('DeleteObject', 'b')]
    """
    import xmltodict

    objects = (xmltodict.parse(body).get("Delete") or {}).get("Object") or []
    if isinstance(objects, dict):  # one <Object> is not parsed as a list
        objects = [objects]
    return [("DeleteObjectVersion" if o.get("VersionId") else "DeleteObject", str(o["Key"])) for o in objects]


def iam_checks(response: Any, resource: str) -> list[tuple[str, str]] | None:
    """The (action, resource ARN) pairs IAM authorises for one request to moto; None leaves it to moto."""
    try:
        return _checks_of(response, resource)
    except (KeyError, TypeError, AttributeError, ValueError):  # a request shape not foreseen: moto's own check
        return None


def _checks_of(response: Any, resource: str) -> list[tuple[str, str]] | None:
    from moto.awslambda.responses import LambdaResponse
    from moto.dynamodb.responses import DynamoHandler
    from moto.secretsmanager.responses import SecretsManagerResponse
    from moto.sqs.responses import SQSResponse

    operation = response._get_action()
    region, account = response.region, response.current_account
    if isinstance(response, DynamoHandler):
        return _dynamodb_checks(operation, response.body if isinstance(response.body, dict) else {}, region, account)
    if isinstance(response, SQSResponse):
        name = response._get_param("QueueName") if operation in ("GetQueueUrl", "CreateQueue") else None
        if name:  # moto names no resource when the queue is given by name
            owner = response._get_param("QueueOwnerAWSAccountId") or account
            resource = f"arn:aws:sqs:{region}:{owner}:{name}"
        return [(BATCH_ACTIONS.get(operation, operation), resource)]
    if isinstance(response, SecretsManagerResponse):
        return [(operation, _secret_arn(response, region, account))]
    if isinstance(response, LambdaResponse):
        return [(operation, _lambda_arn(response.path, region, account))]
    return None


def _dynamodb_checks(operation: str, body: dict[str, Any], region: str, account: str) -> list[tuple[str, str]]:
    def table(name: str) -> str:
        return name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{name}"

    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(operation, table(name)) for name in body.get("RequestItems", {})]
    if operation == "TransactWriteItems":
        return [
            (TRANSACTION_ACTIONS[kind], table(spec["TableName"])) for item in body["TransactItems"] for kind, spec in item.items()
        ]
    if operation == "TransactGetItems":
        return [("GetItem", table(item["Get"]["TableName"])) for item in body["TransactItems"]]
    if "TableName" in body:
        return [(operation, table(body["TableName"]))]
    return [(operation, body.get("ResourceArn", "*"))]


def _secret_arn(response: Any, region: str, account: str) -> str:
    from moto.secretsmanager.models import secretsmanager_backends

    secret_id = response._get_param("SecretId") or response._get_param("Name")
    if not secret_id:
        return "*"
    secret = secretsmanager_backends[account][region].secrets.get(secret_id)
    return secret.arn if secret is not None else f"arn:aws:secretsmanager:{region}:{account}:secret:{secret_id}"


def _lambda_arn(path: str, region: str, account: str) -> str:
    prefix = f"arn:aws:lambda:{region}:{account}"
    parts = [unquote(p) for p in path.split("/") if p]
    if len(parts) >= 3 and parts[1] == "event-source-mappings":
        return f"{prefix}:event-source-mapping:{parts[2]}"
    if len(parts) >= 3 and parts[1] == "functions":
        name = parts[2]
        return name if name.startswith("arn:") else f"{prefix}:function:{name}"
    return "*"
