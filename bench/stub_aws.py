"""A latency-only AWS for the handler benchmark: calls cost their injected latency, nothing else.

moto does the real work of S3 and DynamoDB in the benchmark's own process, under
its GIL, so with moto the measurement is dominated by the emulator's CPU, not by
courier's design. This stub answers the happy path's calls from memory without
evaluating anything (no conditions, no conflicts), while botocore still
serialises every request and parses every response as it would against AWS.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any):
        yield self.body

    def read(self, *_: Any) -> bytes:
        body, self.body = self.body, b""
        return body

    def close(self) -> None:
        self.body = b""


def _response(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> AWSResponse:
    return AWSResponse("https://stub", status, {"content-length": str(len(body)), **(headers or {})}, _Raw(body))


class StubAWS:
    def __init__(self, secret: dict[str, str], keep_writes: bool = True) -> None:
        self.objects: dict[str, bytes] = {}
        self.secret = json.dumps(secret)
        # A soak must not measure the stub's own storage: then only landed files are
        # kept, and each only until it is read.
        self.keep_writes = keep_writes

    def body(self, bucket: str, key: str) -> bytes:
        """What was put at bucket/key (virtual-hosted URLs carry only the key in the path)."""
        return self.objects[key]

    def install(self, session: Any) -> None:
        session._session.register("before-send", self.answer)

    def answer(self, request: Any, **_: Any) -> AWSResponse:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        if target:
            return self._json(target.split(".")[-1], json.loads(request.body or b"{}"))
        return self._s3(request)

    def _json(self, operation: str, body: dict[str, Any]) -> AWSResponse:
        answers = {
            "GetSecretValue": {
                "ARN": "arn:aws:secretsmanager:eu-west-2:1:secret:courier/nifi",
                "Name": "courier/nifi",
                "SecretString": self.secret,
                "VersionId": "v1",
            },
            "BatchWriteItem": {"UnprocessedItems": {}},
        }
        return _response(200, json.dumps(answers.get(operation, {})).encode(), {"content-type": "application/x-amz-json-1.0"})

    def _s3(self, request: Any) -> AWSResponse:
        path = request.url.split("://", 1)[1].split("/", 1)[1].split("?", 1)[0]
        if request.method == "PUT" and "tagging" not in request.url:
            body = request.body if isinstance(request.body, bytes) else request.body.read()
            if request.headers.get("x-amz-decoded-content-length"):
                body = _unchunk(body)  # botocore sent it aws-chunked, with a checksum trailer: keep what S3 would keep
            if self.keep_writes or not path.startswith(("bundles/", "index/")):
                self.objects[path] = body
            return _response(200, headers={"ETag": f'"{hashlib.md5(body).hexdigest()}"'})  # noqa: S324 - S3's ETag
        if request.method == "PUT":
            return _response(200)
        body = self.objects[path] if self.keep_writes else self.objects.pop(path)
        return _response(200, body, {"ETag": f'"{hashlib.md5(body).hexdigest()}"', "content-type": "application/json"})  # noqa: S324


def _unchunk(body: bytes) -> bytes:
    """The payload of an ``aws-chunked`` body: ``<hex size>\r\n<bytes>\r\n`` ... ``0\r\n<trailers>``."""
    out, at = [], 0
    while True:
        end = body.index(b"\r\n", at)
        size = int(body[at:end].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(body[end + 2 : end + 2 + size])
        at = end + 2 + size + 2
