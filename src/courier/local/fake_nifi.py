"""A fake NiFi: the NiFi-contract receiver of local runs and tests.

It implements what the shipped NiFi flow (``nifi/``) implements, request for
request (``tests/integration/test_receiver_parity.py`` runs the cases of
``nifi/contract-test/cases.json`` that the NiFi contract test runs against
NiFi's own processors): ``POST /contentListener`` checks the client, hashes
the body and answers 200 when the SHA-256 equals ``X-Content-SHA256``, 422
when it does not (or is missing, or the body is empty), and 503 during an
injected outage; error answers carry only a short JSON reason, never the
bundle. Accepted bundles are stored as
``<state-dir>/received/<sha256>.tar.gz`` and logged to
``<state-dir>/received.jsonl``, one line per 200, copies included. Each line's
``kept`` says what the flow would have passed to its output port: the first
copy of a SHA-256 (the flow's duplicate detection answers later copies 200
and drops them) and every replay (``X-Courier-Replay: true``, which the flow
routes around duplicate detection). The receiver remembers kept SHA-256s as
long as their files stay in ``received/``.
A bundle's body is streamed to a file beside the store while it is hashed,
never held in memory, so bundles of any size are verified whole before the
answer, as NiFi's flow does.

Client checks, as the flow's (its TLS context *wants* a client certificate):
a certificate from an untrusted CA fails the TLS handshake; a certificate from a
trusted CA whose subject or issuer is not allowed is 403, whatever the header
says (a truststore may trust other CAs: the flow's ``courier.client.issuer``);
the receiver keeps no header of a request, the credential least of all; an allowed
certificate is enough (mTLS); without a certificate the ``Authorization``
header must match the salted hash (SHA-256 of salt + header, the flow keeps
only that) or it is 401. With no header credential configured, only mTLS gets
in.

A request with ``X-Courier-Probe: true`` (the breaker controller's canary) is
checked the same way, answered 200 and dropped: counted, never stored.

Admin API on the same server, for loopback clients that present the stack's
admin token (``Authorization: Bearer <token>``, the token in the 0600 file
``<state-dir>/admin.token``, new each start; 401 without it): any local process
could otherwise issue client certificates, change what the receiver accepts or
inject faults. ``GET /admin/stats``,
``POST /admin/aws-fault`` with ``{"service": "s3" | "dynamodb" | "sqs" |
"secretsmanager", "error": "<AWS error code>", "rate": 0.0-1.0, "operation":
optional}`` (``GET`` lists what is active; see ``local/aws_faults.py``) and
``POST /admin/fault`` with ``{"mode": "ok" | "unavailable" | "timeout" |
"reset" | "reject-hash" | "error" | "ack-lost"}``.

Credential rotation (the drill of ``docs/runbooks/rotate-nifi-secret.md``):
``GET /admin/credentials`` shows what is accepted (subjects, whether a header
credential is set; never a secret); ``POST /admin/credentials`` with
``{"pending": {<the secret's shape, or "client_subject">}}`` accepts the
pending credentials beside the current ones, ``{"promote": true}`` makes the
pending the only ones, ``{"cancel": true}`` drops them. ``POST
/admin/client-cert`` with ``{"common_name": ...}`` issues a client certificate
from the stack's CA (the local stand-in for the site's PKI).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from courier.bundle import manifest_files
from courier.delivery import BUNDLE_ID_HEADER, FILE_COUNT_HEADER, PROBE_HEADER, REPLAY_HEADER, SHA256_HEADER, Credentials
from courier.events import parse_event_time
from courier.local.receiver_auth import AcceptedClients, issue_client_certificate
from courier.operator.slo import percentiles
from courier.stackfile import write_admin_token

CONTENT_PATH = "/contentListener"
# "error" (HTTP 500) is an extra beyond the NiFi contract, for drills of a broken NiFi.
# "ack-lost" stores the bundle exactly as on success, then drops the connection unanswered:
# NiFi committed, courier never heard it (a read timeout or reset after the commit).
FAULT_MODES = ("ok", "unavailable", "timeout", "reset", "reject-hash", "error", "ack-lost")
MAX_BODY_BYTES = 512 * 1024 * 1024  # admin requests, read into memory
MAX_BUNDLE_BYTES = 64 * 1024**3  # bundles, streamed to disk
BODY_CHUNK = 1024 * 1024
READ_TIMEOUT_SECONDS = 60.0


@dataclass
class ReceivedBundle:
    sha256: str
    bundle_id: str
    file_count: int
    received_at: float
    replay: bool
    kept: bool = True


class FakeNiFiState:
    """Everything the handler threads share, behind one lock."""

    def __init__(self, state_dir: Path, credentials: Credentials, timeout_hold_seconds: float = 120.0) -> None:
        self.state_dir = state_dir
        self.received_dir = state_dir / "received"
        self.received_dir.mkdir(parents=True, exist_ok=True)
        self.journal = state_dir / "received.jsonl"
        self.lock = threading.Lock()
        self.clients = AcceptedClients.of(credentials)
        self.client_ca: Any = None  # the stack's trustme CA: /admin/client-cert issues from it
        self.mode = "ok"
        self.mode_changed = threading.Event()
        self.delay_seconds = 0.0  # added before every answer (benchmarks: NiFi's round trip)
        self.timeout_hold_seconds = timeout_hold_seconds
        self.responses: Counter[int] = Counter()
        self.bundles: list[ReceivedBundle] = []
        self.files_received = 0
        self.deliveries: Counter[tuple[str, str, str]] = Counter()  # (bucket, key, version or etag) -> times
        self.bundles_of_file: dict[tuple[str, str, str], set[str]] = {}  # the distinct bundle SHA-256s a file came in
        self.latencies: list[float] = []  # acknowledgement time minus S3 event time, per file
        self.replays = 0
        # The flow's duplicate cache: SHA-256s already passed on (what an earlier run left in received/ included).
        self.kept_sha256s = {path.name.removesuffix(".tar.gz") for path in self.received_dir.glob("*.tar.gz")}
        self.probes = 0  # canaries of the breaker controller, answered and dropped
        self.aws_faults: Any = None  # the local stack's AwsFaults, set through /admin/aws-fault
        self.admin_token = write_admin_token(state_dir)  # what /admin/* requires; the CLI and tests read the file
        # Set (to why) when a real NiFi is the receiver: this server keeps only the store and the admin API, and
        # refuses what it cannot do to the real NiFi (faults, credential rotation) and any bundle.
        self.real_nifi = ""

    def set_mode(self, mode: str) -> None:
        if mode not in FAULT_MODES:
            raise ValueError(f"fault mode must be one of {', '.join(FAULT_MODES)}")
        with self.lock:
            self.mode = mode
            self.mode_changed.set()
            self.mode_changed = threading.Event()

    def set_credentials(self, credentials: Credentials) -> None:
        """Accept exactly these credentials from now on (no rotation window)."""
        self.clients.replace(credentials)

    def refusal(self, peer_certificate: bytes | None, authorization: str | None) -> int | None:
        """None when the client may deliver; else the flow's answer: 403 (certificate not allowed) or 401."""
        return self.clients.refusal(peer_certificate, authorization)

    def accept(self, body: Path, sha256: str, bundle_id: str, file_count: int, replay: bool) -> None:
        """Store a verified body (a file in ``received/``, moved into place) and count its files."""
        with body.open("rb") as stream:
            files = manifest_files(stream)
        body.replace(self.received_dir / f"{sha256}.tar.gz")
        with self.lock:
            kept = replay or sha256 not in self.kept_sha256s
            self.kept_sha256s.add(sha256)
            entry = ReceivedBundle(sha256, bundle_id, file_count, time.time(), replay, kept)
            self.bundles.append(entry)
            self.files_received += file_count
            if replay:  # a deliberate resend: neither a new delivery nor a duplicate
                self.replays += 1
            for f in files if not replay else ():
                self.deliveries[(f["bucket"], f["key"], f.get("version_id") or f.get("etag") or "")] += 1
                self.bundles_of_file.setdefault((f["bucket"], f["key"], f.get("revision") or ""), set()).add(sha256)
                self.latencies.append(entry.received_at - parse_event_time(f["event_time"]).timestamp())
            with self.journal.open("a", encoding="utf-8") as journal:
                journal.write(
                    json.dumps(
                        {
                            "time": entry.received_at,
                            "sha256": sha256,
                            "bundle_id": bundle_id,
                            "file_count": file_count,
                            "replay": replay,
                            "kept": kept,
                            "status": 200,
                        }
                    )
                    + "\n"
                )

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "mode": "real NiFi" if self.real_nifi else self.mode,
                "bundles_received": len(self.bundles),
                "distinct_bundles": len({b.sha256 for b in self.bundles}),
                "files_received": self.files_received,
                "distinct_files": len(self.deliveries),
                "duplicate_deliveries": sum(n - 1 for n in self.deliveries.values()),
                # The guarantee: a file may arrive more than once, but only ever inside one distinct bundle.
                "files_in_several_bundles": sum(1 for shas in self.bundles_of_file.values() if len(shas) > 1),
                "replayed_bundles": self.replays,
                "kept_bundles": sum(1 for b in self.bundles if b.kept),
                "probes": self.probes,
                "latency_seconds": percentiles(self.latencies),
                "responses": {str(k): v for k, v in sorted(self.responses.items())},
            }


