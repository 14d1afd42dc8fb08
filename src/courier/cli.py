"""The ``courier`` command line (typer + rich).

Expected conditions (a port in use, a missing setting, no running stack) end
with one clear line and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from courier import __version__
from courier.config import Settings
from courier.errors import CourierError

app = typer.Typer(help="courier: S3 landing files, bundled, hashed, archived and delivered to NiFi.", no_args_is_help=True)
local_app = typer.Typer(help="The whole pipeline on this machine (AWS emulator, Lambda runtime, NiFi receiver).", no_args_is_help=True)
app.add_typer(local_app, name="local")
dlq_app = typer.Typer(help="What is in the dead-letter queue, and moving it back.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")

console = Console()
err = Console(stderr=True)

StateDir = Annotated[
    Path, typer.Option("--state-dir", envvar="COURIER_STATE_DIR", help="Where the local stack keeps its state.")
]


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@app.command()
def version() -> None:
    """Print courier's version."""
    console.print(__version__)


@app.command()
def config(check: Annotated[bool, typer.Option(help="Validate the COURIER_* variables of this environment.")] = False) -> None:
    """List every COURIER_* setting with its default; --check validates the current environment."""
    if check:
        try:
            settings = Settings.from_env()
        except CourierError as exc:
            raise fail(str(exc)) from None
        console.print("[green]configuration is valid[/green]")
        for name, value in vars(settings).items():
            console.print(f"  COURIER_{name.upper()}={value}", highlight=False)
        return
    table = Table("variable", "default", "meaning")
    for row in Settings.reference():
        table.add_row(*row)
    console.print(table)


def _session(stack_info: dict[str, Any] | None) -> Any:
    import boto3

    from courier.local.stack import REGION, aws_environment

    if stack_info and not os.environ.get("AWS_ENDPOINT_URL"):
        os.environ.update(aws_environment(stack_info["aws_endpoint"]))
    return boto3.session.Session(region_name=os.environ.get("AWS_DEFAULT_REGION", REGION))


def _stack_info(state_dir: Path) -> dict[str, Any] | None:
    from courier.local.stack import read_stack_file

    return read_stack_file(state_dir)


@app.command()
def status(
    state_dir: StateDir = Path(".courier"),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead of a table.")] = False,
) -> None:
    """Queue and DLQ depth, mapping and breaker state, bundles, deliveries and latency.

    Talks to the running local stack of --state-dir when there is one, else to
    the AWS account of the environment (AWS_ENDPOINT_URL for an emulator).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from courier.status import gather

    stack_info = _stack_info(state_dir)
    try:
        snapshot = gather(_session(stack_info), stack_info)
    except (BotoCoreError, ClientError, OSError) as exc:
        raise fail(f"could not read the pipeline's state: {exc}") from None
    if as_json:
        print(json.dumps(snapshot, default=str))
        return
    table = Table("metric", "value", show_header=False)
    for key, value in snapshot.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    console.print(table)


@local_app.command("up")
def local_up(
    state_dir: StateDir = Path(".courier"),
    aws_port: Annotated[int, typer.Option(help="Port of the AWS emulator (moto server).")] = 4566,
    nifi_port: Annotated[int, typer.Option(help="HTTPS port of the NiFi-contract receiver.")] = 8443,
    demo: Annotated[bool, typer.Option(help="Upload demo files like an external party would.")] = False,
    rate: Annotated[float, typer.Option(help="Demo upload rate, files per second.")] = 10.0,
    batch_size: Annotated[int, typer.Option(help="Event source mapping BatchSize.")] = 100,
    batching_window: Annotated[int, typer.Option(help="MaximumBatchingWindowInSeconds.")] = 2,
    concurrency: Annotated[int, typer.Option(help="Concurrent invocations (MaximumConcurrency).")] = 2,
    visibility_timeout: Annotated[int, typer.Option(help="Queue visibility timeout, seconds.")] = 10,
    breaker_recovery: Annotated[int, typer.Option(help="Breaker recovery timeout, seconds (AWS default 60).")] = 10,
    controller_period: Annotated[float, typer.Option(help="Breaker controller period, seconds (AWS: 60).")] = 2.0,
    drain_timeout: Annotated[float, typer.Option(help="Seconds to wait for in-flight files at Ctrl-C.")] = 30.0,
    duration: Annotated[float | None, typer.Option(help="Stop by itself after this many seconds.")] = None,
) -> None:
    """Start the local stack in the foreground; Ctrl-C stops traffic, drains and prints a summary."""
    from courier.local.stack import LocalConfig, LocalStack, aws_environment
    from courier.local.view import LiveView

    cfg = LocalConfig(
        state_dir=state_dir,
        aws_port=aws_port,
        nifi_port=nifi_port,
        batch_size=batch_size,
        batching_window_seconds=batching_window,
        concurrency=concurrency,
        visibility_timeout_seconds=visibility_timeout,
        breaker_recovery_seconds=breaker_recovery,
        controller_period_seconds=controller_period,
    )
    console = Console(file=sys.stdout)  # bound now: the stack sends the handler's stdout to lambda.log
    stack = LocalStack(cfg)
    try:
        stack.start()
    except CourierError as exc:
        stack.stop()
        raise fail(str(exc)) from None
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    console.print("[bold]courier local stack is up[/bold] (Ctrl-C to stop). To talk to it from another shell:")
    for name, value in aws_environment(stack.emulator.endpoint).items():  # type: ignore[union-attr]
        console.print(f"  export {name}={value}", highlight=False)
    console.print(f"  aws --endpoint-url {stack.emulator.endpoint} s3 cp FILE s3://courier-landing/incoming/FILE", highlight=False, soft_wrap=True)  # type: ignore[union-attr]
    console.print(f"  NiFi receiver: {stack.receiver.url()}  (CA: {stack.state_dir / 'ca.pem'})", highlight=False)  # type: ignore[union-attr]
    if demo:
        stack.start_demo(rate)
    started = time.monotonic()
    with LiveView(stack, console) as view:
        while not stop.wait(1.0):
            view.refresh()
            if duration is not None and time.monotonic() - started >= duration:
                break
    console.print("stopping: traffic off, draining in-flight files ...")
    if stack.uploader:
        stack.uploader.stop()
    drained = stack.drain(drain_timeout)
    summary = stack.summary()
    stack.stop()
    table = Table("uploaded", "delivered", "lost", "duplicated", "dlq", title="summary")
    table.add_row(*(str(summary[k]) for k in ("uploaded", "delivered", "lost", "duplicated", "dlq")))
    console.print(table)
    if not drained:
        console.print(f"[yellow]queue not empty after {drain_timeout:.0f}s; undelivered files stay in the emulator, which is gone now[/yellow]")


@local_app.command("upload")
def local_upload(
    rate: Annotated[float, typer.Option(help="Files per second.")] = 10.0,
    duration: Annotated[float, typer.Option(help="Seconds to upload for.")] = 60.0,
    size: Annotated[int, typer.Option(help="Approximate bytes per file.")] = 27_000,
    prefix: Annotated[str, typer.Option(help="Key prefix in the landing bucket.")] = "incoming",
    bucket: Annotated[str, typer.Option(help="Landing bucket.")] = "courier-landing",
    state_dir: StateDir = Path(".courier"),
) -> None:
    """Upload realistic files to the landing bucket (the local stack, or AWS when no stack runs)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from courier.local.traffic import Uploader

    errors: list[str] = []
    session = _session(_stack_info(state_dir))
    uploader = Uploader(session.client("s3"), bucket, rate=rate, size=size, prefix=prefix, on_error=lambda e: errors.append(str(e)))
    signal.signal(signal.SIGINT, lambda *_: uploader.stopping.set())
    try:
        stats = uploader.run(duration=duration)
    except (BotoCoreError, ClientError) as exc:
        raise fail(f"upload failed: {exc}") from None
    console.print(f"uploaded {stats.uploaded} files ({stats.bytes / 1e6:.1f} MB), {stats.failed} failed")
    if errors:
        raise fail(f"{len(errors)} uploads failed; first: {errors[0]}")


