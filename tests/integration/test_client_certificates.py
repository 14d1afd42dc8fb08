"""courier's NiFi client with a client certificate from the secret, against the local HTTPS receiver that wants one."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import ssl
from contextlib import closing

import pytest

from courier.adapters.nifi import NiFiClient, tls_context
from courier.adapters.secrets import parse_credentials
from courier.errors import NiFiAuthError
from courier.ports import Delivery
from fakes import FakeCredentialsSource

BODY = b"\x1f\x8b a bundle"
SHA = hashlib.sha256(BODY).hexdigest()


def client(nifi, ca_bundle, source) -> NiFiClient:
    return NiFiClient(nifi.url(), source, ca_bundle=ca_bundle, connect_timeout=2, read_timeout=5)


def post(nifi_client: NiFiClient) -> int:
    return nifi_client.post(Delivery(BODY, SHA, "bundle-1", 1, "bundles/x.tar.gz"))


def certificate_only(nifi) -> None:
    """The receiver of an mTLS-only site: no header credential is accepted."""
    nifi.state.clients.current = dataclasses.replace(nifi.state.clients.current, authorization_sha256=None)


def test_the_client_presents_the_secrets_certificate_and_is_let_in_without_a_header(mtls_nifi, ca_bundle, client_certs):
    certificate_only(mtls_nifi)
    source = FakeCredentialsSource(parse_credentials(client_certs.secret(client_certs.allowed)))
    with closing(client(mtls_nifi, ca_bundle, source)) as nifi:
        assert post(nifi) == 200
    assert mtls_nifi.state.responses == {200: 1} and source.reads == [False]


def test_without_a_certificate_an_mtls_only_receiver_refuses_the_client(mtls_nifi, ca_bundle):
    certificate_only(mtls_nifi)
    source = FakeCredentialsSource(parse_credentials({"username": "courier", "password": "whatever"}))
    with closing(client(mtls_nifi, ca_bundle, source)) as nifi, pytest.raises(NiFiAuthError):
        post(nifi)
    assert mtls_nifi.state.responses == {401: 2}  # refused, re-read once, refused again


@pytest.mark.parametrize(
    ("cached", "answer"),
    [("wrong_subject", "403 from the receiver"), ("wrong_ca", "a TLS alert in the handshake")],
)
def test_a_rotated_certificate_is_reread_once_and_the_client_rebuilt_with_it(mtls_nifi, ca_bundle, client_certs, cached, answer):
    source = FakeCredentialsSource(parse_credentials(client_certs.secret(getattr(client_certs, cached))))
    source.stored = parse_credentials(client_certs.secret(client_certs.allowed))  # rotated; the cache is stale
    with closing(client(mtls_nifi, ca_bundle, source)) as nifi:
        assert post(nifi) == 200, answer
        assert post(nifi) == 200  # the rebuilt client stays
    assert source.reads == [False, True, False]
    assert mtls_nifi.state.responses[200] == 2


def test_a_certificate_refused_again_after_the_reread_is_an_auth_failure(mtls_nifi, ca_bundle, client_certs):
    source = FakeCredentialsSource(parse_credentials(client_certs.secret(client_certs.wrong_ca)))
    with closing(client(mtls_nifi, ca_bundle, source)) as nifi, pytest.raises(NiFiAuthError, match="UNKNOWN_CA"):
        post(nifi)
    assert source.reads == [False, True] and not mtls_nifi.state.responses


def test_the_private_key_is_never_logged_nor_left_on_disk(mtls_nifi, ca_bundle, client_certs, caplog, tmp_path, monkeypatch):
    import os
    import tempfile

    key_lines = [line for line in client_certs.allowed["key_pem"].splitlines() if "-----" not in line]
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    monkeypatch.delattr(os, "memfd_create", raising=False)  # the fallback path: a private file, unlinked at once
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log every step at DEBUG
    source = FakeCredentialsSource(parse_credentials(client_certs.secret(client_certs.allowed)))
    with closing(client(mtls_nifi, ca_bundle, source)) as nifi:
        assert post(nifi) == 200
    assert caplog.records and not any(line in caplog.text for line in key_lines)
    assert list(private.iterdir()) == []


def test_tls_1_2_stays_the_minimum_and_verification_stays_on_with_a_client_certificate(ca_bundle, client_certs):
    context = tls_context(ca_bundle, parse_credentials(client_certs.secret(client_certs.allowed)))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_a_key_that_does_not_match_its_certificate_is_a_secret_format_error(ca_bundle, client_certs):
    from courier.errors import SecretFormatError

    mismatched = {"client_cert_pem": client_certs.allowed["cert_pem"], "client_key_pem": client_certs.wrong_ca["key_pem"]}
    with pytest.raises(SecretFormatError, match="do not load as a key pair"):
        tls_context(ca_bundle, parse_credentials(mismatched))
