"""``courier local``: the whole pipeline on this machine.

The composition root of the local stack, and so the one CLI module that may
import ``courier.local``, only inside its commands: the emulator is an optional
extra (``courier[local]``), and every other command works without it.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from courier.cli._context import Context, StateDir
from courier.cli._render import console, fail
from courier.errors import CourierError
from courier.resources import (
    BATCH_SIZE,
    BATCHING_WINDOW_SECONDS,
    FUNCTION_MEMORY_MB,
    FUNCTION_TIMEOUT_SECONDS,
    LANDING_BUCKET,
    visibility_timeout_seconds,
)
from courier.stackfile import aws_environment, write_private

NiFiAuth = Annotated[
    str, typer.Option(help="How courier authenticates to the receiver: mtls (a client certificate), header, or both.")
]
NiFiReceiver = Annotated[
    str,
    typer.Option(
        help="The receiver: 'local' (the NiFi-contract receiver, with fault injection) or 'real' (the shipped flow"
        " in a real NiFi 2.3.0 assembled from Maven Central; needs a JDK >= 21 and mvn, --nifi-auth mtls; starts in"
        " ~15-45 s warm, minutes the first time). With 'real', 'courier local fault nifi' and 'courier local receiver"
        " accept-pending/promote' are refused (stop or start NiFi instead); AWS faults, status and issue-cert work."
    ),
]
BatchingWindow = Annotated[int, typer.Option(help="MaximumBatchingWindowInSeconds (the deployment's default).")]
FunctionTimeout = Annotated[
    int, typer.Option(help="The function's timeout, seconds (the deployment's default); the largest file follows from it.")
]
VisibilityTimeout = Annotated[
    int | None, typer.Option(help="Queue visibility timeout, seconds; default: 6 x function timeout + window, as AWS.")
]
app = typer.Typer(help="The whole pipeline on this machine (AWS emulator, Lambda runtime, NiFi receiver).", no_args_is_help=True)


@app.command("up")
def local_up(
    state_dir: StateDir = Path(".courier"),
    aws_port: Annotated[int, typer.Option(help="Port of the AWS emulator (moto server).")] = 4566,
    nifi_port: Annotated[int, typer.Option(help="HTTPS port of the NiFi-contract receiver.")] = 8443,
    demo: Annotated[bool, typer.Option(help="Upload demo files like an external party would.")] = False,
    rate: Annotated[float, typer.Option(help="Demo upload rate, files per second.")] = 10.0,
    batch_size: Annotated[int, typer.Option(help="Event source mapping BatchSize (the deployment's default).")] = BATCH_SIZE,
    batching_window: BatchingWindow = BATCHING_WINDOW_SECONDS,
    concurrency: Annotated[int, typer.Option(help="Concurrent invocations (MaximumConcurrency; AWS default 10).")] = 2,
    function_timeout: FunctionTimeout = FUNCTION_TIMEOUT_SECONDS,
    memory: Annotated[int, typer.Option(help="The function's memory, MB (the deployment's default).")] = FUNCTION_MEMORY_MB,
    visibility_timeout: VisibilityTimeout = None,
    breaker_recovery: Annotated[int, typer.Option(help="Breaker recovery timeout, seconds (AWS default 60).")] = 10,
    controller_period: Annotated[float, typer.Option(help="Breaker controller period, seconds (AWS: 60).")] = 2.0,
    drain_timeout: Annotated[float, typer.Option(help="Seconds to wait for in-flight files at Ctrl-C.")] = 30.0,
    nifi_auth: NiFiAuth = "mtls",
    nifi: NiFiReceiver = "local",
    duration: Annotated[float | None, typer.Option(help="Stop by itself after this many seconds.")] = None,
) -> None:
    """Start the local stack in the foreground; Ctrl-C stops traffic, drains and prints a summary."""
    stack, stop, out = _start(
        state_dir=state_dir,
        aws_port=aws_port,
        nifi_port=nifi_port,
        batch_size=batch_size,
        batching_window_seconds=batching_window,
        concurrency=concurrency,
        function_timeout_seconds=function_timeout,
        memory_mb=memory,
        visibility_timeout_seconds=visibility_timeout or visibility_timeout_seconds(function_timeout, batching_window),
        breaker_recovery_seconds=breaker_recovery,
        controller_period_seconds=controller_period,
        nifi_auth=nifi_auth,
        nifi=nifi,
    )
    if demo:
        stack.start_demo(rate)
    _watch(stack, out, stop, duration)
    _drain_and_summarise(stack, out, drain_timeout)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def _start(**config: Any) -> tuple[Any, threading.Event, Console]:
    """The stack of this ``LocalConfig`` started (how to reach it printed), the event Ctrl-C (or SIGTERM) sets, and
    the console for the live view."""
    from courier.local.stack import LocalConfig, LocalStack

    out = Console(file=sys.stdout)  # bound now: the stack sends the handler's stdout to lambda.log

    stack = LocalStack(LocalConfig(**config))
    try:
        stack.start()
    except CourierError as exc:
        stack.stop()
        raise fail(str(exc)) from None
    except ImportError as exc:
        stack.stop()
        raise fail(f"the local stack needs the package {exc.name!r}: pip install 'courier[local]' (make run does)") from None
    _how_to_connect(stack, out)
    return stack, _stop_on_signals(), out


def _how_to_connect(stack: Any, out: Console) -> None:
    endpoint = stack.emulator.endpoint
    out.print("[bold]courier local stack is up[/bold] (Ctrl-C to stop). To talk to it from another shell:")
    for name, value in aws_environment(endpoint).items():
        out.print(f"  export {name}={value}", highlight=False)
    out.print(f"  aws --endpoint-url {endpoint} s3 cp FILE s3://{LANDING_BUCKET}/incoming/FILE", highlight=False, soft_wrap=True)
    real = " (a real NiFi)" if stack.real_receiver else ""
    out.print(f"  NiFi receiver{real}: {stack.receiver_url}  (CA: {stack.state_dir / 'ca.pem'})", highlight=False)
    out.print(
        "  IAM is enforced: the aggregator and the breaker controller run under their own role policies"
        " (infra/terraform/policies); the credentials above are the operator's, as is any other key (e.g. test/test).",
        highlight=False,
        soft_wrap=True,
    )
    differing = stack.config.differences()
    if differing:
        shown = ", ".join(f"{name} {here} (deployed: {there})" for name, here, there in differing)
        out.print(f"  Unlike the deployment's defaults: {shown}.", highlight=False, soft_wrap=True)
    else:
        out.print("  Every setting as the deployment's defaults.", highlight=False)


def _watch(stack: Any, out: Console, stop: threading.Event, duration: float | None) -> None:
    """The live view, refreshed every second until Ctrl-C (or ``duration``)."""
    from courier.local.view import LiveView

    started = time.monotonic()
    with LiveView(stack, out) as view:
        while not stop.wait(1.0):
            view.refresh()
            if duration is not None and time.monotonic() - started >= duration:
                break


def _drain_and_summarise(stack: Any, out: Console, drain_timeout: float) -> None:
    out.print("stopping: traffic off, draining in-flight files ...")
    if stack.uploader:
        stack.uploader.stop()
    drained = stack.drain(drain_timeout)
    summary = stack.summary()
    stack.stop()
    table = Table("uploaded", "delivered", "lost", "duplicated", "dlq", title="summary")
    table.add_row(*(str(summary[k]) for k in ("uploaded", "delivered", "lost", "duplicated", "dlq")))
    out.print(table)
    if not drained:
        lost = f"queue not empty after {drain_timeout:.0f}s; undelivered files stay in the emulator, which is gone now"
        out.print(f"[yellow]{lost}[/yellow]")


@app.command("upload")
def local_upload(
    rate: Annotated[float, typer.Option(help="Files per second.")] = 10.0,
    duration: Annotated[float, typer.Option(help="Seconds to upload for.")] = 60.0,
    size: Annotated[int, typer.Option(help="Approximate bytes per file.")] = 27_000,
    prefix: Annotated[str, typer.Option(help="Key prefix in the landing bucket.")] = "incoming",
    bucket: Annotated[str, typer.Option(help="Landing bucket.")] = LANDING_BUCKET,
    state_dir: StateDir = Path(".courier"),
) -> None:
    """Upload realistic files to the landing bucket (the local stack, or AWS when no stack runs)."""
    from courier.local.traffic import Uploader

    errors: list[str] = []
    s3 = Context.load(state_dir).clients("s3")
    # The uploader counts and reports each failed PUT itself: nothing here to catch.
    uploader = Uploader(s3, bucket, rate=rate, size=size, prefix=prefix, on_error=lambda e: errors.append(str(e)))
    signal.signal(signal.SIGINT, lambda *_: uploader.stopping.set())
    stats = uploader.run(duration=duration)
    console.print(f"uploaded {stats.uploaded} files ({stats.bytes / 1e6:.1f} MB), {stats.failed} failed")
    if errors:
        raise fail(f"{len(errors)} uploads failed; first: {errors[0]}")


fault_app = typer.Typer(help="Drill faults on the running local stack: NiFi's answers, or AWS's.", no_args_is_help=True)
app.add_typer(fault_app, name="fault")

NIFI_MODES = ("ok", "unavailable", "timeout", "reset", "reject-hash", "error", "ack-lost")


def _admin(state_dir: Path) -> Any:
    from courier.adapters.receiver import HTTPSReceiverAdmin

    stack = Context.load(state_dir, fallback_to_aws=False).stack
    if stack is None:
        raise fail(f"no local stack runs with state dir {state_dir}: start one with `courier local up`")
    try:
        return HTTPSReceiverAdmin.of(stack)
    except CourierError as exc:
        raise fail(str(exc)) from None


@fault_app.command("nifi")
def fault_nifi(
    mode: Annotated[str, typer.Option(help=f"How the NiFi receiver answers: {', '.join(NIFI_MODES)}.")],
    state_dir: StateDir = Path(".courier"),
) -> None:
    """Make the local NiFi receiver answer like a NiFi in trouble (`ok` clears it); refused with `up --nifi real`."""
    if mode not in NIFI_MODES:
        raise fail(f"--mode must be one of {', '.join(NIFI_MODES)}, got {mode!r}")
    try:
        answer = _admin(state_dir).set_fault(mode)
    except CourierError as exc:
        raise fail(str(exc)) from None
    console.print(f"NiFi receiver mode: {answer['mode']}", highlight=False)


@fault_app.command("aws")
def fault_aws(
    service: Annotated[str, typer.Option(help="s3, dynamodb, sqs or secretsmanager.")],
    error: Annotated[str, typer.Option(help="AWS error code, e.g. ThrottlingException, SlowDown, InternalError.")] = "",
    rate: Annotated[float, typer.Option(help="Fraction of the function's requests that fail (0 clears the service).")] = 1.0,
    operation: Annotated[str | None, typer.Option(help="Only this operation, e.g. PutItem.")] = None,
    state_dir: StateDir = Path(".courier"),
) -> None:
    """Fail the aggregator's and the controller's calls to one AWS service, as AWS would answer them."""
    try:
        answer = _admin(state_dir).set_aws_fault(service, error, rate, operation)
    except CourierError as exc:
        raise fail(str(exc)) from None
    active = (
        ", ".join(
            f"{f['service']}: {f['error']} at {f['rate']:g}" + (f" ({f['operation']})" if f["operation"] else "")
            for f in answer["faults"]
        )
        or "none"
    )
    console.print(f"AWS faults active: {active}", highlight=False)


receiver_app = typer.Typer(
    help="Rotate what the local NiFi receiver accepts, as a NiFi admin changes the flow's parameters.", no_args_is_help=True
)
app.add_typer(receiver_app, name="receiver")


@receiver_app.command("accept-pending")
def receiver_accept_pending(state_dir: StateDir = Path(".courier")) -> None:
    """Accept the secret's AWSPENDING credentials beside the current ones (the rotation window); not with `up --nifi real`."""
    from courier.adapters.secrets import PENDING, SecretRotation

    context = Context.load(state_dir, fallback_to_aws=False)
    try:
        pending = SecretRotation(context.clients("secretsmanager"), context.setting("nifi_secret_id")).read(PENDING)
        pending.pop("client_key_pem", None)  # the receiver reads the certificate's subject; the key stays in the secret
        _print_accepted(_admin(state_dir).rotate_credentials({"pending": pending}))
    except CourierError as exc:
        raise fail(str(exc)) from None