def _queues(session: Any, stack_info: dict[str, Any] | None) -> dict[str, str]:
    from courier.local.provision import DLQ, QUEUE

    sqs = session.client("sqs")
    urls = {}
    for role, name in (("queue", QUEUE), ("dlq", DLQ)):
        url = (stack_info or {}).get("resources", {}).get(f"{role}_url") or sqs.get_queue_url(QueueName=name)["QueueUrl"]
        urls[role + "_url"] = url
        urls[role + "_arn"] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return urls


@dlq_app.command("list")
def dlq_list(
    state_dir: StateDir = Path(".courier"),
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    limit: Annotated[int, typer.Option(help="List at most this many messages.")] = 1000,
) -> None:
    """Messages in the DLQ: id, receive count, the S3 objects they name, the last error recorded."""
    from botocore.exceptions import BotoCoreError, ClientError

    from courier.dlq import list_dead_letters
    from courier.ledger.dynamodb import DynamoDBLedger

    stack_info = _stack_info(state_dir)
    session = _session(stack_info)
    try:
        queues = _queues(session, stack_info)
        table = os.environ.get("COURIER_IDEMPOTENCY_TABLE", "courier-idempotency")
        ledger = DynamoDBLedger(session.client("dynamodb"), table, ttl_seconds=0, lease_seconds=0)
        letters = list_dead_letters(session.client("sqs"), queues["dlq_url"], ledger, limit)
    except (BotoCoreError, ClientError, CourierError) as exc:
        raise fail(f"could not read the DLQ: {exc}") from None
    if as_json:
        for letter in letters:
            print(json.dumps(letter.as_dict()))
        return
    table_view = Table("message id", "receives", "objects", "reason", "last error", title=f"DLQ: {len(letters)} messages")
    for letter in letters:
        table_view.add_row(letter.message_id, str(letter.receive_count), "\n".join(letter.objects) or "-", letter.reason or "-", letter.detail or "-")
    console.print(table_view)


@dlq_app.command("redrive")
def dlq_redrive(
    state_dir: StateDir = Path(".courier"),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would move; move nothing.")] = False,
    max_messages: Annotated[int | None, typer.Option("--max", help="Move at most this many messages.")] = None,
) -> None:
    """Move DLQ messages back to the main queue (after the cause is fixed)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from courier.dlq import redrive

    stack_info = _stack_info(state_dir)
    session = _session(stack_info)
    try:
        queues = _queues(session, stack_info)
        result = redrive(session.client("sqs"), queues["dlq_url"], queues["dlq_arn"], queues["queue_url"], queues["queue_arn"], max_messages, dry_run)
    except (BotoCoreError, ClientError) as exc:
        raise fail(f"redrive failed: {exc}") from None
    if dry_run:
        console.print(f"would move {len(result.would_move)} messages: " + " ".join(result.would_move), highlight=False)
    elif result.task_handle:
        console.print(f"SQS message move task started ({result.task_handle}); watch `courier status` for the DLQ to empty", highlight=False)
    else:
        console.print(f"moved {result.moved} messages back to the queue")


def main() -> None:  # pragma: no cover - console script entry
    app()
