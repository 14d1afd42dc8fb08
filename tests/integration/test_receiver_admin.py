"""The local receiver's admin API answers only a caller that presents the stack's token (a 0600 file)."""

from __future__ import annotations

import json
import os
import ssl
import stat
import urllib.error
import urllib.request

import pytest

from courier.adapters.receiver import HTTPSReceiverAdmin
from courier.errors import ReceiverUnavailableError
from courier.stackfile import ADMIN_TOKEN_FILE, StackInfo, read_admin_token

ENDPOINTS = [
    ("GET", "/admin/stats", None),
    ("GET", "/admin/credentials", None),
    ("POST", "/admin/fault", {"mode": "unavailable"}),
    ("POST", "/admin/credentials", {"pending": {"client_subject": "CN=intruder"}}),
    ("POST", "/admin/client-cert", {"common_name": "intruder"}),
]


def call(nifi, ca_bundle: str, method: str, path: str, payload, authorization: str | None) -> int:
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Authorization": authorization} if authorization else {}
    request = urllib.request.Request(f"https://127.0.0.1:{nifi.port}{path}", data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=ca_bundle), timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize(("method", "path", "payload"), ENDPOINTS)
def test_an_admin_call_without_the_token_is_refused_and_changes_nothing(mtls_nifi, ca_bundle, method, path, payload):
    before = mtls_nifi.state.clients.snapshot()
    for authorization in (None, "Bearer wrong", f"Basic {read_admin_token(mtls_nifi.state.state_dir / ADMIN_TOKEN_FILE)}"):
        assert call(mtls_nifi, ca_bundle, method, path, payload, authorization) == 401
    assert mtls_nifi.state.mode == "ok" and mtls_nifi.state.clients.snapshot() == before


def test_the_token_file_is_private_and_opens_the_public_contracts(mtls_nifi, ca_bundle):
    token_file = mtls_nifi.state.state_dir / ADMIN_TOKEN_FILE
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    token = read_admin_token(token_file)
    assert len(token) >= 40 and token == mtls_nifi.state.admin_token
    assert call(mtls_nifi, ca_bundle, "POST", "/admin/fault", {"mode": "error"}, f"Bearer {token}") == 200
    assert mtls_nifi.state.mode == "error"
    stack = StackInfo(0, 0.0, "", mtls_nifi.url(), f"https://127.0.0.1:{mtls_nifi.port}", ca_bundle, "", {}, str(token_file))
    assert HTTPSReceiverAdmin.of(stack).set_fault("ok") == {"mode": "ok"}


def test_a_missing_token_file_is_one_clear_error(mtls_nifi, ca_bundle, tmp_path):
    stack = StackInfo(0, 0.0, "", "", f"https://127.0.0.1:{mtls_nifi.port}", ca_bundle, "", {}, str(tmp_path / "none"))
    with pytest.raises(ReceiverUnavailableError, match="admin token"):
        HTTPSReceiverAdmin.of(stack)
