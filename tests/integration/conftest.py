"""Fixtures for tests against moto (in-process) and a local HTTPS NiFi receiver."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import trustme
from moto import mock_aws

from courier.compose import Runtime, build_runtime
from courier.config import Settings
from courier.delivery import Credentials
from courier.local.fake_nifi import FakeNiFi
from courier.local.provision import Stack, provision
from support import notification, s3_record, sqs_record

USERNAME, PASSWORD = "courier", "s3cr3t-Pa55word-0f-NiFi"


@pytest.fixture(autouse=True)
def fresh_breaker_counters() -> None:
    """Powertools counts failures per execution environment, at module level: each test is a new one."""
    from aws_lambda_powertools.utilities.circuit_breaker import base

    for table in (base._LOCAL_FAILURES, base._LOCAL_SUCCESSES, base._LAST_OBSERVED_STATE):
        table.clear()


@pytest.fixture
def queued(aws: Any, stack: Stack):
    """The messages S3 (moto) put on the queue, as Lambda records, with real receipt handles."""
    from courier.events import lambda_sqs_record

    def receive() -> list[dict[str, Any]]:
        sqs = aws.client("sqs")
        records = []
        while True:
            got = sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
                "Messages", []
            )
            if not got:
                return records
            records += [lambda_sqs_record(m, stack.queue_arn, "eu-west-2") for m in got]

    return receive


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_bundle(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def fake_nifi(ca: trustme.CA, tmp_path: Path) -> Iterator[FakeNiFi]:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = FakeNiFi(tmp_path / "nifi", Credentials(username=USERNAME, password=PASSWORD), tls=context).start()
    yield server
    server.stop()


@pytest.fixture
def aws() -> Iterator[Any]:
    from courier.local.aws_fidelity import make_moto_like_aws_for_terraform
    from courier.local.emulator import make_conditional_writes_atomic, make_notifications_like_aws, make_secret_stages_like_aws

    make_conditional_writes_atomic()  # as real DynamoDB is: racing conditional writes, one winner
    # Bucket policies evaluated as IAM does (moto denies every conditioned statement): without it a
    # module run alone met the landing guard's 403, passing only after another module had patched moto.
    make_moto_like_aws_for_terraform()
    make_notifications_like_aws()  # S3 events name the version, as AWS's do
    make_secret_stages_like_aws()  # a read without a stage gets AWSCURRENT after a promote, as from AWS
    with mock_aws():
        yield boto3.session.Session(region_name="eu-west-2")


@pytest.fixture
def stack(aws: Any) -> Stack:
    return provision(aws, {"username": USERNAME, "password": PASSWORD})


@pytest.fixture
def env(stack: Stack, fake_nifi: FakeNiFi, ca_bundle: str) -> dict[str, str]:
    return {
        "COURIER_ARCHIVE_BUCKET": stack.archive_bucket,
        "COURIER_LANDING_BUCKETS": stack.landing_bucket,
        "COURIER_NIFI_URL": fake_nifi.url(),
        "COURIER_NIFI_CA_BUNDLE": ca_bundle,
        "COURIER_READ_TIMEOUT_SECONDS": "2",
        "COURIER_CONNECT_TIMEOUT_SECONDS": "1",
    }


@pytest.fixture
def runtime(aws: Any, env: dict[str, str]) -> Iterator[Runtime]:
    built = build_runtime(Settings.from_env(env), aws)
    yield built
    built.nifi.close()


@dataclass
class Landed:
    key: str
    content: bytes
    version_id: str
    etag: str
    record: dict[str, Any]  # the S3 event record announcing it

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def message(self, message_id: str | None = None) -> dict[str, Any]:
        return sqs_record(notification(self.record), message_id=message_id)


@pytest.fixture
def land(aws: Any, stack: Stack):
    s3 = aws.client("s3")

    def put(key: str, content: bytes) -> Landed:
        response = s3.put_object(Bucket=stack.landing_bucket, Key=key, Body=content)
        etag = response["ETag"].strip('"')
        record = s3_record(stack.landing_bucket, key, version_id=response.get("VersionId"), etag=etag, size=len(content))
        return Landed(key, content, response.get("VersionId"), etag, record)

    return put


CLIENT_CN = "courier"


@dataclass(frozen=True)
class ClientCerts:
    """Client certificates as the secret holds them: ``allowed`` (CN=courier from the receiver's CA),
    ``wrong_subject`` (same CA, another CN), ``wrong_ca`` (CN=courier from an untrusted CA) and
    ``other_trusted_ca`` (CN=courier from a second CA that ``mtls_nifi`` trusts too)."""

    allowed: dict[str, str]
    wrong_subject: dict[str, str]
    wrong_ca: dict[str, str]
    other_trusted_ca: dict[str, str]

    @staticmethod
    def secret(issued: dict[str, str], **extra: str) -> dict[str, str]:
        return {"client_cert_pem": issued["cert_pem"], "client_key_pem": issued["key_pem"], **extra}


@pytest.fixture(scope="session")
def other_trusted_ca() -> trustme.CA:
    """A second CA in ``mtls_nifi``'s truststore, as when the truststore also serves other clients."""
    return trustme.CA()


@pytest.fixture(scope="session")
def client_certs(ca: trustme.CA, other_trusted_ca: trustme.CA) -> ClientCerts:
    from courier.local.receiver_auth import issue_client_certificate

    return ClientCerts(
        allowed=issue_client_certificate(ca, CLIENT_CN),
        wrong_subject=issue_client_certificate(ca, "someone-else"),
        wrong_ca=issue_client_certificate(trustme.CA(), CLIENT_CN),
        other_trusted_ca=issue_client_certificate(other_trusted_ca, CLIENT_CN),
    )


@pytest.fixture
def mtls_nifi(ca: trustme.CA, other_trusted_ca: trustme.CA, client_certs: ClientCerts, tmp_path: Path) -> Iterator[FakeNiFi]:
    """The receiver as the flow is configured: client certificates wanted from ``ca`` (CN=courier from it allowed) or
    ``other_trusted_ca`` (trusted by TLS, never allowed), and the header credential (USERNAME/PASSWORD) for clients
    without a certificate."""
    import ssl

    from courier.adapters.secrets import parse_credentials

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca.configure_trust(context)
    other_trusted_ca.configure_trust(context)
    context.verify_mode = ssl.CERT_OPTIONAL
    secret = ClientCerts.secret(client_certs.allowed, username=USERNAME, password=PASSWORD)
    server = FakeNiFi(tmp_path / "mtls-nifi", parse_credentials(secret), tls=context)
    server.state.client_ca = ca
    yield server.start()
    server.stop()