@receiver_app.command("promote")
def receiver_promote(state_dir: StateDir = Path(".courier")) -> None:
    """Accept only the pending credentials from now on: the old password or certificate is refused (not with `up --nifi real`)."""
    try:
        _print_accepted(_admin(state_dir).rotate_credentials({"promote": True}))
    except CourierError as exc:
        raise fail(str(exc)) from None


@receiver_app.command("show")
def receiver_show(state_dir: StateDir = Path(".courier")) -> None:
    """What the receiver accepts now, and during a rotation what it accepts besides."""
    try:
        _print_accepted(_admin(state_dir).credentials())
    except CourierError as exc:
        raise fail(str(exc)) from None


@receiver_app.command("issue-cert")
def receiver_issue_cert(
    out: Annotated[Path, typer.Option(file_okay=False, help="Directory for client.pem and client.key (created, 0700).")],
    common_name: Annotated[str, typer.Option(help="The certificate's CN.")] = "courier",
    state_dir: StateDir = Path(".courier"),
) -> None:
    """Issue a client certificate from the local stack's CA (your site's PKI does this for a real NiFi)."""
    try:
        issued = _admin(state_dir).issue_client_cert(common_name)
    except CourierError as exc:
        raise fail(str(exc)) from None
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Written afresh with these modes: a client.key left 0644 (or a symlink) by someone else is replaced, not reused.
    write_private(out / "client.pem", issued["cert_pem"], 0o644)
    write_private(out / "client.key", issued["key_pem"], 0o600)
    console.print(f"issued {issued['subject']}: {out / 'client.pem'}, {out / 'client.key'}", highlight=False)


def _print_accepted(answer: dict[str, Any]) -> None:
    for generation in ("current", "pending"):
        accepted = answer.get(generation)
        if accepted is None:
            console.print(f"{generation}: none", highlight=False)
            continue
        subject = accepted["client_subject"]
        certificate = f"client certificate {subject}" if subject else "no client certificate"
        header = "header credential" if accepted["header_credential"] else "no header credential"
        console.print(f"{generation}: {certificate}; {header}", highlight=False)