class _Handler(BaseHTTPRequestHandler):
    server: _FakeNiFiServer
    protocol_version = "HTTP/1.1"
    # Every socket read and write (StreamRequestHandler sets it): a client stalled mid-request, or an idle
    # keep-alive connection, frees its thread after this long instead of pinning it.
    timeout = READ_TIMEOUT_SECONDS

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep stderr clean
        return

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; with Nagle and the client's delayed ACK
        # every answer would wait ~40 ms, which real NiFi does not.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @property
    def state(self) -> FakeNiFiState:
        return self.server.state

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        with self.state.lock:  # counted before the client can see the answer: its next read of the stats includes it
            self.state.responses[status] += 1
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._reply(411, {"error": "Content-Length required"})
            return None
        if length < 0 or length > MAX_BODY_BYTES:
            self._reply(413, {"error": "body too large"})
            return None
        return self.rfile.read(length)

    def _is_loopback(self) -> bool:
        return ipaddress.ip_address(self.client_address[0]).is_loopback

    def _admin_refused(self) -> bool:
        """Answer (404 off loopback, 401 without the admin token) and say so, for a request to ``/admin/``."""
        if not self.path.startswith("/admin/"):
            return False
        if not self._is_loopback():
            self._reply(404, {"error": "not found"})
            return True
        presented = self.headers.get("Authorization") or ""
        if not hmac.compare_digest(presented.encode(), f"Bearer {self.state.admin_token}".encode()):
            self._reply(401, {"error": "the admin API needs Authorization: Bearer <the token in <state-dir>/admin.token>"})
            return True
        return False

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if self._admin_refused():
            return
        if self.path == "/admin/stats":
            self._reply(200, self.state.stats())
        elif self.path == "/admin/aws-fault" and self.state.aws_faults is not None:
            self._reply(200, self.state.aws_faults.snapshot())
        elif self.path == "/admin/credentials":
            self._reply(200, self.state.clients.snapshot())
        else:
            self._reply(404, {"error": "not found"})

    def _stream_body(self) -> tuple[Path, str] | None:
        """A bundle's body streamed to a ``.part`` file in ``received/`` and hashed on the way; None when answered."""
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._reply(411, {"error": "Content-Length required"})
            return None
        if length < 0 or length > MAX_BUNDLE_BYTES:
            self._reply(413, {"error": "body too large"})
            return None
        digest = hashlib.sha256()
        with tempfile.NamedTemporaryFile(dir=self.state.received_dir, suffix=".part", delete=False) as part:
            try:
                left = length
                while left and (chunk := self.rfile.read(min(BODY_CHUNK, left))):
                    digest.update(chunk)
                    part.write(chunk)
                    left -= len(chunk)
            except BaseException:  # a reset, a stalled client's read timeout, a full disk: no .part left behind
                Path(part.name).unlink(missing_ok=True)
                raise
        if left:  # the client went away mid-body
            Path(part.name).unlink(missing_ok=True)
            self.close_connection = True
            return None
        return Path(part.name), digest.hexdigest()

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        if self.state.real_nifi and self.path in (CONTENT_PATH, "/admin/fault", "/admin/credentials"):
            self.close_connection = True  # the body is left unread
            self._reply(404 if self.path == CONTENT_PATH else 409, {"error": self.state.real_nifi})
            return
        if self.path == CONTENT_PATH:
            streamed = self._stream_body()
            if streamed is not None:
                try:
                    self._receive(*streamed)
                finally:
                    streamed[0].unlink(missing_ok=True)  # gone already when accepted (moved into the store)
            return
        if self._admin_refused():
            return
        body = self._read_body()
        if body is None:
            return
        if self.path == "/admin/fault":
            self._set_fault(body)
        elif self.path == "/admin/aws-fault" and self.state.aws_faults is not None:
            self._set_aws_fault(body)
        elif self.path == "/admin/credentials":
            self._rotate_credentials(body)
        elif self.path == "/admin/client-cert" and self.state.client_ca is not None:
            self._issue_client_cert(body)
        else:
            self._reply(404, {"error": "not found"})

    def _set_fault(self, body: bytes) -> None:
        try:
            mode = json.loads(body)["mode"]
            self.state.set_mode(mode)
        except (ValueError, KeyError, TypeError) as exc:
            self._reply(400, {"error": str(exc) or 'expected {"mode": ...}'})
            return
        self._reply(200, {"mode": mode})

    def _set_aws_fault(self, body: bytes) -> None:
        from courier.local.aws_faults import Fault

        try:
            fault = Fault.parse(json.loads(body))
        except ValueError as exc:
            self._reply(400, {"error": str(exc)})
            return
        self.state.aws_faults.set(fault)
        self._reply(200, self.state.aws_faults.snapshot())

    def _rotate_credentials(self, body: bytes) -> None:
        try:
            self._reply(200, self.state.clients.rotate(json.loads(body)))
        except (ValueError, TypeError, AttributeError) as exc:
            self._reply(400, {"error": str(exc)})

    def _issue_client_cert(self, body: bytes) -> None:
        try:
            common_name = json.loads(body or b"{}").get("common_name") or "courier"
            if not isinstance(common_name, str):
                raise ValueError("common_name must be a string")
        except (ValueError, AttributeError) as exc:
            self._reply(400, {"error": str(exc)})
            return
        self._reply(200, issue_client_certificate(self.state.client_ca, common_name))

    def _peer_certificate(self) -> bytes | None:
        getpeercert = getattr(self.request, "getpeercert", None)  # plain http (tests) has no TLS
        return getpeercert(binary_form=True) if getpeercert else None

    def _receive(self, body: Path, actual: str) -> None:
        if self.state.delay_seconds:
            time.sleep(self.state.delay_seconds)
        with self.state.lock:
            mode, changed = self.state.mode, self.state.mode_changed
        if mode in ("unavailable", "error"):
            self._reply(503 if mode == "unavailable" else 500, {"error": f"{mode} (injected)"})
            return
        if mode == "timeout":
            # Hold the request until the fault is cleared (or the hold expires): the client times out.
            changed.wait(self.state.timeout_hold_seconds)
            self.close_connection = True
            return
        if mode == "reset":
            self._drop_connection()
            return
        refused = self.state.refusal(self._peer_certificate(), self.headers.get("Authorization"))
        if refused is not None:
            self._reply(refused, {"error": "client certificate not allowed" if refused == 403 else "bad credentials"})
            return
        # http.server's headers match names case-insensitively, as the flow does (a proxy may lowercase them).
        claimed = (self.headers.get(SHA256_HEADER) or "").strip().lower()
        if not body.stat().st_size:  # the flow's CryptographicHashContent fails an empty body: 422, never a 200 for nothing
            self._reply(422, {"error": "empty body", "computed": actual})
            return
        if mode == "reject-hash" or not hmac.compare_digest(claimed, actual):
            self._reply(422, {"error": "SHA-256 mismatch", "computed": actual})
            return
        try:
            file_count = int(self.headers.get(FILE_COUNT_HEADER, "0"))
        except ValueError:
            file_count = 0
        if (self.headers.get(PROBE_HEADER) or "").lower() == "true":
            # The controller's canary: checked like any bundle above, answered, never stored.
            with self.state.lock:
                self.state.probes += 1
            self._reply(200, {"sha256": actual, "probe": True})
            return
        replay = (self.headers.get(REPLAY_HEADER) or "").lower() == "true"
        self.state.accept(body, actual, self.headers.get(BUNDLE_ID_HEADER, ""), file_count, replay)
        if mode == "ack-lost":
            self._drop_connection()
            return
        self._reply(200, {"sha256": actual})

    def _drop_connection(self) -> None:
        """Close with a TCP reset and no answer at all."""
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.request.close()


class _FakeNiFiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # Linux still refuses a second listener on the port

    def __init__(self, address: tuple[str, int], state: FakeNiFiState, context: ssl.SSLContext | None) -> None:
        super().__init__(address, _Handler)
        self.state = state
        if context is not None:
            # Handshake in the handler thread, not in the accept loop.
            self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Resets and client timeouts are expected during fault drills; no tracebacks.
        return


class FakeNiFi:
    """A fake NiFi: the HTTPS server of the NiFi contract (see the module docstring), run on a background thread."""

    def __init__(
        self,
        state_dir: Path,
        credentials: Credentials,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.state = FakeNiFiState(state_dir, credentials)
        self.server = _FakeNiFiServer((host, port), self.state, tls)
        self.thread = threading.Thread(target=self.server.serve_forever, name="nifi-receiver", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, scheme: str = "https") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{CONTENT_PATH}"

    def start(self) -> FakeNiFi:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.state.set_mode("ok")  # release any held 'timeout' requests
        self.server.shutdown()
        self.server.server_close()
