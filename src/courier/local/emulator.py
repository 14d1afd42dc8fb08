"""The AWS emulator of the local stack: moto's standalone server on 127.0.0.1.

Besides starting the server this module registers the aggregator function and
its SQS event source mapping in the emulator's Lambda API, so that tools which
pause and resume consumption (the breaker controller, ``courier status``) use
the same API calls locally as in AWS.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import socket
import threading
import time
import zipfile
from dataclasses import dataclass
from typing import Any

from courier.errors import PortInUseError
from courier.local import iam
from courier.local.aws_faults import AwsFaults
from courier.local.aws_fidelity import make_moto_like_aws_for_terraform
from courier.resources import FUNCTION_HANDLER, FUNCTION_NAME

ROLE_NAME = FUNCTION_NAME


def ensure_port_free(port: int, what: str, flag: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers do: connections of a previous run in TIME_WAIT must not count as "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise PortInUseError(
                f"port {port} on 127.0.0.1 ({what}) is in use; stop what uses it or pick another with {flag}"
            ) from None


_ATOMIC = threading.RLock()


def make_conditional_writes_atomic() -> None:
    """Give moto's DynamoDB the per-item atomicity real DynamoDB has.

    moto checks a ConditionExpression and then writes, with nothing in between to
    stop a second request thread; two conditional writes racing for one item can
    both succeed. courier's ledger claims and the breaker's probe election rely on
    exactly that not happening, so every write runs under one lock here.
    """
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_courier_atomic", False):
        return
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _ATOMIC:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)
    DynamoDBBackend._courier_atomic = True  # type: ignore[attr-defined]


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto's TransactWriteItems without its copy of every table it touches (run under the write lock).

    moto deep-copies each table of a transaction to roll back a cancelled one: with
    the ledger's thousands of items that took seconds per claim, so the local stack
    slowed down as it ran. Here every condition is checked first and nothing is
    written unless all hold (what a cancelled transaction leaves: nothing); the
    writes then run with only the touched items kept, to put back if one fails.
    The cancellation reasons are moto's (``ConditionalCheckFailed`` with the old item
    on ``ALL_OLD``); two actions on one item are refused as moto refuses them.
    """
    import copy

    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    reasons: list[tuple[Any, Any, Any]] = []
    writes: list[tuple[str, dict[str, Any], dict[str, Any], Any]] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise ValueError("Unsupported transaction operation")
        table_name = op["TableName"]
        table = self.get_table(table_name)
        if op_type == "Put":
            key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = op["Item"][table.range_key_attr]
        else:
            key = op["Key"]
        identity = (str(table_name), str(dict(sorted(key.items()))))
        if identity in seen:
            raise MultipleTransactionsException()
        seen.add(identity)
        current = self.get_item(table_name, key)
        condition = op.get("ConditionExpression")
        names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        if condition is not None and not get_filter_expression(condition, names, values).expr(current):
            old = (
                current.to_json()["Attributes"]
                if current and op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
                else None
            )
            reasons.append(("ConditionalCheckFailed", "The conditional request failed", old))
            continue
        reasons.append((None, None, None))
        if op_type != "ConditionCheck":
            writes.append((op_type, op, key, copy.deepcopy(current)))
    if any(code is not None for code, _, _ in reasons):
        raise TransactionCanceledException(reasons)
    done: list[tuple[str, dict[str, Any], Any]] = []
    try:
        for op_type, op, key, before in writes:
            table_name = op["TableName"]
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(table_name, op["Item"])
            elif op_type == "Delete":
                self.delete_item(table_name, key)
            else:
                self.update_item(table_name, key, op["UpdateExpression"], names, values)
            done.append((table_name, key, before))
    except Exception:
        for table_name, key, before in reversed(done):
            if before is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, before.to_json()["Attributes"])
        raise


_SEQUENCER = itertools.count(time.time_ns())
_SEQUENCER_LOCK = threading.Lock()


