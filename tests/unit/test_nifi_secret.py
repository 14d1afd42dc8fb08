"""The NiFi secret's shapes: a client certificate (mTLS), a header credential, or both."""

from __future__ import annotations

import json

import pytest

from courier.adapters.secrets import parse_credentials
from courier.delivery import Credentials, request_headers
from courier.errors import SecretFormatError
from courier.ports import Delivery

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nsecret-key-material\n-----END PRIVATE KEY-----\n"


def test_a_certificate_alone_is_a_secret_and_sends_no_authorization_header():
    credentials = parse_credentials(json.dumps({"client_cert_pem": CERT, "client_key_pem": KEY}))
    assert credentials.has_client_certificate and not credentials.has_header_credential
    assert credentials.authorization() is None
    assert "Authorization" not in request_headers(Delivery(b"", "ab" * 32, "b", 1, "k"), credentials)


def test_certificate_and_password_together_use_both_modes():
    credentials = parse_credentials({"client_cert_pem": CERT, "client_key_pem": KEY, "username": "u", "password": "p"})
    assert credentials.has_client_certificate
    assert request_headers(Delivery(b"", "ab" * 32, "b", 1, "k"), credentials)["Authorization"].startswith("Basic ")


def test_the_server_ca_may_travel_in_the_secret():
    assert parse_credentials({"token": "t", "ca_pem": CERT}).ca_pem == CERT


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        ({"client_cert_pem": CERT}, "together"),
        ({"client_key_pem": KEY, "token": "t"}, "together"),
        ({"client_cert_pem": "MIIB...", "client_key_pem": KEY}, "client_cert_pem must be PEM"),
        ({"ca_pem": CERT}, "must hold"),
        (
            {"client_cert_pem": CERT, "client_key_pem": KEY.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY")},
            "client_key_pem is an encrypted private key",
        ),
        (
            {
                "client_cert_pem": CERT,
                "client_key_pem": "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\n"
                "secret-key-material\n-----END RSA PRIVATE KEY-----\n",
            },
            "client_key_pem is an encrypted private key",
        ),
        ({}, "must hold"),
        (None, "has no value"),
    ],
)
def test_a_secret_courier_cannot_use_is_refused_by_field_never_by_value(secret, says):
    with pytest.raises(SecretFormatError, match=says) as raised:
        parse_credentials(secret)
    assert "secret-key-material" not in str(raised.value)


def test_the_tls_identity_changes_with_the_certificate_and_not_with_the_password():
    before = Credentials(username="u", password="old", client_cert_pem=CERT, client_key_pem=KEY)
    new_password = Credentials(username="u", password="new", client_cert_pem=CERT, client_key_pem=KEY)
    new_key = Credentials(username="u", password="old", client_cert_pem=CERT, client_key_pem=KEY.replace("secret", "other"))
    assert before.tls_identity() == new_password.tls_identity() != new_key.tls_identity()


def test_repr_never_shows_the_key_or_the_password():
    text = repr(Credentials(username="u", password="hunter2", client_cert_pem=CERT, client_key_pem=KEY))
    assert "secret-key-material" not in text and "hunter2" not in text
