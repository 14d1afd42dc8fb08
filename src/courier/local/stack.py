"""The whole pipeline on one machine: emulator, Lambda runtime, NiFi receiver, traffic.

Everything listens on 127.0.0.1 only. The handler that runs here is the one
that runs in AWS (``courier.handler.lambda_handler``), configured through the
same ``COURIER_*`` and ``AWS_ENDPOINT_URL`` variables.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from courier import handler, resources
from courier.adapters.secrets import parse_credentials
from courier.compose import SweepParts, build_controller, build_sweep
from courier.config import ControllerSettings, Settings
from courier.controller import Controller
from courier.errors import LocalStackError
from courier.local import iam
from courier.local.aws_faults import AwsFaults
from courier.local.emulator import Emulator, MappingSettings, ensure_port_free, register_function
from courier.local.fake_nifi import CONTENT_PATH, FakeNiFi
from courier.local.lambda_runtime import EventSourcePoller, describe_error
from courier.local.provision import Stack, provision
from courier.local.real_nifi import RealNiFiError
from courier.local.real_receiver import RealReceiver
from courier.local.receiver_auth import issue_client_certificate
from courier.local.traffic import Uploader
from courier.observability import invocation_metrics, metrics
from courier.stackfile import (
    ADMIN_TOKEN_FILE,
    FAKE_CREDENTIALS,
    REGION,
    STACK_FILE,
    StackInfo,
    aws_environment,
    write_private,
    write_stack_file,
)
from courier.sweep import SweepResult


@dataclass(frozen=True)
class LocalConfig:
    state_dir: Path = Path(".courier")
    aws_port: int = 4566
    nifi_port: int = 8443
    # The deployment's defaults (courier.resources, checked against the Terraform's): a file the deployment
    # delivers is delivered here. Tests that need shorter timings pass them explicitly (tests/e2e/conftest.py).
    batch_size: int = resources.BATCH_SIZE
    batching_window_seconds: int = resources.BATCHING_WINDOW_SECONDS
    concurrency: int = 2  # two invocations at a time on a laptop (AWS default: resources.MAXIMUM_CONCURRENCY)
    function_timeout_seconds: int = resources.FUNCTION_TIMEOUT_SECONDS
    memory_mb: int = resources.FUNCTION_MEMORY_MB
    visibility_timeout_seconds: int = resources.VISIBILITY_TIMEOUT_SECONDS
    breaker_recovery_seconds: int = 10  # short, so outage drills are quick to watch; AWS default is 60
    controller_period_seconds: float = 2.0  # AWS: every minute (EventBridge schedule)
    extra_env: dict[str, str] = field(default_factory=dict)  # further COURIER_* settings for the handler
    # How courier authenticates to the receiver (NIFI_AUTH_MODES): a client certificate (the recommended mode),
    # the header credential, or both; the secret holds what the mode needs, the receiver accepts just that.
    nifi_auth: str = "mtls"
    # The receiver: the local one (fake_nifi, fault injection) or the shipped flow in a real NiFi (real_receiver).
    nifi: str = "local"
    admin_port: int = 0  # with a real NiFi, the admin API's own port (0: any free one)

    @property
    def mapping(self) -> MappingSettings:
        return MappingSettings(self.batch_size, self.batching_window_seconds, self.concurrency)

    def differences(self) -> list[tuple[str, str, str]]:
        """(setting, here, in the deployment by default) for each setting this stack runs differently."""
        deployed = {
            "function timeout (s)": (self.function_timeout_seconds, resources.FUNCTION_TIMEOUT_SECONDS),
            "function memory (MB)": (self.memory_mb, resources.FUNCTION_MEMORY_MB),
            "batch size": (self.batch_size, resources.BATCH_SIZE),
            "batching window (s)": (self.batching_window_seconds, resources.BATCHING_WINDOW_SECONDS),
            "concurrency": (self.concurrency, resources.MAXIMUM_CONCURRENCY),
            "visibility timeout (s)": (self.visibility_timeout_seconds, resources.VISIBILITY_TIMEOUT_SECONDS),
            "breaker recovery (s)": (self.breaker_recovery_seconds, resources.BREAKER_RECOVERY_SECONDS),
            "controller period (s)": (self.controller_period_seconds, resources.CONTROLLER_PERIOD_SECONDS),
        }
        return [(name, f"{here:g}", f"{there:g}") for name, (here, there) in deployed.items() if here != there]


NIFI_AUTH_MODES = ("mtls", "header", "both")
NIFI_RECEIVERS = ("local", "real")
REAL_NIFI_REFUSAL = "not supported with --nifi real: stop or start the real NiFi instead (faults and rotation need --nifi local)"
CLIENT_COMMON_NAME = "courier"
# The aggregator's credentials (its execution role in AWS): an IAM user carrying only its role policy.
FUNCTION_CREDENTIALS = iam.AGGREGATOR.environment()


class LocalStack:
    def __init__(self, config: LocalConfig) -> None:
        self.config = config
        self.state_dir = config.state_dir.resolve()
        self.emulator: Emulator | None = None
        self.fake_nifi: FakeNiFi | None = None
        self.real_receiver: RealReceiver | None = None
        self.poller: EventSourcePoller | None = None
        self.uploader: Uploader | None = None
        self.resources: Stack | None = None
        self.session: Any = None
        self.mapping_uuid = ""
        self.policies: dict[str, dict[str, Any]] = {}  # IAM user -> the policy it runs under
        self._lock_file: Any = None
        self._log_stream: Any = None
        self._saved_stdout: Any = None
        self._stack_file_written = False
        self._stopping = threading.Event()
        self._controller_thread: threading.Thread | None = None
        self.controller: Controller | None = None
        self.sweeper: SweepParts | None = None

    # --- start ----------------------------------------------------------------

    def function_environment(self, ca_path: Path | None) -> dict[str, str]:
        """What the emulated function's environment adds to this process's (``AWS_*`` and ``COURIER_*``).

        ``ca_path`` is None before the stack made its CA: the CA bundle is then left unset.
        """
        return {
            **aws_environment(f"http://127.0.0.1:{self.config.aws_port}"),
            # The function's own credentials (its execution role in AWS): the AWS faults of a drill hit only these.
            **FUNCTION_CREDENTIALS,
            "COURIER_ARCHIVE_BUCKET": "courier-archive",
            "COURIER_LANDING_BUCKET": "courier-landing",
            "COURIER_LANDING_BUCKETS": "courier-landing",
            "COURIER_NIFI_URL": f"https://127.0.0.1:{self.config.nifi_port}{CONTENT_PATH}",
            "COURIER_NIFI_CA_BUNDLE": str(ca_path) if ca_path else "",
            "COURIER_CLAIM_LEASE_SECONDS": str(self.config.function_timeout_seconds + 5),
            "COURIER_FUNCTION_TIMEOUT_SECONDS": str(self.config.function_timeout_seconds),
            # What Lambda announces to the function: the memory budget (and so the largest file) follows from it.
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.config.memory_mb),
            # Loopback connects at once; the short connect timeout leaves the 30-s local function a real read timeout.
            "COURIER_CONNECT_TIMEOUT_SECONDS": "2",
            "COURIER_BREAKER_RECOVERY_SECONDS": str(self.config.breaker_recovery_seconds),
            "COURIER_BREAKER_CACHE_SECONDS": "1",
            **self.config.extra_env,
        }

    def check_settings(self, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the function will read, validated before anything starts.

        A bad ``COURIER_*`` value (``COURIER_FETCH_CONCURRENCY=abc``) raises its one-line
        ``ConfigError`` here, instead of a stack that starts and then fails every invocation.
        The CA does not exist yet: its path is the one setting checked only once it does.
        """
        if self.config.nifi_auth not in NIFI_AUTH_MODES:
            raise LocalStackError(f"--nifi-auth must be one of {', '.join(NIFI_AUTH_MODES)}, got {self.config.nifi_auth!r}")
        if self.config.nifi not in NIFI_RECEIVERS:
            raise LocalStackError(f"--nifi must be one of {', '.join(NIFI_RECEIVERS)}, got {self.config.nifi!r}")
        if self.config.nifi == "real" and self.config.nifi_auth != "mtls":
            raise LocalStackError(f"--nifi real supports only --nifi-auth mtls, got {self.config.nifi_auth!r}")
        return Settings.from_env({**(os.environ if environ is None else environ), **self.function_environment(None)})

    def start(self) -> LocalStack:
        self.check_settings()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        ensure_port_free(self.config.aws_port, "AWS emulator", "--aws-port")
        ensure_port_free(self.config.nifi_port, "NiFi receiver", "--nifi-port")
        ca, ca_path, tls = self._tls()
        secret = self._nifi_secret(ca)
        real = self.config.nifi == "real"
        # With a real NiFi on the NiFi port, the local receiver keeps the store and the admin API on their own port.
        port = self.config.admin_port if real else self.config.nifi_port
        self.fake_nifi = FakeNiFi(self.state_dir, parse_credentials(secret), port=port, tls=tls)
        self.fake_nifi.state.client_ca = ca  # `courier local nifi-credentials issue-cert` issues from it
        self.fake_nifi.start()
        if real:
            self.fake_nifi.state.real_nifi = REAL_NIFI_REFUSAL
            receiver = RealReceiver(self.state_dir, self.fake_nifi.state, ca, secret["client_cert_pem"], self.config.nifi_port)
            try:
                self.real_receiver = receiver.start()
            except RealNiFiError as exc:
                raise LocalStackError(str(exc)) from None
        # A drill's AWS faults hit both functions (an outage hits every caller), never the operator.
        self.aws_faults = AwsFaults(iam.AGGREGATOR.access_key, iam.CONTROLLER.access_key)
        self.fake_nifi.state.aws_faults = self.aws_faults  # the admin API sets them
        self.emulator = Emulator(self.config.aws_port, self.aws_faults).start()
        env = self.function_environment(ca_path)
        os.environ.update(env)
        self._route_logs()
        # The stack's own calls (provisioning, the event source mapping, demo uploads) sign as the operator does.
        self.session = boto3.session.Session(
            region_name=REGION,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        self.resources = provision(self.session, secret, self.config.visibility_timeout_seconds)
        self.mapping_uuid = register_function(
            self.session, self.resources.queue_arn, self.config.mapping, self.config.function_timeout_seconds
        )
        # Each function under its own role policy from here on, enforced by the emulator.
        secret_arn = self.session.client("secretsmanager").describe_secret(SecretId=self.resources.secret_id)["ARN"]
        self.policies = iam.grant_functions(
            REGION, self.resources.queue_arn, secret_arn, self.mapping_uuid, self.resources.dlq_arn
        )
        handler.reset()
        self.poller = EventSourcePoller(
            self.session,
            self.resources.queue_url,
            self.resources.queue_arn,
            self.mapping_uuid,
            self.config.mapping,
            handler.lambda_handler,
            self.config.function_timeout_seconds,
            # The mapping receives and deletes with the aggregator's role, as in AWS.
            consumer_session=boto3.session.Session(region_name=REGION, **iam.AGGREGATOR.session_arguments()),
        ).start()
        self.controller = controller = build_controller(
            ControllerSettings(
                esm_uuid=self.mapping_uuid,
                breaker_table=self.resources.breaker_table,
                breaker_recovery_seconds=self.config.breaker_recovery_seconds,
            ),
            Settings.from_env(),  # what the handler reads too: the controller's canary takes the same path
            # The controller's own credentials (its execution role): only breaker_controller.json.tftpl.
            boto3.session.Session(region_name=REGION, **iam.CONTROLLER.session_arguments()),
        )
        # The sweep of delivered landing revisions: the same function and role, on its own (hourly) schedule.
        self.sweeper = build_sweep(
            Settings.from_env(), boto3.session.Session(region_name=REGION, **iam.CONTROLLER.session_arguments())
        )
        self._controller_thread = threading.Thread(
            target=self._control, args=(controller, self.sweeper), name="breaker-controller", daemon=True
        )
        self._controller_thread.start()
        self._write_stack_file(ca_path)
        return self

    def _control(self, controller: Controller, sweeper: SweepParts) -> None:
        """The breaker controller's schedule and the sweep's (at start-up, then hourly), as EventBridge runs them in AWS."""
        next_sweep = 0.0
        while not self._stopping.wait(self.config.controller_period_seconds):
            self._scheduled("breaker controller", controller.run_once)
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + resources.SWEEP_PERIOD_SECONDS
                self._scheduled("sweep", lambda: self.sweep())

    def sweep(self, now: datetime | None = None) -> SweepResult:
        """One run of the sweep under the controller's role; ``now`` (tests) stands for a later clock."""
        if self.sweeper is None:
            raise LocalStackError("the local stack is not started: nothing to sweep")
        return self.sweeper.sweep().run(now or datetime.now(UTC))

    def _scheduled(self, name: str, run: Callable[[], object]) -> None:
        try:
            # One scheduled invocation, one EMF document, as the controller's Lambda flushes it.
            with invocation_metrics():
                try:
                    run()
                finally:
                    metrics.flush_metrics()
        except Exception as exc:  # noqa: BLE001 - keep the schedule going, as EventBridge would
            logging.getLogger("courier").warning("%s run failed: %s", name, describe_error(exc))

    def _take_lock(self) -> None:
        self._lock_file = open(self.state_dir / "stack.lock", "w")  # noqa: SIM115 - held for the stack's life
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise LocalStackError(f"another courier local stack is running with state dir {self.state_dir}") from None

    def _tls(self) -> tuple[Any, Path, ssl.SSLContext]:
        """A CA made at start-up, the receiver's certificate signed by it, and client certificates wanted from it.

        As the flow's SSL context service: a client certificate is asked for but not required (the header
        credential is the other mode); one from another CA fails the handshake.
        """
        import trustme

        ca = trustme.CA(organization_name="courier local CA")
        ca_path = self.state_dir / "ca.pem"
        write_private(ca_path, ca.cert_pem.bytes(), 0o644)  # public, but set afresh whatever was there
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        ca.configure_trust(context)
        context.verify_mode = ssl.CERT_OPTIONAL
        return ca, ca_path, context

    def _nifi_secret(self, ca: Any) -> dict[str, str]:
        """The NiFi secret of ``config.nifi_auth`` (checked by :meth:`check_settings`): a client certificate from the
        stack's CA, a password, or both."""
        secret: dict[str, str] = {}
        if self.config.nifi_auth in ("mtls", "both"):
            issued = issue_client_certificate(ca, CLIENT_COMMON_NAME)
            secret.update(client_cert_pem=issued["cert_pem"], client_key_pem=issued["key_pem"])
        if self.config.nifi_auth in ("header", "both"):
            secret.update(username="courier", password=secrets.token_urlsafe(24))
        return secret

    def _route_logs(self) -> None:
        """The handler's stdout (JSON logs and EMF metrics, what CloudWatch Logs would get)
        goes to <state-dir>/lambda.log, not over the live view."""
        self._log_stream = open(self.state_dir / "lambda.log", "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        for log_handler in logging.getLogger("courier").handlers:
            if isinstance(log_handler, logging.StreamHandler):
                log_handler.setStream(self._log_stream)
        self._saved_stdout = sys.stdout
        sys.stdout = self._log_stream

    def _write_stack_file(self, ca_path: Path) -> None:
        assert self.emulator and self.fake_nifi and self.resources
        info = StackInfo(
            pid=os.getpid(),
            started_at=time.time(),
            aws_endpoint=self.emulator.endpoint,
            nifi_url=self.receiver_url,
            admin_url=f"https://127.0.0.1:{self.fake_nifi.port}",
            ca_bundle=str(ca_path),
            mapping_uuid=self.mapping_uuid,
            resources=asdict(self.resources),
            admin_token_file=str(self.state_dir / ADMIN_TOKEN_FILE),
        )
        write_stack_file(self.state_dir, info)
        self._stack_file_written = True

    @property
    def receiver_url(self) -> str:
        """Where courier delivers: the local receiver's or the real NiFi's listener, on the NiFi port."""
        return f"https://127.0.0.1:{self.config.nifi_port}{CONTENT_PATH}"

    # --- traffic ----------------------------------------------------------------

    def start_demo(self, rate: float, size: int = 27_000, seed: int | None = None) -> Uploader:
        assert self.resources
        s3 = self.session.client("s3")
        self.uploader = Uploader(s3, self.resources.landing_bucket, rate=rate, size=size, seed=seed).start()
        return self.uploader

    # --- state ------------------------------------------------------------------

    def depths(self) -> tuple[int, int, int]:
        """(visible, in flight, DLQ) message counts."""
        assert self.resources
        sqs = self.session.client("sqs")
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        main = sqs.get_queue_attributes(QueueUrl=self.resources.queue_url, AttributeNames=names)["Attributes"]
        dlq = sqs.get_queue_attributes(QueueUrl=self.resources.dlq_url, AttributeNames=names[:1])["Attributes"]
        return int(main[names[0]]), int(main[names[1]]), int(dlq[names[0]])

    def drain(self, timeout: float) -> bool:
        """Wait until the queue is empty (nothing visible, nothing in flight); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            visible, in_flight, _ = self.depths()
            if visible == 0 and in_flight == 0:
                return True
            time.sleep(0.5)
        return False

    def summary(self) -> dict[str, int]:
        assert self.fake_nifi
        uploaded = self.uploader.stats.keys if self.uploader else []
        with self.fake_nifi.state.lock:
            deliveries = dict(self.fake_nifi.state.deliveries)
        assert self.resources
        delivered_uploads = [k for k in uploaded if (self.resources.landing_bucket, k[0], k[1]) in deliveries]
        _, _, dlq = self.depths()
        return {
            "uploaded": len(uploaded),
            "delivered": len(delivered_uploads),
            "lost": len(uploaded) - len(delivered_uploads),
            "duplicated": sum(n - 1 for n in deliveries.values()),
            "dlq": dlq,
        }

    # --- stop -------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()
        if self._controller_thread:
            self._controller_thread.join(10)
        if self.uploader:
            self.uploader.stop()
        if self.poller:
            self.poller.stop()
        handler.reset()
        if self.real_receiver:
            self.real_receiver.stop()
        if self.fake_nifi:
            self.fake_nifi.stop()
        if self.emulator:
            self.emulator.stop()
        if self._stack_file_written:  # never remove the file of another running instance
            (self.state_dir / STACK_FILE).unlink(missing_ok=True)
        if self._log_stream:
            sys.stdout = self._saved_stdout
            for log_handler in logging.getLogger("courier").handlers:
                if isinstance(log_handler, logging.StreamHandler) and log_handler.stream is self._log_stream:
                    log_handler.setStream(sys.stdout)
            self._log_stream.close()
        if self._lock_file:
            self._lock_file.close()