def make_notifications_like_aws() -> None:
    """Give moto's S3 event notifications the fields AWS sends: ``versionId`` and ``sequencer``.

    moto leaves both out, so on the local stack every event named its object by
    eTag only and the aggregator could never ask for the exact version of a
    versioned key. AWS puts ``versionId`` in the record when the bucket is
    versioned and a ``sequencer`` (hex, increasing per key) always.
    """
    from moto.s3 import notifications

    if getattr(notifications, "_courier_like_aws", False):
        return
    original = notifications._get_s3_event

    def like_aws(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
        event = original(event_name, bucket, key, notification_id)
        obj = event["Records"][0]["s3"]["object"]
        if getattr(bucket, "is_versioned", False) and key.version_id and key.version_id != "null":
            obj["versionId"] = key.version_id
        with _SEQUENCER_LOCK:
            obj["sequencer"] = f"{next(_SEQUENCER):018X}"
        return event

    notifications._get_s3_event = like_aws
    notifications._courier_like_aws = True  # type: ignore[attr-defined]


def make_secret_stages_like_aws() -> None:
    """Make GetSecretValue without a version answer the ``AWSCURRENT`` version after UpdateSecretVersionStage moved it.

    moto keeps a "default version" that only PutSecretValue and rotation update: after
    ``courier secret promote`` (UpdateSecretVersionStage) every read without a VersionStage,
    Powertools' and the aws CLI's included, still got the old version. AWS answers AWSCURRENT.
    """
    from moto.secretsmanager.models import SecretsManagerBackend

    if getattr(SecretsManagerBackend, "_courier_like_aws", False):
        return
    original = SecretsManagerBackend.update_secret_version_stage

    def like_aws(self: Any, secret_id: str, version_stage: str, remove_from_version_id: str, move_to_version_id: str) -> Any:
        answer = original(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)
        if version_stage == "AWSCURRENT" and move_to_version_id:
            self.secrets[secret_id].set_default_version_id(move_to_version_id)
        return answer

    SecretsManagerBackend.update_secret_version_stage = like_aws  # type: ignore[method-assign]
    SecretsManagerBackend._courier_like_aws = True  # type: ignore[attr-defined]


def _server_with_faults(port: int, faults: AwsFaults | None) -> Any:
    """moto's threaded server, its WSGI app wrapped by the AWS fault injection (the request path a client meets)."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    class FaultyMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app: Any = DomainDispatcherApplication(create_backend_app)
            if faults is not None:
                app = faults.middleware(app)
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return FaultyMotoServer(ip_address="127.0.0.1", port=port, verbose=False)


class Emulator:
    """moto's ThreadedMotoServer, bound to loopback only, with AWS faults injectable on its request path.

    With ``enforce_iam`` (the default) moto's access control is on from the start: the operator's
    user (``courier-local``) is the only one until :func:`courier.local.iam.add_user` adds the
    functions', and every request is checked against its signer's policy (courier.local.iam).
    """

    def __init__(self, port: int, faults: AwsFaults | None = None, enforce_iam: bool = True) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log over the live view
        make_conditional_writes_atomic()
        make_notifications_like_aws()
        make_secret_stages_like_aws()
        make_moto_like_aws_for_terraform()
        ensure_port_free(port, "AWS emulator", "--aws-port")
        self.port = port
        self.faults = faults
        self.enforce_iam = enforce_iam
        self._enforcing = False
        self.server = _server_with_faults(port, faults)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Emulator:
        self.server.start()
        if self.enforce_iam:
            iam.add_user(iam.OPERATOR, iam.OPERATOR_POLICY)
            iam.enforce()
            self._enforcing = True
        return self

    def stop(self) -> None:
        self.server.stop()
        if self._enforcing:
            iam.relax()
            self._enforcing = False


@dataclass(frozen=True)
class MappingSettings:
    batch_size: int
    batching_window_seconds: int
    maximum_concurrency: int


def register_function(session: Any, queue_arn: str, mapping: MappingSettings, timeout_seconds: int) -> str:
    """Create the aggregator function and its event source mapping; return the mapping UUID.

    The function's code is a placeholder: the local runtime runs
    ``courier.handler.lambda_handler`` in-process, as the mapping would.
    """
    iam = session.client("iam")
    lam = session.client("lambda")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    try:
        role_arn = iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role_arn = iam.get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("README.txt", "The local stack runs courier.handler.lambda_handler in-process.\n")
    try:
        lam.create_function(
            FunctionName=FUNCTION_NAME,
            Runtime="python3.12",
            Architectures=["arm64"],
            Role=role_arn,
            Handler=FUNCTION_HANDLER,
            Code={"ZipFile": code.getvalue()},
            Timeout=timeout_seconds,
            MemorySize=1024,
        )
    except lam.exceptions.ResourceConflictException:
        pass
    existing = lam.list_event_source_mappings(FunctionName=FUNCTION_NAME, EventSourceArn=queue_arn)["EventSourceMappings"]
    if existing:
        return str(existing[0]["UUID"])
    created = lam.create_event_source_mapping(
        EventSourceArn=queue_arn,
        FunctionName=FUNCTION_NAME,
        BatchSize=mapping.batch_size,
        MaximumBatchingWindowInSeconds=mapping.batching_window_seconds,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        ScalingConfig={"MaximumConcurrency": max(2, mapping.maximum_concurrency)},
        Enabled=True,
    )
    _detach_moto_self_invocation(queue_arn)
    return str(created["UUID"])


def _detach_moto_self_invocation(queue_arn: str) -> None:
    """moto invokes a mapped function itself (through Docker) when a message arrives.

    Our poller is the runtime here, so the queue forgets the mapping while moto's
    Lambda API keeps it: get/update/list of the mapping behave as in AWS.
    """
    from moto.sqs.models import sqs_backends

    for regions in sqs_backends.values():
        for backend in regions.values():
            for queue in backend.queues.values():
                if queue.queue_arn == queue_arn:
                    queue.lambda_event_source_mappings.clear()
