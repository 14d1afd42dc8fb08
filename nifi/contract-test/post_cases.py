"""The Python half of the NiFi contract test: test certificates, and courier's own client POSTing the cases.

Started by the JUnit test (FlowContractTest) with the interpreter given as ``-Dpython=...`` and
``PYTHONPATH`` pointing at courier's ``src``:

    python post_cases.py certs DIR
        Writes a CA, NiFi's server keystore (PKCS12), client certificates (allowed subject, the next
        subject of a rotation, wrong subject, one from an untrusted CA, and one with the allowed subject from a
        second CA that the listener's truststore also trusts: ``trusted_cas``) and the header credentials (salt,
        current and next token, and the verifiers the flow compares, from courier's own
        ``credential_verifier``) into DIR, described by DIR/certs.json.

    python post_cases.py subjects DIR
        Writes certificates whose subjects hold #, `,`, +, ", \\, spaces, quote-wrapped values and attributes
        RFC 1779 has no name for into DIR and DIR/subjects.json:
        {pem path: the subject nifi/nifi_subject.py prints}, which the JUnit test compares with NiFi's formatter.

    python post_cases.py post URL DIR CASES OUT
        POSTs every case of CASES (cases.json) to URL with courier.adapters.nifi.NiFiClient, over
        real TLS built by courier's own ``tls_context`` from the case's certificate, and writes
        {name: {"status": [..], "body_bytes": [..], "error": [..], "sha256": ..}} to OUT. No HTTP answer
        is status 0, and ``error`` names courier's error class for it (NiFiAuthError: the handshake
        was refused on a certificate; NiFiUnavailableError: unreachable); ``body_bytes`` is the size
        of each answer's body.

Each case gets its own real bundle (courier.bundle.build_bundle), or courier's probe bundle.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from courier.adapters.nifi import NiFiClient, tls_context
from courier.bundle import FetchedFile, build_bundle, probe_bundle
from courier.delivery import REPLAY_HEADER, SHA256_HEADER, Credentials, credential_verifier
from courier.errors import DeliveryError
from courier.events import ObjectRef
from courier.ports import Delivery, Purpose

# The OU is set: trustme's default OU differs per CA, and "other-trusted-ca" needs the very same subject from another CA.
ALLOWED_SUBJECT = {"common_name": "courier", "organization_name": "courier contract test", "organization_unit_name": "delivery"}
NEXT_SUBJECT = {"common_name": "courier-next", "organization_name": "courier contract test"}
WRONG_SUBJECT = {"common_name": "somebody-else", "organization_name": "courier contract test"}


def _leaf_files(cert: trustme.LeafCert, directory: Path, name: str) -> dict[str, str]:
    chain, key = directory / f"{name}.pem", directory / f"{name}.key"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    key.write_bytes(cert.private_key_pem.bytes())
    return {"cert": str(chain), "key": str(key)}


def make_certs(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    # other_ca: untrusted; second_trusted_ca: in the truststore beside ca, must not vouch for courier's subject.
    ca, other_ca, second_trusted_ca = trustme.CA(), trustme.CA(), trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    password = secrets.token_hex(16)
    key = serialization.load_pem_private_key(server.private_key_pem.bytes(), password=None)
    certs = [x509.load_pem_x509_certificate(blob.bytes()) for blob in server.cert_chain_pems]
    keystore = directory / "server-keystore.p12"
    keystore.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"nifi", key, certs[0], certs[1:], serialization.BestAvailableEncryption(password.encode())
        )
    )
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    second_trusted_ca.cert_pem.write_to_path(str(directory / "second-trusted-ca.pem"))
    salt, token, next_token = secrets.token_hex(16), secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    description = {
        "ca": str(directory / "ca.pem"),
        "trusted_cas": [str(directory / "ca.pem"), str(directory / "second-trusted-ca.pem")],
        "keystore": str(keystore),
        "keystore_password": password,
        "clients": {
            "allowed": _leaf_files(ca.issue_cert("courier@example.invalid", **ALLOWED_SUBJECT), directory, "client-allowed"),
            "next-subject": _leaf_files(ca.issue_cert("next@example.invalid", **NEXT_SUBJECT), directory, "client-next"),
            "wrong-subject": _leaf_files(
                ca.issue_cert("other@example.invalid", **WRONG_SUBJECT), directory, "client-wrong-subject"
            ),
            "wrong-ca": _leaf_files(
                other_ca.issue_cert("courier@example.invalid", **ALLOWED_SUBJECT), directory, "client-wrong-ca"
            ),
            "other-trusted-ca": _leaf_files(
                second_trusted_ca.issue_cert("courier@example.invalid", **ALLOWED_SUBJECT), directory, "client-other-trusted-ca"
            ),
        },
        "token": token,
        "next_token": next_token,
        "salt": salt,
        # What the flow compares (courier.credential.sha256 and .next), as `courier secret verifier` prints it.
        "credential_sha256": credential_verifier(salt, Credentials(token=token).authorization() or ""),
        "credential_sha256_next": credential_verifier(salt, Credentials(token=next_token).authorization() or ""),
    }
    subjects = {
        x509.load_pem_x509_certificate(Path(description["clients"][name]["cert"]).read_bytes()).subject
        for name in ("allowed", "other-trusted-ca")
    }
    assert len(subjects) == 1, "other-trusted-ca must carry the allowed subject: only its issuer may differ"
    (directory / "certs.json").write_text(json.dumps(description, indent=2))


# Values NiFi's formatter (Java's RFC 1779 style) quotes or escapes; trustme's own OU always holds a '#'.
TRICKY_SUBJECTS = [
    {"common_name": "courier", "organization_name": "Example #1"},
    {"common_name": "courier, eu", "organization_name": "A+B"},
    {"common_name": 'say "hi"', "organization_name": "back\\slash"},
    {"common_name": " lead  double", "organization_name": "x=y;<z>"},
    {"common_name": "plain", "organization_name": "Plain Org"},
    # Printed exactly as O="Example #1": NiFi's string cannot tell this value from Example #1.
    {"common_name": "courier", "organization_name": '"Example #1"'},
    {"common_name": '"plain"', "organization_name": '"a\\b"'},
]
# Attributes RFC 1779 style has no name for (NiFi prints OID.<dotted>), beside the two NiFi's formatter names.
NAMED_ATTRIBUTES = [
    (NameOID.EMAIL_ADDRESS, "ops@example.invalid"),
    (NameOID.SERIAL_NUMBER, "42"),
    (NameOID.TITLE, "receiver"),
    (NameOID.DOMAIN_COMPONENT, "example"),
    (NameOID.USER_ID, "u1"),
    (NameOID.STREET_ADDRESS, "1 Main St"),
    (NameOID.COMMON_NAME, "courier"),
]


def self_signed_pem(name: x509.Name) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    builder = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    builder = builder.serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + timedelta(days=1))
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def make_subjects(directory: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from nifi_subject import nifi_subject

    directory.mkdir(parents=True, exist_ok=True)
    ca, printed = trustme.CA(), {}
    for number, subject in enumerate(TRICKY_SUBJECTS):
        files = _leaf_files(ca.issue_cert("subject@example.invalid", **subject), directory, f"subject-{number}")
        cert = x509.load_pem_x509_certificate(Path(files["cert"]).read_bytes())
        printed[files["cert"]] = nifi_subject(cert)
    named = directory / "subject-named-attributes.pem"
    named.write_bytes(self_signed_pem(x509.Name([x509.NameAttribute(oid, value) for oid, value in NAMED_ATTRIBUTES])))
    printed[str(named)] = nifi_subject(x509.load_pem_x509_certificate(named.read_bytes()))
    (directory / "subjects.json").write_text(json.dumps(printed, indent=2))


def shape_authorization(headers: list[tuple[str, str]], shape: str | None) -> list[tuple[str, str]]:
    """The case's ``authorization_shape`` applied to the Authorization header: ``scheme-lowercase`` (``bearer ...``),
    ``double-space`` (two spaces after the scheme), ``wrong-first`` (a wrong credential in a header before it)."""
    shaped: list[tuple[str, str]] = []
    for name, value in headers:
        scheme, _, rest = value.partition(" ")
        if shape is None or name.lower() != "authorization":
            shaped.append((name, value))
        elif shape == "scheme-lowercase":
            shaped.append((name, f"{scheme.lower()} {rest}"))
        elif shape == "double-space":
            shaped.append((name, f"{scheme}  {rest}"))
        elif shape == "wrong-first":
            shaped += [(name, f"{scheme} not-{rest}"), (name, value)]
        else:
            raise ValueError(f"unknown authorization_shape: {shape}")
    return shaped


class _CaseTransport(httpx.BaseTransport):
    """Real TLS transport that shapes the request the way the case says (header names, hash, credential),
    and notes the size of each answer's body."""

    def __init__(self, inner: httpx.HTTPTransport, case: dict) -> None:
        self.inner, self.case = inner, case
        self.body_bytes: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = [(k, v) for k, v in request.headers.multi_items()]
        if self.case["header_credential"] in (None, "missing"):
            headers = [(k, v) for k, v in headers if k.lower() != "authorization"]
        headers = shape_authorization(headers, self.case.get("authorization_shape"))
        if self.case["sha_header"] == "missing":
            headers = [(k, v) for k, v in headers if k.lower() != SHA256_HEADER.lower()]
        elif self.case["sha_header"] == "wrong":
            headers = [(k, "0" * 64 if k.lower() == SHA256_HEADER.lower() else v) for k, v in headers]
        if self.case.get("content_encoding"):  # only in the Java test's own cases, never in cases.json
            headers.append(("Content-Encoding", self.case["content_encoding"]))
        if self.case["header_case"] == "lower":
            headers = [(k.lower(), v) for k, v in headers]
        else:
            canonical = {
                h.lower(): h for h in ("X-Content-SHA256", "Authorization", "X-Courier-Probe", REPLAY_HEADER, "Content-Type")
            }
            headers = [(canonical.get(k.lower(), k), v) for k, v in headers]
        shaped = httpx.Request(request.method, request.url, headers=headers, content=request.content)
        response = self.inner.handle_request(shaped)
        response.read()
        self.body_bytes.append(len(response.content))
        return response

    def close(self) -> None:
        self.inner.close()


