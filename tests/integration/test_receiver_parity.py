"""The local receiver answers every case of ``nifi/contract-test/cases.json`` as the NiFi flow does.

The same file drives the Maven contract test, which runs the cases against NiFi's own processors and
writes what it saw to ``nifi/contract-test/target/contract-results.json``; when that file exists, the
receiver's results must equal NiFi's case by case. Requests courier's client can produce go through
``NiFiClient`` itself; the others (no certificate and no header, a lowercased header, no hash header,
a certificate of another subject or CA) through raw httpx.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from courier.adapters.nifi import NiFiClient, certificate_failure, load_client_certificate
from courier.adapters.secrets import parse_credentials
from courier.bundle import FetchedFile, build_bundle, probe_bundle
from courier.delivery import CONTENT_TYPE, PROBE_HEADER, SHA256_HEADER, Credentials
from courier.errors import DeliveryError
from courier.events import ObjectRef
from fakes import FakeCredentialsSource

CONTRACT = Path(__file__).resolve().parents[2] / "nifi" / "contract-test"
CASES = json.loads((CONTRACT / "cases.json").read_text())
NIFI_RESULTS = CONTRACT / "target" / "contract-results.json"
USERNAME, PASSWORD = "courier", "s3cr3t-Pa55word-0f-NiFi"  # the receiver's header credential (conftest)


def body_of(case: dict[str, Any], index: int) -> bytes:
    """Bytes of the case's own (cases never deduplicate each other)."""
    if case["body"] == "empty":
        return b""
    at = datetime(2026, 11, 26, tzinfo=UTC) + timedelta(seconds=index)
    if case["body"] == "probe":
        return probe_bundle(at).data
    ref = ObjectRef("courier-landing", f"parity/{case['name']}.json", f"v{index}", None, None, None, at, "ObjectCreated:Put")
    content = json.dumps({"case": case["name"]}).encode()
    return build_bundle([FetchedFile(ref, content, None, hashlib.md5(content).hexdigest())]).data  # noqa: S324


def sha_of(case: dict[str, Any], body: bytes) -> str | None:
    return {"right": hashlib.sha256(body).hexdigest(), "wrong": hashlib.sha256(body + b"!").hexdigest()}.get(case["sha_header"])


def certificate_of(case: dict[str, Any], certs: Any) -> dict[str, str] | None:
    return {"allowed": certs.allowed, "wrong-subject": certs.wrong_subject, "wrong-ca": certs.wrong_ca}.get(case["client_cert"])


def authorization_of(case: dict[str, Any]) -> dict[str, str]:
    password = {"valid": PASSWORD, "wrong": "not-" + PASSWORD}.get(case["header_credential"] or "")
    return {"username": USERNAME, "password": password} if password else {}


def courier_can_send(case: dict[str, Any]) -> bool:
    """What courier's own client produces: canonical headers, a hash header, its secret's certificate or password."""
    has_credential = case["client_cert"] == "allowed" or case["header_credential"] in ("valid", "wrong")
    return (
        case["header_case"] == "canonical"
        and case["sha_header"] != "missing"
        and case["client_cert"] in ("allowed", "none")
        and has_credential
    )


def via_client(nifi, ca_bundle, case, certs, body) -> int:
    cert = certificate_of(case, certs)
    secret = {
        **authorization_of(case),
        **({"client_cert_pem": cert["cert_pem"], "client_key_pem": cert["key_pem"]} if cert else {}),
    }
    source = FakeCredentialsSource(parse_credentials(secret))
    probe = case["body"] == "probe"
    with closing(NiFiClient(nifi.url(), source, ca_bundle=ca_bundle, connect_timeout=2, read_timeout=5)) as client:
        try:
            return client.post(body, sha_of(case, body) or "", "parity", 1, f"parity/{case['name']}", probe=probe)
        except DeliveryError as exc:
            return exc.status or 0  # no status: the TLS handshake was refused


def via_httpx(nifi, ca_bundle, case, certs, body) -> int:
    context = ssl.create_default_context(cafile=ca_bundle)
    cert = certificate_of(case, certs)
    if cert:
        load_client_certificate(context, cert["cert_pem"], cert["key_pem"])
    headers = {"Content-Type": CONTENT_TYPE, "X-Courier-Bundle-Id": "parity", "X-Courier-File-Count": "1"}
    if (sha := sha_of(case, body)) is not None:
        headers[SHA256_HEADER] = sha
    if authorization := Credentials(**authorization_of(case)).authorization():
        headers["Authorization"] = authorization
    if case["body"] == "probe":
        headers[PROBE_HEADER] = "true"
    if case["header_case"] == "lower":
        headers = {name.lower(): value for name, value in headers.items()}
    with httpx.Client(verify=context) as client:
        try:
            return client.post(nifi.url(), content=body, headers=headers).status_code
        except httpx.TransportError as exc:
            assert certificate_failure(exc), exc
            return 0


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_the_local_receiver_answers_each_contract_case_as_the_flow_does(case, mtls_nifi, ca_bundle, client_certs):
    body = body_of(case, CASES.index(case))
    send = via_client if courier_can_send(case) else via_httpx
    statuses = [send(mtls_nifi, ca_bundle, case, client_certs, body) for _ in range(case["repeat"])]
    kept = int((mtls_nifi.state.received_dir / f"{hashlib.sha256(body).hexdigest()}.tar.gz").exists())
    observed = {"status": statuses, "kept": kept}
    assert observed == {"status": [case["expect_status"]] * case["repeat"], "kept": case["expect_kept"]}, case["description"]
    if NIFI_RESULTS.exists():  # the Maven contract test ran: NiFi's own components answered the same requests
        assert observed == json.loads(NIFI_RESULTS.read_text())[case["name"]], f"real NiFi differs: {case['description']}"
