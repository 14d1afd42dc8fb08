"""The local receiver answers every case of ``nifi/contract-test/cases.json`` as the NiFi flow does.

The same file drives the Maven contract test, which runs the cases against NiFi's own processors and
writes what it saw to ``nifi/contract-test/target/contract-results.json``; when that file exists, the
receiver's results must equal NiFi's case by case. Requests courier's client can produce go through
``NiFiClient`` itself; the others (no certificate and no header, a lowercased header, no hash header,
a certificate of another subject or CA) through raw httpx.

Both sides count ``kept`` the same way: copies that reach the flow's output port, and in the receiver
the lines of ``received.jsonl`` for the bundle's SHA-256 marked ``"kept": true`` (a later copy of a
bundle is answered 200 but not kept, unless it is a replay). The next generation of a rotation
(``next-subject``, ``next``) is the receiver's pending generation, as it is the flow's
``courier.client.subject.next`` / ``courier.credential.sha256.next``.
"""

from __future__ import annotations

import hashlib
import importlib.util
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
from courier.delivery import CONTENT_TYPE, PROBE_HEADER, REPLAY_HEADER, SHA256_HEADER, Credentials
from courier.errors import DeliveryError
from courier.events import ObjectRef
from courier.local.receiver_auth import issue_client_certificate
from courier.ports import Delivery, Purpose
from fakes import FakeCredentialsSource

CONTRACT = Path(__file__).resolve().parents[2] / "nifi" / "contract-test"
CASES = json.loads((CONTRACT / "cases.json").read_text())
NIFI_RESULTS = CONTRACT / "target" / "contract-results.json"
# The contract test's own header shaping (authorization_shape), so both sides send the same requests.
_POST_CASES = importlib.util.spec_from_file_location("post_cases", CONTRACT / "post_cases.py")
assert _POST_CASES is not None and _POST_CASES.loader is not None
post_cases = importlib.util.module_from_spec(_POST_CASES)
_POST_CASES.loader.exec_module(post_cases)
shape_authorization = post_cases.shape_authorization
USERNAME, PASSWORD = "courier", "s3cr3t-Pa55word-0f-NiFi"  # the receiver's header credential (conftest)
NEXT_PASSWORD = "n3xt-Pa55word-0f-NiFi"  # the pending generation's


@pytest.fixture
def receiver(mtls_nifi, ca, client_certs):
    """The receiver in the middle of a rotation, as the contract test's flow is: a pending generation with
    another subject and another password beside the current one."""
    next_subject = issue_client_certificate(ca, "courier-next")
    mtls_nifi.state.clients.rotate(
        {"pending": {"client_subject": next_subject["subject"], "username": USERNAME, "password": NEXT_PASSWORD}}
    )
    mtls_nifi.next_subject = next_subject
    return mtls_nifi


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


def certificate_of(case: dict[str, Any], certs: Any, nifi: Any) -> dict[str, str] | None:
    issued = {
        "allowed": certs.allowed,
        "next-subject": nifi.next_subject,
        "wrong-subject": certs.wrong_subject,
        "wrong-ca": certs.wrong_ca,
        "other-trusted-ca": certs.other_trusted_ca,
    }
    return issued.get(case["client_cert"])


def authorization_of(case: dict[str, Any]) -> dict[str, str]:
    password = {"valid": PASSWORD, "next": NEXT_PASSWORD, "wrong": "not-" + PASSWORD}.get(case["header_credential"] or "")
    return {"username": USERNAME, "password": password} if password else {}


def courier_can_send(case: dict[str, Any]) -> bool:
    """What courier's own client produces: canonical headers, a hash header, its secret's certificate or password."""
    has_credential = case["client_cert"] in ("allowed", "next-subject") or case["header_credential"] in ("valid", "next", "wrong")
    return (
        case["header_case"] == "canonical"
        and "authorization_shape" not in case
        and case["sha_header"] != "missing"
        and case["client_cert"] in ("allowed", "next-subject", "none")
        and has_credential
    )


def via_client(nifi, ca_bundle, case, certs, body, replay) -> int:
    cert = certificate_of(case, certs, nifi)
    secret = {
        **authorization_of(case),
        **({"client_cert_pem": cert["cert_pem"], "client_key_pem": cert["key_pem"]} if cert else {}),
    }
    source = FakeCredentialsSource(parse_credentials(secret))
    purpose = Purpose.PROBE if case["body"] == "probe" else Purpose.REPLAY if replay else Purpose.DELIVERY
    delivery = Delivery(body, sha_of(case, body) or "", "parity", 1, f"parity/{case['name']}", purpose)
    with closing(NiFiClient(nifi.url(), source, ca_bundle=ca_bundle, connect_timeout=2, read_timeout=5)) as client:
        try:
            return client.post(delivery)
        except DeliveryError as exc:
            return exc.status or 0  # no status: the TLS handshake was refused