class _FixedCredentials:
    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    def get(self, refresh: bool = False) -> Credentials:
        return self.credentials


def _bundle_for(case: dict) -> tuple[bytes, str, bool]:
    if case["body"] == "probe":
        # Distinct per case, like the controller's (one per minute).
        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=sum(map(ord, case["name"])))
        probe = probe_bundle(at)
        return probe.data, probe.sha256, True
    if case["body"] == "empty":
        return b"", hashlib.sha256(b"").hexdigest(), False
    key, at = f"contract/{case['name']}.csv", datetime(2026, 1, 1, tzinfo=UTC)
    ref = ObjectRef("landing", key, None, f"etag-{case['name']}", None, None, at, "ObjectCreated:Put")
    bundle = build_bundle([FetchedFile(ref, f"case,{case['name']}\n".encode() * 1000, None, f"etag-{case['name']}")])
    return bundle.data, bundle.sha256, False


def post_cases(url: str, directory: Path, cases_file: Path, out: Path) -> None:
    described = json.loads((directory / "certs.json").read_text())
    results = {}
    for case in json.loads(cases_file.read_text()):
        tokens = {"valid": described["token"], "next": described["next_token"], "wrong": "not-the-token"}
        client = described["clients"].get(case["client_cert"], {})
        credentials = Credentials(
            token=tokens.get(case["header_credential"] or "", "unused"),  # "unused": _CaseTransport drops the header
            client_cert_pem=Path(client["cert"]).read_text() if client else None,
            client_key_pem=Path(client["key"]).read_text() if client else None,
            ca_pem=Path(described["ca"]).read_text(),
        )
        # The TLS context NiFiClient builds from its secret in production; the transport only shapes headers.
        transport = _CaseTransport(httpx.HTTPTransport(verify=tls_context(None, credentials)), case)
        nifi = NiFiClient(
            url, _FixedCredentials(credentials), ca_bundle=None, connect_timeout=10, read_timeout=60, transport=transport
        )
        data, sha256, probe = _bundle_for(case)
        statuses, errors = [], []
        try:
            for attempt in range(case["repeat"]):
                # "replay": the attempts after the first resend the bundle as `courier replay` does.
                replay = bool(case.get("replay")) and attempt > 0
                try:
                    purpose = Purpose.PROBE if probe else Purpose.REPLAY if replay else Purpose.DELIVERY
                    delivery = Delivery(data, sha256, f"bundle-{case['name']}", 1, f"contract/{case['name']}", purpose)
                    statuses.append(nifi.post(delivery))
                    errors.append(None)
                except DeliveryError as exc:
                    statuses.append(exc.status or 0)  # no HTTP answer: 0
                    errors.append(None if exc.status else type(exc).__name__)
        finally:
            nifi.close()
        results[case["name"]] = {"status": statuses, "body_bytes": transport.body_bytes, "error": errors, "sha256": sha256}
        print(f"{case['name']}: {statuses}", flush=True)
    out.write_text(json.dumps(results, indent=2))


def main(argv: list[str]) -> int:
    if argv[:1] == ["certs"] and len(argv) == 2:
        make_certs(Path(argv[1]))
        return 0
    if argv[:1] == ["subjects"] and len(argv) == 2:
        make_subjects(Path(argv[1]))
        return 0
    if argv[:1] == ["post"] and len(argv) == 5:
        post_cases(argv[1], Path(argv[2]), Path(argv[3]), Path(argv[4]))
        return 0
    print("usage: post_cases.py certs DIR | subjects DIR | post URL DIR CASES OUT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
