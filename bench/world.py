"""A courier world for benchmarks: moto (in-process), provisioned resources, a NiFi receiver."""

from __future__ import annotations

import json
import os
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import trustme

from courier.compose import Runtime, build_runtime
from courier.config import Settings
from courier.delivery import Credentials
from courier.events import lambda_sqs_record
from courier.local.aws_fidelity import make_moto_like_aws_for_terraform
from courier.local.fake_nifi import FakeNiFi
from courier.local.provision import Stack, provision

os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="eu-west-2")


@contextmanager
def fake_nifi(delay: float = 0.0) -> Iterator[tuple[FakeNiFi, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        ca = trustme.CA()
        ca_path = Path(tmp, "ca.pem")
        ca.cert_pem.write_to_path(str(ca_path))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        server = FakeNiFi(Path(tmp, "nifi"), Credentials(username="bench", password="bench"), tls=context).start()
        server.state.delay_seconds = delay
        try:
            yield server, str(ca_path)
        finally:
            server.stop()


def runtime(session: Any, stack: Stack, nifi: FakeNiFi, ca: str, **settings: str) -> Runtime:
    env = {
        "COURIER_ARCHIVE_BUCKET": stack.archive_bucket,
        "COURIER_NIFI_URL": nifi.url(),
        "COURIER_NIFI_CA_BUNDLE": ca,
        **{f"COURIER_{k.upper()}": v for k, v in settings.items()},
    }
    return build_runtime(Settings.from_env(env), session)


def land(session: Any, stack: Stack, contents: list[bytes], prefix: str) -> list[dict[str, Any]]:
    """Upload files and return the Lambda records S3's notifications became."""
    s3 = session.client("s3")
    for i, body in enumerate(contents):
        s3.put_object(Bucket=stack.landing_bucket, Key=f"{prefix}/{i:06d}.json", Body=body)
    return drain_queue(session, stack)


def drain_queue(session: Any, stack: Stack) -> list[dict[str, Any]]:
    sqs = session.client("sqs")
    records = []
    while True:
        got = sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        if not got:
            return records
        sqs.delete_message_batch(
            QueueUrl=stack.queue_url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        )
        records += [lambda_sqs_record(m, stack.queue_arn, "eu-west-2") for m in got if '"s3:TestEvent"' not in m["Body"]]


def provisioned(session: Any) -> Stack:
    # Bucket policies evaluated as AWS does: plain moto denies every conditioned statement, the landing put guard too.
    make_moto_like_aws_for_terraform()
    return provision(session, {"username": "bench", "password": "bench"})


def new_session() -> Any:
    return boto3.session.Session(region_name="eu-west-2")


def record_for(bucket: str, key: str, response: dict[str, Any], size: int, queue_arn: str) -> dict[str, Any]:
    """The Lambda record of the S3 notification for one PutObject (without going through SQS)."""
    from datetime import UTC, datetime
    from urllib.parse import quote_plus

    obj = {"key": quote_plus(key, safe="/"), "size": size, "eTag": response["ETag"].strip('"'), "sequencer": "00"}
    if response.get("VersionId"):
        obj["versionId"] = response["VersionId"]
    body = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": obj},
            }
        ]
    }
    message = {
        "MessageId": f"m-{key}",
        "ReceiptHandle": f"r-{key}",
        "Body": json.dumps(body),
        "Attributes": {"ApproximateReceiveCount": "1"},
    }
    return lambda_sqs_record(message, queue_arn, "eu-west-2")
