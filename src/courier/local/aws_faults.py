"""AWS fault injection for the local stack: errors where a real client meets them, on the wire.

A WSGI layer in front of the emulator answers a chosen fraction of the requests
of one service (optionally one operation) with the HTTP status and body AWS
uses for that error, so botocore parses them and retries them exactly as it
would in AWS. Only requests signed with the function's credentials (the
aggregator and the breaker controller, like a Lambda's execution role) are
touched: the demo uploader, the stack itself and the operator's commands keep
working while a drill runs.

Set through the receiver's admin API (``POST /admin/aws-fault``) or
``courier local fault aws``.
"""

from __future__ import annotations

import json
import random
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

SERVICES = ("s3", "dynamodb", "sqs", "secretsmanager")
# What AWS answers for each error code (status); the body shape follows the service's protocol.
STATUS = {
    "ThrottlingException": 400,
    "ProvisionedThroughputExceededException": 400,
    "RequestLimitExceeded": 400,
    "ThrottledException": 400,
    "AccessDenied": 403,
    "AccessDeniedException": 400,
    "SlowDown": 503,
    "ServiceUnavailable": 503,
    "InternalError": 500,
    "InternalServerError": 500,
    "InternalFailure": 500,
    "InternalServiceError": 500,
}
_CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/[^/]+/([^/]+)/")
_JSON_PREFIX = {"dynamodb": "com.amazonaws.dynamodb.v20120810#", "sqs": "com.amazonaws.sqs#", "secretsmanager": ""}


@dataclass(frozen=True)
class Fault:
    """Fail ``rate`` of the matching requests of ``service`` (and ``operation``, if given) with ``error``."""

    service: str
    error: str
    rate: float
    operation: str | None = None

    @classmethod
    def parse(cls, payload: Any) -> Fault:
        """From the admin API's JSON; ValueError with one line naming what is wrong."""
        if not isinstance(payload, dict):
            raise ValueError('expected {"service": ..., "error": ..., "rate": 0.0-1.0, "operation": optional}')
        service, error, rate = payload.get("service"), payload.get("error", ""), payload.get("rate")
        operation = payload.get("operation") or None
        if service not in SERVICES:
            raise ValueError(f"service must be one of {', '.join(SERVICES)}, got {service!r}")
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be a number from 0.0 to 1.0, got {rate!r}")
        if rate and error not in STATUS:
            raise ValueError(f"error must be one of {', '.join(sorted(STATUS))}, got {error!r}")
        if operation is not None and not isinstance(operation, str):
            raise ValueError("operation must be a string, e.g. PutItem")
        return cls(service, str(error), float(rate), operation)


class AwsFaults:
    """The active faults, shared by the admin API (writes) and the emulator's request path (reads).

    Parameters
    ----------
    function_access_keys
        The access keys the aggregator and the controller sign with (each its own IAM user);
        other callers (the operator, the stack itself) are never failed.
    seed
        Seeds the draw of which requests fail, for repeatable drills.

    Example
    -------
    >>> faults = AwsFaults("courier-function", "courier-controller")
    >>> faults.set(Fault("dynamodb", "ThrottlingException", 1.0, "PutItem"))
    >>> [f.error for f in faults.active()]
    ['ThrottlingException']
    """

    def __init__(self, *function_access_keys: str, seed: int | None = None) -> None:
        self.function_access_keys = frozenset(function_access_keys)
        self._faults: dict[str, Fault] = {}
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self.injected: dict[str, int] = {}  # service -> errors answered

    def set(self, fault: Fault) -> None:
        with self._lock:
            if fault.rate == 0:
                self._faults.pop(fault.service, None)
            else:
                self._faults[fault.service] = fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return sorted(self._faults.values(), key=lambda f: f.service)

    def snapshot(self) -> dict[str, Any]:
        faults = self.active()
        with self._lock:
            return {"faults": [asdict(f) for f in faults], "injected": dict(self.injected)}

    def pick(self, access_key: str, service: str, operation: str) -> Fault | None:
        """The fault this request meets, if any (drawn at the fault's rate)."""
        if access_key not in self.function_access_keys:
            return None
        with self._lock:
            fault = self._faults.get(service)
            if fault is None or (fault.operation and fault.operation != operation):
                return None
            if self._random.random() >= fault.rate:
                return None
            self.injected[service] = self.injected.get(service, 0) + 1
            return fault

    def middleware(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        """Wrap the emulator's WSGI app so matching requests are answered with the fault instead."""

        def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            access_key, service = _signer(environ)
            if service in SERVICES:
                fault = self.pick(access_key, service, _operation(environ, service))
                if fault is not None:
                    status, headers, body = error_response(fault.service, fault.error)
                    start_response(status, headers)
                    return [body]
            return app(environ, start_response)

        return wsgi


def _signer(environ: dict[str, Any]) -> tuple[str, str]:
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    return (match.group(1), match.group(2)) if match else ("", "")


def _operation(environ: dict[str, Any], service: str) -> str:
    target: str = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    if service == "s3":
        method, query = environ.get("REQUEST_METHOD", ""), environ.get("QUERY_STRING", "")
        verb = {"GET": "Get", "PUT": "Put", "HEAD": "Head", "DELETE": "Delete", "POST": "Post"}.get(method, method)
        return f"{verb}ObjectTagging" if "tagging" in query else f"{verb}Object"
    return ""


def error_response(service: str, error: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """The status line, headers and body AWS sends for ``error`` on ``service``'s protocol."""
    status = STATUS[error]
    reason = {400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error", 503: "Service Unavailable"}[status]
    request_id = str(uuid.uuid4())
    message = f"{error} (injected by the courier local stack)"
    if service == "s3":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{error}</Code><Message>{message}</Message>'
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    else:
        body = json.dumps({"__type": _JSON_PREFIX[service] + error, "message": message}).encode()
        version = "1.1" if service == "secretsmanager" else "1.0"
        headers = [("Content-Type", f"application/x-amz-json-{version}"), ("x-amzn-RequestId", request_id)]
        if service == "sqs":
            headers.append(("x-amzn-query-error", f"{error};Sender"))
    headers.append(("Content-Length", str(len(body))))
    return f"{status} {reason}", headers, body
