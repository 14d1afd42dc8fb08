"""The shipped flow in a real, headless NiFi 2.3.0 (nifi/real/, assembled from Maven Central) answers courier's client
as nifi/contract-test/cases.json says.

One NiFi per session: the flow is imported through NiFi's REST API with its parameters set, every case is POSTed by
courier's own NiFiClient (nifi/contract-test/post_cases.py) over real mutual TLS, and the answers, the empty answer
bodies and the copies waiting at the output port (by content SHA-256) are checked: the assertions the nifi-mock
test (test_nifi_contract.py) makes, now against NiFi itself. Skipped where there is no JDK >= 21 or no ``mvn``.
NiFi is stopped by its PID at the end of the session (fixture teardown, and atexit should the session die).
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from courier.local import real_nifi

ROOT = Path(__file__).parents[2]
CASES_DIR = ROOT / "nifi" / "contract-test"
HOME = ROOT / "nifi" / "real" / "target" / "nifi-home"
MISSING = real_nifi.missing_tools()
pytestmark = [
    pytest.mark.slow,  # a real NiFi, started
    pytest.mark.skipif(MISSING is not None, reason=f"real NiFi needs a JDK >= 21 and mvn: {MISSING}"),
]

_SUBJECT: dict = {}
exec(compile((ROOT / "nifi" / "nifi_subject.py").read_text(), "nifi_subject.py", "exec"), _SUBJECT)
_POST_CASES: dict = {}
exec(compile((CASES_DIR / "post_cases.py").read_text(), "post_cases.py", "exec"), _POST_CASES)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _subject(pem: str, issuer: bool = False) -> str:
    from cryptography import x509

    return _SUBJECT["nifi_subject"](x509.load_pem_x509_certificate(Path(pem).read_bytes()), issuer)


@pytest.fixture(scope="session")
def nifi():
    real_nifi.fresh_home(HOME)
    instance = real_nifi.RealNiFi(HOME, _free_port())
    atexit.register(instance.stop)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("nifi-real-certs")
    subprocess.run([sys.executable, str(CASES_DIR / "post_cases.py"), "certs", str(directory)], check=True)
    described = json.loads((directory / "certs.json").read_text())
    # A second CA in the truststore (as when the truststore also serves other clients), and a certificate from it
    # with courier's own subject: the flow must refuse it on its issuer.
    other_ca = trustme.CA()
    other_ca.cert_pem.write_to_path(str(directory / "other-trusted-ca.pem"))
    described["clients"]["other-trusted-ca"] = _POST_CASES["_leaf_files"](
        other_ca.issue_cert("courier@example.invalid", **_POST_CASES["ALLOWED_SUBJECT"]), directory, "client-other-trusted-ca"
    )
    (directory / "certs.json").write_text(json.dumps(described, indent=2))
    truststore = directory / "truststore.p12"
    for alias, pem in (("courier-client-ca", described["ca"]), ("other-ca", str(directory / "other-trusted-ca.pem"))):
        subprocess.run(
            [
                str(real_nifi.java_home() / "bin" / "keytool"),
                "-importcert",
                "-noprompt",
                "-alias",
                alias,
                "-file",
                pem,
                "-storetype",
                "PKCS12",
                "-keystore",
                str(truststore),
                "-storepass",
                described["keystore_password"],
            ],
            check=True,
            capture_output=True,
        )
    return directory, described, truststore


@pytest.fixture(scope="session")
def receiver(nifi, certs):
    """The flow imported and running; its listener URL and the connections into the output port (whose queues hold
    the kept copies: nothing is connected after the port)."""
    directory, described, truststore = certs
    listen_port, cache_port = _free_port(), _free_port()
    parameters = {
        "courier.listen.host": "127.0.0.1",
        "courier.listen.port": str(listen_port),
        "courier.client.auth": "Want Authentication",  # the cases drive both modes
        "courier.client.subject": _subject(described["clients"]["allowed"]["cert"]),
        "courier.client.subject.next": _subject(described["clients"]["next-subject"]["cert"]),
        "courier.client.issuer": _subject(described["clients"]["allowed"]["cert"], issuer=True),
        "courier.credential.salt": described["salt"],
        "courier.credential.sha256": described["credential_sha256"],
        "courier.credential.sha256.next": described["credential_sha256_next"],
        "courier.keystore.path": described["keystore"],
        "courier.keystore.password": described["keystore_password"],
        "courier.truststore.path": str(truststore),
        "courier.truststore.password": described["keystore_password"],
        "courier.dedup.cache.host": "127.0.0.1",
        "courier.dedup.cache.port": str(cache_port),
    }
    flow = json.loads(real_nifi.FLOW_FILE.read_text())
    declared = {p["name"] for p in flow["parameterContexts"]["courier-receiver"]["parameters"]}
    parameters = {k: v for k, v in parameters.items() if k in declared}
    group = nifi.import_flow(parameters, flow)
    if not any(s["type"].endswith("MapCacheServer") for s in flow["flowContents"]["controllerServices"]):
        nifi.add_controller_service(
            group,
            "org.apache.nifi.distributed.cache.server.map.MapCacheServer",
            {"group": "org.apache.nifi", "artifact": "nifi-distributed-cache-services-nar", "version": "2.3.0"},
            {"Port": str(cache_port)},
        )
    nifi.run(group)
    assert nifi.invalid_components(group) == []
    return f"https://127.0.0.1:{listen_port}/contentListener", nifi.connections_to(group, "to customer flow"), directory


def _post(url: str, cert_dir: Path, cases: Path, observed: Path) -> dict:
    """Every case of ``cases`` POSTed by courier's own NiFiClient (post_cases.py); what it observed, per case."""
    run = subprocess.run(
        [sys.executable, str(CASES_DIR / "post_cases.py"), "post", url, str(cert_dir), str(cases), str(observed)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(observed.read_text())


# Whichever test runs first assembles and starts NiFi: a cold ~/.m2 builds the standard NAR first (~5 min); warm,
# the whole session takes under a minute.
COLD_START = pytest.mark.timeout(1500)


@COLD_START
def test_flow_in_real_nifi_answers_every_contract_case_and_keeps_exactly_the_expected_copies(nifi, receiver, tmp_path):
    url, kept_connections, cert_dir = receiver
    posted = _post(url, cert_dir, CASES_DIR / "cases.json", tmp_path / "observed.json")
    kept = [flowfile for connection in kept_connections for flowfile in nifi.queued(connection)]

    mismatches = []
    for case in json.loads((CASES_DIR / "cases.json").read_text()):
        got = posted[case["name"]]
        copies = sum(1 for k in kept if k["sha256"] == got["sha256"])
        expected = {"status": [case["expect_status"]] * case["repeat"], "kept": case["expect_kept"]}
        if {"status": got["status"], "kept": copies} != expected:
            mismatches.append(f"{case['name']}: expected {expected}, got status {got['status']} kept {copies}")
        # Every answer has an empty body: a 200 does not echo the bundle, an error carries no detail.
        if any(got["body_bytes"]):
            mismatches.append(f"{case['name']}: answer bodies of {got['body_bytes']} bytes")
    # "Remove credential": copies kept from header-credential requests do not carry the clear-text Authorization.
    assert any(k["sha256"] == posted["credential-bundle"]["sha256"] for k in kept)
    carried = sorted({name for k in kept for name in k["attributes"] if name.lower() == "http.headers.authorization"})
    if carried:
        mismatches.append(f"kept copies carry {carried}")
    print(
        f"real NiFi {real_nifi.NIFI_VERSION}: {len(posted) - len(mismatches)} of {len(posted)} cases as expected; "
        f"NiFi RSS {nifi.rss_bytes() / 2**20:.0f} MiB"
    )
    assert mismatches == [], "\n".join(mismatches)


@COLD_START
def test_courier_subject_from_another_trusted_ca_is_answered_403_with_nothing_kept(nifi, receiver, tmp_path):
    """The issuer check (courier.client.issuer): the truststore trusts a second CA, which issued a certificate with
    courier's own subject; NiFi's TLS accepts it, the flow must not."""
    url, kept_connections, cert_dir = receiver
    case = {
        "name": "other-trusted-ca",
        "client_cert": "other-trusted-ca",
        "header_credential": None,
        "body": "bundle",
        "sha_header": "right",
        "header_case": "canonical",
        "repeat": 1,
    }
    (tmp_path / "cases.json").write_text(json.dumps([case]))
    got = _post(url, cert_dir, tmp_path / "cases.json", tmp_path / "observed.json")["other-trusted-ca"]
    kept = [flowfile for connection in kept_connections for flowfile in nifi.queued(connection)]
    assert got["status"] == [403] and not any(got["body_bytes"])  # courier re-reads its secret and retries a 403 once
    assert not [k for k in kept if k["sha256"] == got["sha256"]]
