"""Rotating the NiFi secret: Secrets Manager's staging labels (moto), and the receiver's rotation window."""

from __future__ import annotations

import json

import pytest

from courier.adapters.receiver import HTTPSReceiverAdmin
from courier.adapters.secrets import CURRENT, PENDING, SecretRotation
from courier.delivery import Credentials
from courier.errors import ReceiverUnavailableError, SecretFormatError, SecretRotationError
from support import admin_token


def test_stage_keeps_the_other_fields_and_promote_moves_awscurrent(aws, stack):
    client = aws.client("secretsmanager")
    rotation = SecretRotation(client, stack.secret_id)
    first = rotation.read(CURRENT)
    pending = rotation.stage({"password": "n3w-pa55"})
    assert rotation.read(PENDING) == {**first, "password": "n3w-pa55"}
    assert rotation.read(CURRENT) == first  # nothing sent changes before the promote
    previous, current = rotation.promote()
    assert current == pending and previous != pending
    assert rotation.read(CURRENT)["password"] == "n3w-pa55"
    # What courier's own reads (Powertools) and the aws CLI get: no stage named means AWSCURRENT.
    assert json.loads(client.get_secret_value(SecretId=stack.secret_id)["SecretString"])["password"] == "n3w-pa55"
    stages = rotation.versions()
    assert stages[pending] == [CURRENT] and "AWSPREVIOUS" in stages[previous]


def test_promote_without_a_pending_version_says_so(aws, stack):
    with pytest.raises(SecretRotationError, match="no AWSPENDING version"):
        SecretRotation(aws.client("secretsmanager"), stack.secret_id).promote()


def test_a_pending_version_courier_could_not_use_is_never_staged(aws, stack):
    rotation = SecretRotation(aws.client("secretsmanager"), stack.secret_id)
    with pytest.raises(SecretFormatError, match="together"):
        rotation.stage({"client_cert_pem": "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"})
    assert PENDING not in json.dumps(rotation.versions())


def test_a_password_without_a_username_is_refused_at_staging(aws, stack):
    client = aws.client("secretsmanager")
    rotation = SecretRotation(client, stack.secret_id)
    client.put_secret_value(SecretId=stack.secret_id, SecretString=json.dumps({"token": "a-bearer-t0ken"}))
    with pytest.raises(SecretRotationError, match="no username"):
        rotation.stage({"password": "n3w-pa55"})


def test_the_receiver_accepts_old_and_pending_credentials_until_the_promote(fake_nifi, ca_bundle):
    admin = HTTPSReceiverAdmin(f"https://127.0.0.1:{fake_nifi.port}", ca_bundle, admin_token(fake_nifi))
    old = Credentials(username="courier", password="s3cr3t-Pa55word-0f-NiFi").authorization()
    new = Credentials(username="courier", password="n3w").authorization()
    assert fake_nifi.state.refusal(None, new) == 401
    answer = admin.rotate_credentials({"pending": {"username": "courier", "password": "n3w"}})
    assert answer["pending"] == {"client_subject": None, "header_credential": True}
    assert fake_nifi.state.refusal(None, old) is None and fake_nifi.state.refusal(None, new) is None
    admin.rotate_credentials({"promote": True})
    assert fake_nifi.state.refusal(None, old) == 401 and fake_nifi.state.refusal(None, new) is None
    assert admin.credentials() == {"current": {"client_subject": None, "header_credential": True}, "pending": None}
    assert "n3w" not in json.dumps(admin.credentials())


def test_the_receiver_takes_a_pending_certificate_by_its_subject_and_refuses_a_promote_of_nothing(mtls_nifi, ca_bundle):
    admin = HTTPSReceiverAdmin(f"https://127.0.0.1:{mtls_nifi.port}", ca_bundle, admin_token(mtls_nifi))
    issued = admin.issue_client_cert("courier-2027")
    assert issued["subject"] == "CN=courier-2027, OU=delivery, O=courier local"
    answer = admin.rotate_credentials({"pending": {"client_cert_pem": issued["cert_pem"]}})
    assert answer["pending"]["client_subject"] == issued["subject"] and answer["current"]["client_subject"].startswith(
        "CN=courier,"
    )
    admin.rotate_credentials({"cancel": True})
    with pytest.raises(ReceiverUnavailableError, match="no pending credentials"):
        admin.rotate_credentials({"promote": True})


def test_staging_again_replaces_the_pending_version(aws, stack):
    rotation = SecretRotation(aws.client("secretsmanager"), stack.secret_id)
    rotation.stage({"password": "first-try"})
    second = rotation.stage({"password": "second-try"})
    assert [v for v, stages in rotation.versions().items() if PENDING in stages] == [second]
    assert rotation.promote()[1] == second and rotation.read(CURRENT)["password"] == "second-try"
