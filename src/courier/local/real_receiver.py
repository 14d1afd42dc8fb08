"""The local stack's receiver as a real NiFi 2.3.0 (``courier local up --nifi real``).

The shipped flow (``nifi/courier-receiver.json``) runs in a real NiFi (``real_nifi``) listening on the stack's NiFi
port over HTTPS with a server certificate from the stack's CA; its truststore holds that CA, and the flow's allowed
subject and issuer are the stack's client certificate's, as NiFi formats them (``nifi/nifi_subject.py``). What the
flow keeps (its output port) goes, in NiFi's root group, through UpdateAttribute (names the file by its SHA-256)
to PutFile into ``<state>/nifi-out/``; a watcher here verifies each file's SHA-256 and hands it to the local
receiver's store (``FakeNiFiState.accept``), which moves it to ``received/<sha256>.tar.gz`` and appends the same
``received.jsonl`` line the local receiver writes, so ``courier status`` and the live table count real deliveries.

The NiFi home is ``<state>/nifi``: ``lib/`` (assembled from Maven Central once, checksums checked) and the unpacked
NARs are kept between runs; the flow, its repositories and its configuration start empty at every ``up``, as the
stack's CA does.
"""

from __future__ import annotations

import json
import logging
import runpy
import secrets
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from courier.bundle import read_manifest
from courier.local import real_nifi
from courier.local.fake_nifi import FakeNiFiState

