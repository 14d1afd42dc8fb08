"""A real, headless Apache NiFi 2.3.0 assembled from Maven Central (nifi/real/), for tests and the local stack.

Maven Central serves NiFi's framework NARs and jars but not nifi-assembly (the binary distribution): ``nifi/real``
builds the two NARs the flow needs that are not served (standard processors, UpdateAttribute) from their served
jars, lays ``lib/`` out as nifi-assembly does, and this module writes ``conf/`` (our own minimal files) and starts
``org.apache.nifi.NiFi`` directly, as NiFi's bootstrap would, on plain HTTP bound to 127.0.0.1 (anonymous: the
login provider NAR is not served). Everything downloaded is pinned and its SHA-256 checked
(``nifi/real/checksums.sha256``); Maven keeps it in ``~/.m2``, so a warm start only copies and starts.

    python -m courier.local.real_nifi assemble HOME      # lib/ + conf/ (Maven), checksums checked
    python -m courier.local.real_nifi write-checksums HOME

The process is stopped by its PID (``RealNiFi.stop``), never by name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

NIFI_VERSION = "2.3.0"
REAL_DIR = Path(__file__).resolve().parents[3] / "nifi" / "real"
FLOW_FILE = REAL_DIR.parent / "courier-receiver.json"
CHECKSUMS = REAL_DIR / "checksums.sha256"
# NARs built here from served jars (nifi/real/<dir>/pom.xml), installed into ~/.m2 under NiFi's coordinates.
BUILT_NARS = {"standard-nar": "nifi-standard-nar", "update-attribute-nar": "nifi-update-attribute-nar"}
MAVEN_SKIPS = ("-Drat.skip", "-Dcheckstyle.skip", "-Denforcer.skip", "-Dpmd.skip", "-DskipTests")


class RealNiFiError(Exception):
    """The real NiFi could not be assembled, started or driven (message says which step)."""


def _matched(pattern: str, text: str, flags: int = 0) -> str:
    """The first group of ``pattern`` in ``text``; RealNiFiError naming the pattern when it is not there."""
    match = re.search(pattern, text, flags)
    if match is None:
        raise RealNiFiError(f"{pattern!r} not found")
    return match.group(1)


def _java_major(java: Path) -> int:
    try:
        shown = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=60).stderr
    except (OSError, subprocess.TimeoutExpired):
        return 0
    match = re.search(r'version "(\d+)', shown)
    return int(match.group(1)) if match else 0


def java_home() -> Path | None:
    """A JDK >= 21 (NiFi 2's minimum): JAVA_HOME, the java on PATH, or one under /usr/lib/jvm."""
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path).resolve().parents[1])
    jvm = Path("/usr/lib/jvm")
    candidates += sorted(jvm.glob("*"), reverse=True) if jvm.is_dir() else []
    for home in candidates:
        if (home / "bin" / "javac").exists() and _java_major(home / "bin" / "java") >= 21:
            return home
    return None


def missing_tools() -> str | None:
    """Why a real NiFi cannot be built here, or None."""
    if java_home() is None:
        return "a JDK >= 21 was not found (JAVA_HOME, PATH, /usr/lib/jvm)"
    if shutil.which("mvn") is None:
        return "mvn was not found on PATH"
    return None


def _m2() -> Path:
    return Path(os.environ.get("COURIER_M2_REPOSITORY", Path.home() / ".m2" / "repository"))