def via_httpx(nifi, ca_bundle, case, certs, body, replay) -> int:
    context = ssl.create_default_context(cafile=ca_bundle)
    cert = certificate_of(case, certs, nifi)
    if cert:
        load_client_certificate(context, cert["cert_pem"], cert["key_pem"])
    headers = {"Content-Type": CONTENT_TYPE, "X-Courier-Bundle-Id": "parity", "X-Courier-File-Count": "1"}
    if (sha := sha_of(case, body)) is not None:
        headers[SHA256_HEADER] = sha
    if authorization := Credentials(**authorization_of(case)).authorization():
        headers["Authorization"] = authorization
    if case["body"] == "probe":
        headers[PROBE_HEADER] = "true"
    if replay:
        headers[REPLAY_HEADER] = "true"
    shaped = shape_authorization(list(headers.items()), case.get("authorization_shape"))
    if case["header_case"] == "lower":
        shaped = [(name.lower(), value) for name, value in shaped]
    with httpx.Client(verify=context) as client:
        try:
            return client.post(nifi.url(), content=body, headers=shaped).status_code
        except httpx.TransportError as exc:
            assert certificate_failure(exc), exc
            return 0


def journal_of(nifi, body: bytes) -> list[str]:
    """The receiver's journal lines for these bytes."""
    sha256 = hashlib.sha256(body).hexdigest()
    lines = nifi.state.journal.read_text().splitlines() if nifi.state.journal.exists() else []
    return [line for line in lines if json.loads(line)["sha256"] == sha256]


def kept_copies(nifi, body: bytes) -> int:
    """Lines of the receiver's journal that the flow would have passed to its output port, for these bytes."""
    return sum(1 for line in journal_of(nifi, body) if json.loads(line)["kept"])


def credential_kept(nifi, case: dict[str, Any], body: bytes) -> bool:
    """Whether what the receiver kept of these bytes names the Authorization header or holds the credential."""
    authorization = Credentials(**authorization_of(case)).authorization() or ""
    secrets = [s for s in ("authorization", authorization.lower(), authorization_of(case).get("password", "").lower()) if s]
    return any(secret in line.lower() for line in journal_of(nifi, body) for secret in secrets)


def require_client_certificates(nifi, case: dict[str, Any]) -> None:
    """The flow's default courier.client.auth (Need Authentication): the receiver's TLS requires a certificate."""
    if case.get("client_auth") == "default":
        nifi.server.socket.context.verify_mode = ssl.CERT_REQUIRED


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_the_local_receiver_answers_each_contract_case_as_the_flow_does(case, receiver, ca_bundle, client_certs):
    body = body_of(case, CASES.index(case))
    require_client_certificates(receiver, case)
    send = via_client if courier_can_send(case) else via_httpx
    # "replay": every attempt after the first resends the bundle as `courier replay` does.
    statuses = [
        send(receiver, ca_bundle, case, client_certs, body, bool(case.get("replay")) and attempt > 0)
        for attempt in range(case["repeat"])
    ]
    observed = {"status": statuses, "kept": kept_copies(receiver, body)}
    assert observed == {"status": [case["expect_status"]] * case["repeat"], "kept": case["expect_kept"]}, case["description"]
    if case.get("expect_credential_kept") is False:
        assert kept_copies(receiver, body) and not credential_kept(receiver, case, body), case["description"]
    if NIFI_RESULTS.exists():  # the Maven contract test ran: NiFi's own components answered the same requests
        assert observed == json.loads(NIFI_RESULTS.read_text())[case["name"]], f"real NiFi differs: {case['description']}"


def test_the_receiver_keeps_a_bundle_once_across_restarts_and_again_on_each_replay(tmp_path):
    """Like the flow's duplicate cache, which outlives a NiFi restart: what an earlier run left in received/ counts."""
    from courier.local.fake_nifi import FakeNiFiState

    body = body_of({"name": "restart", "body": "bundle"}, 0)
    sha256 = hashlib.sha256(body).hexdigest()

    def streamed() -> Path:  # what the receiver's request handler hands over: the body already on disk
        spooled = tmp_path / f"incoming-{len(list(tmp_path.glob('incoming-*')))}.part"
        spooled.write_bytes(body)
        return spooled

    FakeNiFiState(tmp_path, Credentials(token="t")).accept(streamed(), sha256, "b", 1, replay=False)
    again = FakeNiFiState(tmp_path, Credentials(token="t"))
    again.accept(streamed(), sha256, "b", 1, replay=False)
    again.accept(streamed(), sha256, "b", 1, replay=True)
    journal = [json.loads(line) for line in again.journal.read_text().splitlines()]
    assert [(entry["replay"], entry["kept"]) for entry in journal] == [(False, True), (False, False), (True, True)]
    assert (tmp_path / "received" / f"{sha256}.tar.gz").read_bytes() == body  # the store itself is unchanged
    assert again.stats()["kept_bundles"] == 1 and again.stats()["bundles_received"] == 2


def test_a_client_that_stalls_mid_body_is_timed_out_and_leaves_no_part_file(tmp_path, monkeypatch):
    import socket
    import time

    from courier.local import fake_nifi

    monkeypatch.setattr(fake_nifi._Handler, "timeout", 0.5)  # READ_TIMEOUT_SECONDS, shortened for the test
    nifi = fake_nifi.FakeNiFi(tmp_path, Credentials(token="t")).start()
    try:
        with socket.create_connection(("127.0.0.1", nifi.port)) as client:
            head = f"POST {fake_nifi.CONTENT_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
            client.sendall(head.encode() + b"x" * 1000)  # then nothing: a stalled client
            client.settimeout(30)
            assert client.recv(1) == b""  # the receiver gave up on it and closed the connection
        for _ in range(100):  # the handler thread unlinks right after it closes; give it a moment
            if not list((tmp_path / "received").glob("*.part")):
                break
            time.sleep(0.05)
        assert list((tmp_path / "received").glob("*.part")) == []
    finally:
        nifi.stop()