OUT_DIR = "nifi-out"
_STANDARD = {"group": "org.apache.nifi", "artifact": "nifi-standard-nar", "version": real_nifi.NIFI_VERSION}
_UPDATE = {"group": "org.apache.nifi", "artifact": "nifi-update-attribute-nar", "version": real_nifi.NIFI_VERSION}
# <sha256>.<replay: true|false>.<flowfile uuid>.tar.gz: the replay header is gone once the FlowFile is a file.
# (anyMatchingAttribute must end in a boolean function: no ifElse after it.)
_FILENAME = (
    "${'content_SHA-256'}.${anyMatchingAttribute('(?i)http[.]headers[.]x-courier-replay'):equalsIgnoreCase('true')}"
    ".${uuid}.tar.gz"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def nifi_subject(cert_pem: bytes, issuer: bool = False) -> str:
    """The subject (or issuer) DN exactly as NiFi compares it (nifi/nifi_subject.py, checked against NiFi)."""
    helper = runpy.run_path(str(real_nifi.REAL_DIR.parent / "nifi_subject.py"))
    return str(helper["nifi_subject"](x509.load_pem_x509_certificate(cert_pem), issuer))


class RealReceiver:
    """A real NiFi running the flow on ``port``, its kept copies fed into ``store``."""

    def __init__(self, state_dir: Path, store: FakeNiFiState, ca: Any, client_cert_pem: str, port: int) -> None:
        self.state_dir, self.store, self.ca, self.port = state_dir, store, ca, port
        self.client_cert_pem = client_cert_pem.encode()
        self.home = state_dir / "nifi"
        self.out_dir = state_dir / OUT_DIR
        self.nifi = real_nifi.RealNiFi(self.home, _free_port())
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> RealReceiver:
        missing = real_nifi.missing_tools()
        if missing:
            raise real_nifi.RealNiFiError(f"--nifi real needs a JDK >= 21 and mvn: {missing}")
        real_nifi.fresh_home(self.home)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._watcher = threading.Thread(target=self._watch, name="nifi-out-watcher", daemon=True)
        self._watcher.start()
        try:
            self.nifi.start()
            self._import()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop NiFi (by its PID) and the watcher, after collecting what NiFi wrote last."""
        self.nifi.stop()
        self._stopping.set()
        if self._watcher:
            self._watcher.join(10)
        self.collect()

    def _stores(self) -> tuple[Path, Path, str]:
        """A PKCS12 keystore (server certificate from the stack's CA) and truststore (the CA), and their password."""
        tls = self.home / "tls"
        tls.mkdir(mode=0o700, parents=True, exist_ok=True)
        password = secrets.token_hex(16)
        server = self.ca.issue_cert("127.0.0.1", "localhost")
        key = serialization.load_pem_private_key(server.private_key_pem.bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):  # what trustme makes, and a keystore holds
            raise real_nifi.RealNiFiError(f"the receiver's key is a {type(key).__name__}, not an EC or RSA key")
        chain = [x509.load_pem_x509_certificate(blob.bytes()) for blob in server.cert_chain_pems]
        keystore, truststore, ca_pem = tls / "keystore.p12", tls / "truststore.p12", tls / "ca.pem"
        keystore.write_bytes(
            pkcs12.serialize_key_and_certificates(
                b"nifi", key, chain[0], chain[1:], serialization.BestAvailableEncryption(password.encode())
            )
        )
        self.ca.cert_pem.write_to_path(str(ca_pem))
        truststore.unlink(missing_ok=True)
        jdk = real_nifi.java_home()
        assert jdk is not None  # start() checked
        # keytool marks the CA as a trusted entry, as Java's PKCS12 truststores need.
        subprocess.run(
            [str(jdk / "bin" / "keytool"), "-importcert", "-noprompt", "-alias", "courier-local-ca", "-file", str(ca_pem),
             "-storetype", "PKCS12", "-keystore", str(truststore), "-storepass", password],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        return keystore, truststore, password

    def _import(self) -> None:
        keystore, truststore, password = self._stores()
        cache_port = _free_port()
        subject = nifi_subject(self.client_cert_pem)
        parameters = {
            "courier.listen.host": "127.0.0.1",
            "courier.listen.port": str(self.port),
            "courier.client.auth": "Need Authentication",
            "courier.client.subject": subject,
            "courier.client.subject.next": subject,
            "courier.client.issuer": nifi_subject(self.client_cert_pem, issuer=True),
            # No header credential in this mode: a verifier nothing hashes to.
            "courier.credential.salt": secrets.token_hex(16),
            "courier.credential.sha256": "0" * 64,
            "courier.credential.sha256.next": "0" * 64,
            "courier.keystore.path": str(keystore),
            "courier.keystore.password": password,
            "courier.truststore.path": str(truststore),
            "courier.truststore.password": password,
            "courier.dedup.cache.host": "127.0.0.1",
            "courier.dedup.cache.port": str(cache_port),
        }
        flow = json.loads(real_nifi.FLOW_FILE.read_text())
        declared = {p["name"] for p in flow["parameterContexts"]["courier-receiver"]["parameters"]}
        group = self.nifi.import_flow({k: v for k, v in parameters.items() if k in declared}, flow)
        self._connect_store(group, flow)
        self.nifi.run(group)
        root = self.nifi.request("GET", "/flow/process-groups/root")["processGroupFlow"]["id"]
        self.nifi.request("PUT", f"/flow/process-groups/{root}", {"id": root, "state": "RUNNING"})
        invalid = self.nifi.invalid_components(group) + self.nifi.invalid_components(root)
        if invalid:
            raise real_nifi.RealNiFiError(f"flow components invalid in the real NiFi: {invalid[0]}")

    def _connect_store(self, group: str, flow: dict[str, Any]) -> None:
        """Root group: the flow's output port -> UpdateAttribute (filename) -> PutFile into ``nifi-out/``."""
        root = self.nifi.request("GET", "/flow/process-groups/root")["processGroupFlow"]["id"]
        ports = self.nifi.request("GET", f"/process-groups/{group}/output-ports")["outputPorts"]
        port = next(p for p in ports if p["component"]["name"] == flow["flowContents"]["outputPorts"][0]["name"])

        def processor(kind: str, bundle: dict[str, str], properties: dict[str, str], terminated: list[str], x: int) -> str:
            entity = {
                "revision": {"version": 0},
                "component": {
                    "type": kind,
                    "bundle": bundle,
                    "position": {"x": x, "y": 600},
                    "config": {"properties": properties, "autoTerminatedRelationships": terminated},
                },
            }
            return str(self.nifi.request("POST", f"/process-groups/{root}/processors", entity)["id"])

        name = processor("org.apache.nifi.processors.attributes.UpdateAttribute", _UPDATE, {"filename": _FILENAME}, [], 0)
        put = processor(
            "org.apache.nifi.processors.standard.PutFile",
            _STANDARD,
            {"Directory": str(self.out_dir), "Conflict Resolution Strategy": "fail", "Create Missing Directories": "true"},
            ["success"],
            400,
        )

        def connect(source: dict[str, Any], destination: dict[str, Any], relationships: list[str]) -> None:
            entity = {
                "revision": {"version": 0},
                "component": {"source": source, "destination": destination, "selectedRelationships": relationships},
            }
            self.nifi.request("POST", f"/process-groups/{root}/connections", entity)

        named, stored = ({"id": i, "groupId": root, "type": "PROCESSOR"} for i in (name, put))
        connect({"id": port["id"], "groupId": group, "type": "OUTPUT_PORT"}, named, [])
        connect(named, stored, ["success"])
        connect(stored, stored, ["failure"])  # a file PutFile could not write waits in NiFi (retried), never dropped

    # --- the store ---------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stopping.wait(0.2):
            try:
                self.collect()
            except Exception as exc:  # noqa: BLE001 - keep watching; a bad file stays in nifi-out/ for a look
                logging.getLogger("courier").warning("nifi-out watcher: %s", exc)

    def collect(self) -> int:
        """Hand every complete file PutFile wrote to the receiver's store; how many were handed over."""
        handed = 0
        for path in sorted(self.out_dir.glob("*.tar.gz")):  # PutFile writes ".<name>" and renames when complete
            sha256, kind = path.name.split(".")[:2]
            actual = real_nifi.sha256_of(path)
            if actual != sha256:
                path.rename(path.with_name(path.name + ".sha256-mismatch"))
                logging.getLogger("courier").warning("nifi-out: %s does not hash to its name", path.name)
                continue
            with path.open("rb") as stream:
                manifest = read_manifest(stream)
            self.store.accept(path, actual, str(manifest.get("bundle_id", "")), len(manifest["files"]), kind == "true")
            handed += 1
        return handed