def _mvn(args: list[str], log: Path) -> None:
    jdk = java_home()
    if jdk is None or shutil.which("mvn") is None:
        raise RealNiFiError(missing_tools() or "no Maven")
    with log.open("a") as out:
        run = subprocess.run(
            ["mvn", "-B", "-q", *args, *MAVEN_SKIPS],
            env={**os.environ, "JAVA_HOME": str(jdk)},
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if run.returncode != 0:
        raise RealNiFiError(f"mvn {' '.join(args)} failed (log: {log})")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def downloaded_files(home: Path) -> dict[str, str]:
    """SHA-256 of everything that came from Maven Central: lib/'s served jars and NARs, and the jars bundled into the
    two NARs built here (the NAR files themselves are built locally, so their contents are what is pinned)."""
    sums = {}
    for path in sorted((home / "lib").iterdir()):
        if path.name.removesuffix(f"-{NIFI_VERSION}.nar") in BUILT_NARS.values():
            with zipfile.ZipFile(path) as nar:
                for entry in sorted(nar.namelist()):
                    if entry.startswith("META-INF/bundled-dependencies/") and entry.endswith(".jar"):
                        sums[f"{path.name}!{entry.rsplit('/', 1)[1]}"] = hashlib.sha256(nar.read(entry)).hexdigest()
        else:
            sums[path.name] = sha256_of(path)
    return sums


def check_checksums(home: Path) -> None:
    pinned = dict(line.split("  ", 1)[::-1] for line in CHECKSUMS.read_text().splitlines() if line.strip())
    found = downloaded_files(home)
    wrong = sorted(name for name in pinned.keys() | found.keys() if pinned.get(name) != found.get(name))
    if wrong:
        raise RealNiFiError(f"{len(wrong)} file(s) differ from nifi/real/checksums.sha256, e.g. {wrong[0]}")


def write_checksums(home: Path) -> None:
    CHECKSUMS.write_text("".join(f"{digest}  {name}\n" for name, digest in downloaded_files(home).items()))


def assemble(home: Path) -> None:
    """lib/ from Maven (cached in ~/.m2), checked against the pinned checksums; conf/ is written by start()."""
    home.mkdir(parents=True, exist_ok=True)
    log = home / "assemble.log"
    for directory, artifact in BUILT_NARS.items():
        built = _m2() / "org" / "apache" / "nifi" / artifact / NIFI_VERSION / f"{artifact}-{NIFI_VERSION}.nar"
        if not built.exists():
            _mvn(["-f", str(REAL_DIR / directory / "pom.xml"), "install"], log)
    _mvn(["-f", str(REAL_DIR / "pom.xml"), "package", f"-Dnifi.home={home}"], log)
    check_checksums(home)


# What a start begins without: everything but lib/ and the unpacked NARs (work/nar).
FRESH = (
    "conf",
    "logs",
    "state",
    "database_repository",
    "flowfile_repository",
    "content_repository",
    "provenance_repository",
    "status_repository",
    "work/jetty",
)


def fresh_home(home: Path) -> None:
    """Reuse lib/ and the unpacked NARs of an earlier run when lib/ still matches the pinned checksums (assemble
    again otherwise); everything else (conf, repositories, state, logs) starts empty."""
    try:
        check_checksums(home)
    except (OSError, RealNiFiError):
        shutil.rmtree(home, ignore_errors=True)
        assemble(home)
    for name in FRESH:
        shutil.rmtree(home / name, ignore_errors=True)


# Our own minimal configuration: only what NiFi 2.3.0 reads without a default, plus the choices that matter here
# (127.0.0.1 only, plain HTTP, no flow archive, volatile status history).
_PROPERTIES = """\
nifi.flow.configuration.file=./conf/flow.json.gz
nifi.flow.configuration.archive.enabled=false
nifi.flowcontroller.autoResumeState=true
nifi.flowcontroller.graceful.shutdown.period=10 sec
nifi.flowservice.writedelay.interval=500 ms
nifi.administrative.yield.duration=30 sec
nifi.bored.yield.duration=10 millis
nifi.queue.backpressure.count=10000
nifi.queue.backpressure.size=1 GB
nifi.authorizer.configuration.file=./conf/authorizers.xml
nifi.login.identity.provider.configuration.file=./conf/login-identity-providers.xml
nifi.ui.banner.text=courier test NiFi
nifi.nar.library.directory=./lib
nifi.nar.library.autoload.directory=./extensions
nifi.nar.working.directory=./work/nar/
nifi.nar.unpack.uber.jar=false
nifi.state.management.configuration.file=./conf/state-management.xml
nifi.state.management.provider.local=local-provider
nifi.state.management.embedded.zookeeper.start=false
nifi.database.directory=./database_repository
nifi.flowfile.repository.implementation=org.apache.nifi.controller.repository.WriteAheadFlowFileRepository
nifi.flowfile.repository.wal.implementation=org.apache.nifi.wali.SequentialAccessWriteAheadLog
nifi.flowfile.repository.directory=./flowfile_repository
nifi.flowfile.repository.checkpoint.interval=20 secs
nifi.flowfile.repository.always.sync=false
nifi.swap.manager.implementation=org.apache.nifi.controller.FileSystemSwapManager
nifi.queue.swap.threshold=20000
nifi.content.repository.implementation=org.apache.nifi.controller.repository.FileSystemRepository
nifi.content.claim.max.appendable.size=50 KB
nifi.content.repository.directory.default=./content_repository
nifi.content.repository.archive.enabled=false
nifi.content.repository.always.sync=false
nifi.provenance.repository.implementation=org.apache.nifi.provenance.WriteAheadProvenanceRepository
nifi.provenance.repository.directory.default=./provenance_repository
nifi.provenance.repository.max.storage.time=1 hour
nifi.provenance.repository.max.storage.size=100 MB
nifi.provenance.repository.rollover.time=10 secs
nifi.provenance.repository.rollover.size=100 MB
nifi.provenance.repository.query.threads=2
nifi.provenance.repository.index.threads=1
nifi.provenance.repository.compress.on.rollover=false
nifi.provenance.repository.always.sync=false
nifi.provenance.repository.indexed.fields=EventType, FlowFileUUID, Filename, ProcessorID, Relationship
nifi.provenance.repository.indexed.attributes=
nifi.provenance.repository.index.shard.size=100 MB
nifi.provenance.repository.max.attribute.length=65536
nifi.provenance.repository.concurrent.merge.threads=1
nifi.components.status.repository.implementation=org.apache.nifi.controller.status.history.VolatileComponentStatusRepository
nifi.components.status.repository.buffer.size=60
nifi.components.status.snapshot.frequency=1 min
nifi.status.repository.questdb.persist.location=./status_repository
nifi.web.http.host=127.0.0.1
nifi.web.http.port={http_port}
nifi.web.http.network.interface.default=
nifi.web.https.host=
nifi.web.https.port=
nifi.web.jetty.working.directory=./work/jetty
nifi.web.jetty.threads=50
nifi.web.max.header.size=16 KB
nifi.web.proxy.context.path=
nifi.web.proxy.host=
nifi.web.max.content.size=
nifi.web.max.requests.per.second=30000
nifi.web.request.timeout=60 secs
nifi.web.request.ip.whitelist=
nifi.web.should.send.server.version=true
nifi.web.request.log.format=
nifi.sensitive.props.key={props_key}
nifi.sensitive.props.algorithm=NIFI_PBKDF2_AES_GCM_256
nifi.security.keystore=
nifi.security.keystoreType=
nifi.security.keystorePasswd=
nifi.security.keyPasswd=
nifi.security.truststore=
nifi.security.truststoreType=
nifi.security.truststorePasswd=
nifi.security.user.authorizer=
nifi.security.allow.anonymous.authentication=false
nifi.security.user.login.identity.provider=
nifi.cluster.is.node=false
nifi.cluster.protocol.is.secure=false
nifi.zookeeper.connect.string=
nifi.python.framework.source.directory=./python/framework
nifi.python.extensions.source.directory.default=./python/extensions
nifi.python.working.directory=./work/python
nifi.analytics.predict.enabled=false
nifi.kerberos.krb5.file=
"""

_STATE_MANAGEMENT = """\
<stateManagement>
  <local-provider>
    <id>local-provider</id>
    <class>org.apache.nifi.controller.state.providers.local.WriteAheadLocalStateProvider</class>
    <property name="Directory">./state/local</property>
    <property name="Always Sync">false</property>
    <property name="Partitions">4</property>
    <property name="Checkpoint Interval">2 mins</property>
  </local-provider>
</stateManagement>
"""

_LOGBACK = """\
<configuration>
  <appender name="APP" class="ch.qos.logback.core.FileAppender">
    <file>{log}</file>
    <encoder><pattern>%date %level [%thread] %logger{{40}} %msg%n</pattern></encoder>
  </appender>
  <logger name="org.apache.nifi" level="INFO"/>
  <logger name="org.eclipse.jetty" level="WARN"/>
  <root level="WARN"><appender-ref ref="APP"/></root>
</configuration>
"""


def write_conf(home: Path, http_port: int) -> None:
    conf = home / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    properties = conf / "nifi.properties"
    key = secrets.token_hex(16)
    if properties.exists():  # keep the key the flow's sensitive values were encrypted with
        key = _matched(r"^nifi\.sensitive\.props\.key=(.*)$", properties.read_text(), re.M)
    properties.write_text(_PROPERTIES.format(http_port=http_port, props_key=key))
    os.chmod(properties, 0o600)
    (conf / "state-management.xml").write_text(_STATE_MANAGEMENT)
    (conf / "logback.xml").write_text(_LOGBACK.format(log=home / "logs" / "nifi-app.log"))


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _java_command(home: Path, management_port: int) -> list[str]:
    jdk = java_home()
    if jdk is None:
        raise RealNiFiError(missing_tools() or "no JDK")
    classpath = [str(home / "conf"), *sorted(str(p) for p in (home / "lib").glob("*.jar"))]
    return [
        str(jdk / "bin" / "java"),
        "-Xms256m",
        "-Xmx1g",
        "-Djava.awt.headless=true",
        "-Djava.protocol.handler.pkgs=sun.net.www.protocol",
        "-Dsun.net.http.allowRestrictedHeaders=true",
        "-Djavax.security.auth.useSubjectCredentialsOnly=true",
        "-Dcurator-log-only-first-connection-state-change=true",
        "-Dzookeeper.admin.enableServer=false",
        f"-Dnifi.properties.file.path={home / 'conf' / 'nifi.properties'}",
        f"-Dlogback.configurationFile={home / 'conf' / 'logback.xml'}",
        f"-Dorg.apache.nifi.bootstrap.config.log.dir={home / 'logs'}",
        # NiFi's management server otherwise binds the fixed 127.0.0.1:52020: a second NiFi on the machine (make test
        # beside make run, another worktree) would exit at start with "Address already in use".
        f"-Dorg.apache.nifi.management.server.address=127.0.0.1:{management_port}",
        "-Dapp=NiFi",
        "-cp",
        ":".join(classpath),
        "org.apache.nifi.NiFi",
    ]


def wait_until(what: str, check: Callable[[], bool], timeout: float = 120) -> None:
    """Polls ``check`` until it holds; RealNiFiError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise RealNiFiError(f"timed out waiting for {what}")


class RealNiFi:
    """One NiFi process in ``home``, driven over its REST API on 127.0.0.1:``http_port``."""

    def __init__(self, home: Path, http_port: int) -> None:
        self.home, self.http_port = home, http_port
        self.api = f"http://127.0.0.1:{http_port}/nifi-api"
        self.process: subprocess.Popen[bytes] | None = None

    # -- process ---------------------------------------------------------------------------------------------
    def start(self, timeout: float = 300) -> None:
        write_conf(self.home, self.http_port)
        (self.home / "logs").mkdir(exist_ok=True)
        with (self.home / "logs" / "nifi-stdout.log").open("a") as out:
            self.process = subprocess.Popen(
                _java_command(self.home, _free_loopback_port()),
                cwd=self.home,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.home / "nifi.pid").write_text(str(self.process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RealNiFiError(f"NiFi exited with {self.process.returncode} (logs: {self.home / 'logs'})")
            with contextlib.suppress(OSError, RealNiFiError):
                self.request("GET", "/flow/about")
                return
            time.sleep(1)
        self.stop()
        raise RealNiFiError(f"NiFi did not answer within {timeout:.0f} s (logs: {self.home / 'logs'})")

    def stop(self, timeout: float = 60) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # NiFi's shutdown hook stops the flow and the web server
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)
        with contextlib.suppress(FileNotFoundError):
            (self.home / "nifi.pid").unlink()

    def rss_bytes(self) -> int:
        if self.process is None:
            return 0
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(_matched(r"VmRSS:\s+(\d+) kB", status)) * 1024

    # -- REST --------------------------------------------------------------------------------------------------
    def request(
        self, method: str, path: str, body: object = None, raw: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        request = urllib.request.Request(self.api + path, data=data, method=method, headers={**hdrs, **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                payload = answer.read()
        except urllib.error.HTTPError as exc:
            raise RealNiFiError(f"{method} {path}: HTTP {exc.code} {exc.read()[:300]!r}") from None
        if answer.headers.get_content_type() == "application/json" and payload:
            return json.loads(payload)
        return payload

    def _wait(self, what: str, check: Callable[[], bool], timeout: float = 120) -> None:
        wait_until(what, check, timeout)

    def import_flow(self, parameters: dict[str, str], flow: dict[str, Any] | None = None, name: str = "courier-receiver") -> str:
        """Upload the flow definition as a process group of the root group, set its parameters; its id."""
        definition = json.dumps(flow if flow is not None else json.loads(FLOW_FILE.read_text())).encode()
        root = self.request("GET", "/flow/process-groups/root")["processGroupFlow"]["id"]
        boundary = uuid.uuid4().hex
        fields = {
            "groupName": name,
            "positionX": "0",
            "positionY": "0",
            "clientId": "courier",
            "disconnectedNodeAcknowledged": "false",
        }
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}.json"\r\n'
            "Content-Type: application/json\r\n\r\n".encode()
            + definition
            + f"\r\n--{boundary}--\r\n".encode()
        )
        group = self.request(
            "POST",
            f"/process-groups/{root}/process-groups/upload",
            raw=b"".join(parts),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        group_id: str = group["id"]
        context_id = group["component"]["parameterContext"]["id"]
        self.set_parameters(context_id, parameters)
        return group_id

    def set_parameters(self, context_id: str, parameters: dict[str, str]) -> None:
        context = self.request("GET", f"/parameter-contexts/{context_id}")
        update = {
            "revision": context["revision"],
            "id": context_id,
            "component": {
                "id": context_id,
                "parameters": [
                    {"parameter": {"name": k, "value": v, "sensitive": k.endswith("password")}} for k, v in parameters.items()
                ],
            },
        }
        started = self.request("POST", f"/parameter-contexts/{context_id}/update-requests", update)
        request_id = started["request"]["requestId"]
        path = f"/parameter-contexts/{context_id}/update-requests/{request_id}"
        try:
            self._wait("the parameter update", lambda: self.request("GET", path)["request"]["complete"])
            failure = self.request("GET", path)["request"].get("failureReason")
        finally:
            self.request("DELETE", path)
        if failure:
            raise RealNiFiError(f"parameter update failed: {failure}")

    def run(self, group_id: str) -> None:
        """Enable every controller service of the group, then start its components."""
        self.request("PUT", f"/flow/process-groups/{group_id}/controller-services", {"id": group_id, "state": "ENABLED"})

        def enabled() -> bool:
            services = self.request("GET", f"/flow/process-groups/{group_id}/controller-services")["controllerServices"]
            return all(s["component"]["state"] == "ENABLED" for s in services)

        self._wait("controller services to be enabled", enabled)
        self.request("PUT", f"/flow/process-groups/{group_id}", {"id": group_id, "state": "RUNNING"})

    def invalid_components(self, group_id: str) -> list[str]:
        flow = self.request("GET", f"/flow/process-groups/{group_id}")["processGroupFlow"]["flow"]
        return [
            f"{p['component']['name']}: {p['component'].get('validationErrors')}"
            for p in flow["processors"]
            if p["component"].get("validationStatus") == "INVALID"
        ]

    def connections_to(self, group_id: str, destination_name: str) -> list[str]:
        flow = self.request("GET", f"/flow/process-groups/{group_id}")["processGroupFlow"]["flow"]
        found = [c["id"] for c in flow["connections"] if c["component"]["destination"]["name"] == destination_name]
        if not found:
            raise RealNiFiError(f"no connection to {destination_name!r}")
        return found

    def queued(self, connection_id: str) -> list[dict[str, Any]]:
        """Every FlowFile waiting in the connection: its attributes and the SHA-256 of its content."""
        started = self.request("POST", f"/flowfile-queues/{connection_id}/listing-requests")
        path = f"/flowfile-queues/{connection_id}/listing-requests/{started['listingRequest']['id']}"
        try:
            self._wait("the queue listing", lambda: self.request("GET", path)["listingRequest"]["finished"])
            summaries = self.request("GET", path)["listingRequest"].get("flowFileSummaries", [])
        finally:
            self.request("DELETE", path)
        kept = []
        for summary in summaries:
            flowfile = self.request("GET", f"/flowfile-queues/{connection_id}/flowfiles/{summary['uuid']}")["flowFile"]
            content = self.request("GET", f"/flowfile-queues/{connection_id}/flowfiles/{summary['uuid']}/content")
            kept.append({"attributes": flowfile["attributes"], "sha256": hashlib.sha256(content).hexdigest()})
        return kept


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] in ("assemble", "write-checksums"):
        home = Path(argv[1]).resolve()
        try:
            if argv[0] == "assemble":
                assemble(home)
            else:
                write_checksums(home)
        except RealNiFiError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    print("usage: python -m courier.local.real_nifi assemble|write-checksums HOME", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
