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
from dataclasses import dataclass
from pathlib import Path

import pytest

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
    # The truststore trusts a second CA too (as when it also serves other clients): the "other-trusted-ca" case.
    truststore = directory / "truststore.p12"
    for number, pem in enumerate(described["trusted_cas"]):
        subprocess.run(
            [
                str(real_nifi.java_home() / "bin" / "keytool"),
                "-importcert",
                "-noprompt",
                "-alias",
                f"trusted-ca-{number}",
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
    """The flow imported and running with Want Authentication (the cases drive both modes)."""
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
    nifi.run(group)
    assert nifi.invalid_components(group) == []
    return Receiver(group, listen_port, nifi.connections_to(group, "to customer flow"), directory, described)


@dataclass(frozen=True)
class Receiver:
    group: str
    listen_port: int
    kept_connections: list[str]  # the connections into the output port: their queues hold the kept copies
    cert_dir: Path
    certs: dict

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.listen_port}/contentListener"


def _flow_default(parameter: str) -> str:
    flow = json.loads(real_nifi.FLOW_FILE.read_text())
    return next(p["value"] for p in flow["parameterContexts"]["courier-receiver"]["parameters"] if p["name"] == parameter)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


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
    cases = json.loads((CASES_DIR / "cases.json").read_text())
    # Cases without "client_auth" run with Want Authentication (both modes); then the listener is set to the flow's
    # shipped default of courier.client.auth (NiFi restarts the listener) for the "default" ones.
    want = [c for c in cases if c.get("client_auth") is None]
    default = [c for c in cases if c.get("client_auth") == "default"]
    (tmp_path / "want.json").write_text(json.dumps(want))
    (tmp_path / "default.json").write_text(json.dumps(default))
    posted = _post(receiver.url, receiver.cert_dir, tmp_path / "want.json", tmp_path / "observed-want.json")
    context = nifi.request("GET", f"/process-groups/{receiver.group}")["component"]["parameterContext"]["id"]
    if _flow_default("courier.client.auth") != "Want Authentication":  # NiFi refuses an update to the same value
        nifi.set_parameters(context, {"courier.client.auth": _flow_default("courier.client.auth")})
    real_nifi.wait_until("the listener to listen again", lambda: _listening(receiver.listen_port))
    posted |= _post(receiver.url, receiver.cert_dir, tmp_path / "default.json", tmp_path / "observed-default.json")
    kept = [flowfile for connection in receiver.kept_connections for flowfile in nifi.queued(connection)]

    mismatches = []
    for case in cases:
        got = posted[case["name"]]
        copies = [k for k in kept if k["sha256"] == got["sha256"]]
        expected = {"status": [case["expect_status"]] * case["repeat"], "kept": case["expect_kept"]}
        if {"status": got["status"], "kept": len(copies)} != expected:
            mismatches.append(f"{case['name']}: expected {expected}, got status {got['status']} kept {len(copies)}")
        # Every answer has an empty body: a 200 does not echo the bundle, an error carries no detail.
        if any(got["body_bytes"]):
            mismatches.append(f"{case['name']}: answer bodies of {got['body_bytes']} bytes")
        # No HTTP answer must be a handshake refused on the certificate, not an unreachable listener.
        if any(status == 0 and error != "NiFiAuthError" for status, error in zip(got["status"], got["error"], strict=True)):
            mismatches.append(f"{case['name']}: no answer, but courier saw {got['error']} (not a refused handshake)")
        carried = _carry_credential(copies, receiver.certs["token"])
        if case.get("expect_credential_kept") is False and carried:
            mismatches.append(f"{case['name']}: a kept copy carries the credential in {carried}")
    print(
        f"real NiFi {real_nifi.NIFI_VERSION}: {len(posted) - len(mismatches)} of {len(posted)} cases as expected; "
        f"NiFi RSS {nifi.rss_bytes() / 2**20:.0f} MiB"
    )
    assert mismatches == [], "\n".join(mismatches)


def _carry_credential(copies: list[dict], token: str) -> list[str]:
    """Attributes of the kept copies that name the Authorization header (any case) or hold the token."""
    return sorted(
        {
            name
            for k in copies
            for name, value in k["attributes"].items()
            if name.lower() == "http.headers.authorization" or token in (value or "")
        }
    )


@COLD_START
def test_duplicate_cache_server_keeps_the_flows_entries_on_disk_and_remembers_bundles_across_a_restart(nifi, receiver, tmp_path):
    """The flow's own MapCacheServer, read back through NiFi's REST API, holds the flow's defaults (2,000,000 entries,
    persisted under NiFi's working directory); a bundle kept before a NiFi restart is a duplicate after it."""
    services = nifi.request("GET", f"/flow/process-groups/{receiver.group}/controller-services")["controllerServices"]
    server = next(s["component"] for s in services if s["component"]["type"].endswith(".MapCacheServer"))
    assert (server["state"], server["validationStatus"]) == ("ENABLED", "VALID")
    assert server["properties"]["Maximum Cache Entries"] == "#{courier.dedup.cache.entries}"
    assert server["properties"]["Persistence Directory"] == "#{courier.dedup.cache.directory}"
    assert server["properties"]["Eviction Strategy"] == "First In, First Out"
    context = nifi.request("GET", f"/process-groups/{receiver.group}")["component"]["parameterContext"]["id"]
    values = {
        p["parameter"]["name"]: p["parameter"]["value"]
        for p in nifi.request("GET", f"/parameter-contexts/{context}")["component"]["parameters"]
    }
    assert values["courier.dedup.cache.entries"] == _flow_default("courier.dedup.cache.entries") == "2000000"
    assert values["courier.dedup.cache.directory"] == _flow_default("courier.dedup.cache.directory")
    assert (HOME / values["courier.dedup.cache.directory"]).is_dir()  # resolved against NiFi's working directory

    case = {
        "name": "kept-before-a-restart",
        "client_cert": "allowed",
        "header_credential": None,
        "body": "bundle",
        "sha_header": "right",
        "header_case": "canonical",
        "repeat": 1,
    }
    (tmp_path / "case.json").write_text(json.dumps([case]))
    before = _post(receiver.url, receiver.cert_dir, tmp_path / "case.json", tmp_path / "before.json")[case["name"]]
    nifi.stop()
    nifi.start()

    def running() -> bool:
        services = nifi.request("GET", f"/flow/process-groups/{receiver.group}/controller-services")["controllerServices"]
        return _listening(receiver.listen_port) and all(s["component"]["state"] == "ENABLED" for s in services)

    real_nifi.wait_until("the flow to run again after the restart", running)
    after = _post(receiver.url, receiver.cert_dir, tmp_path / "case.json", tmp_path / "after.json")[case["name"]]
    kept = [flowfile for connection in receiver.kept_connections for flowfile in nifi.queued(connection)]
    assert (before["status"], after["status"]) == ([200], [200])
    assert sum(1 for k in kept if k["sha256"] == before["sha256"]) == 1  # the copy from before the restart only
