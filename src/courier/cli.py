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
archive_app = typer.Typer(help="Audit the archive of bundles.", no_args_is_help=True)
app.add_typer(archive_app, name="archive")

# Exit codes of `courier replay` and `courier archive verify` (documented in docs/runbooks/).
EXIT_OK, EXIT_ERROR, EXIT_NOTHING, EXIT_INTEGRITY, EXIT_NIFI, EXIT_INCOMPLETE = 0, 1, 2, 3, 4, 5

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

    from courier.stackfile import REGION, aws_environment

    if stack_info and not os.environ.get("AWS_ENDPOINT_URL"):
        os.environ.update(aws_environment(stack_info["aws_endpoint"]))
    return boto3.session.Session(region_name=os.environ.get("AWS_DEFAULT_REGION", REGION))


def _stack_info(state_dir: Path) -> dict[str, Any] | None:
    from dataclasses import asdict

    from courier.stackfile import read_stack_file

    info = read_stack_file(state_dir)
    return asdict(info) if info else None


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
    except ImportError as exc:
        stack.stop()
        raise fail(f"the local stack needs the package {exc.name!r}: pip install 'courier[local]' (make run does)") from None
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    console.print("[bold]courier local stack is up[/bold] (Ctrl-C to stop). To talk to it from another shell:")
    for name, value in aws_environment(stack.emulator.endpoint).items():  # type: ignore[union-attr]
        console.print(f"  export {name}={value}", highlight=False)
    console.print(f"  aws --endpoint-url {stack.emulator.endpoint} s3 cp FILE s3://courier-landing/incoming/FILE", highlight=False, soft_wrap=True)  # type: ignore[union-attr]
    console.print(f"  NiFi receiver: {stack.fake_nifi.url()}  (CA: {stack.state_dir / 'ca.pem'})", highlight=False)  # type: ignore[union-attr]
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
    from courier.resources import DLQ, QUEUE

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


def _local_defaults(stack_info: dict[str, Any] | None) -> None:
    """With a local stack running, commands need no COURIER_* settings of their own."""
    if stack_info:
        os.environ.setdefault("COURIER_ARCHIVE_BUCKET", stack_info["resources"]["archive_bucket"])
        os.environ.setdefault("COURIER_NIFI_URL", stack_info["nifi_url"])
        os.environ.setdefault("COURIER_NIFI_CA_BUNDLE", stack_info["ca_bundle"])


def _settings_and_session(state_dir: Path) -> tuple[Settings, Any]:
    stack_info = _stack_info(state_dir)
    _local_defaults(stack_info)
    try:
        settings = Settings.from_env()
    except CourierError as exc:
        raise fail(str(exc)) from None
    return settings, _session(stack_info)


def _time_range(start: str | None, end: str | None, default_days: int) -> tuple[Any, Any]:
    from datetime import UTC, datetime, timedelta

    from courier.replay import parse_when

    try:
        until = parse_when(end) if end else datetime.now(UTC)
        since = parse_when(start) if start else until - timedelta(days=default_days)
    except (ValueError, TypeError):
        raise fail(f"--from/--to must be ISO dates or times (e.g. 2026-11-25T10:00Z), got {start!r}/{end!r}") from None
    return since, until


@app.command()
def replay(
    bundle: Annotated[list[str] | None, typer.Option("--bundle", help="Archive key of a bundle (repeatable).")] = None,
    start: Annotated[str | None, typer.Option("--from", help="Replay bundles archived from this time (UTC, ISO).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="... up to this time (default: now).")] = None,
    source_file: Annotated[str | None, typer.Option("--file", help="Replay the bundle that delivered this landing key.")] = None,
    source_bucket: Annotated[str, typer.Option("--source-bucket", help="Landing bucket of --file.")] = "courier-landing",
    tier: Annotated[str, typer.Option(help="Restore tier for archived bundles: Standard or Bulk.")] = "Standard",
    days: Annotated[int, typer.Option(help="Days a restored copy stays readable.")] = 7,
    wait: Annotated[bool, typer.Option(help="Wait for restores to finish, then send.")] = False,
    poll_interval: Annotated[float, typer.Option(help="Seconds between restore checks with --wait (1-900).")] = 300.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be restored and sent; send nothing.")] = False,
    include_undelivered: Annotated[
        bool, typer.Option(help="With --from/--to, also send bundles NiFi never acknowledged (their files went out in later bundles).")
    ] = False,
    state_dir: StateDir = Path(".courier"),
) -> None:
    """Send archived bundles to NiFi again (restoring them from Glacier first if needed).

    Exit codes: 0 done (or restores started / in progress), 1 error, 2 nothing
    matched, 3 a bundle failed its SHA-256 check, 4 NiFi unavailable (stopped),
    5 some bundles missing or rejected.
    """
    import time as _time

    from botocore.exceptions import BotoCoreError, ClientError

    from courier.compose import make_breaker, make_nifi_client
    from courier.errors import ReplayHaltedError
    from courier.ledger.dynamodb import DynamoDBLedger
    from courier.replay import Outcome, Replayer, bundles_between, bundles_of_file, only_delivered

    if tier not in ("Standard", "Bulk"):
        raise fail(f"--tier must be Standard or Bulk, got {tier!r}")
    if not 1 <= poll_interval <= 900:
        raise fail("--poll-interval must be between 1 and 900 seconds")
    if not (bundle or start or end or source_file):
        raise fail("say what to replay: --bundle KEY, --from/--to, or --file SOURCE_KEY")
    settings, session = _settings_and_session(state_dir)
    s3 = session.client("s3")
    try:
        keys = list(bundle or [])
        if start or end:
            since, until = _time_range(start, end, default_days=1)
            in_range = bundles_between(s3, settings.archive_bucket, settings.archive_prefix, since, until)
            if not include_undelivered:
                in_range, attempts = only_delivered(s3, settings.archive_bucket, in_range)
                if attempts:
                    console.print(f"skipping {len(attempts)} archived attempt(s) NiFi never acknowledged (--include-undelivered sends them)")
            keys += in_range
        if source_file:
            since, until = _time_range(start, end, default_days=30)
            ledger = DynamoDBLedger(session.client("dynamodb"), settings.idempotency_table, ttl_seconds=0, lease_seconds=0)
            found, where = bundles_of_file(s3, settings.archive_bucket, ledger, source_bucket, source_file, since, until)
            console.print(f"{source_file}: {len(found)} bundle(s) found through the {where}", highlight=False, soft_wrap=True)
            keys += found
    except (BotoCoreError, ClientError, CourierError) as exc:
        raise fail(f"could not select bundles: {exc}") from None
    keys = sorted(dict.fromkeys(keys))
    if not keys:
        raise fail("no bundle matched the selection", EXIT_NOTHING)

    nifi = make_nifi_client(settings, session.client("secretsmanager"))
    breaker = make_breaker(settings, session.client("dynamodb"))
    replayer = Replayer(s3, settings.archive_bucket, breaker.guard(nifi.post), breaker.admits, tier, days, dry_run)
    results = []
    code = EXIT_OK
    try:
        for key in keys:
            result = replayer.replay(key)
            if wait and result.outcome in (Outcome.RESTORE_STARTED, Outcome.RESTORE_IN_PROGRESS):
                with console.status(f"waiting for the restore of {key} ({result.detail})"):
                    while not replayer.is_restored(key):
                        _time.sleep(poll_interval)
                result = replayer.replay(key)
            results.append(result)
            console.print(f"{result.outcome.value:>20}  {key}  {result.detail}", highlight=False, soft_wrap=True)
    except ReplayHaltedError as exc:
        err.print(f"[red]stopped:[/red] {exc}", highlight=False, soft_wrap=True)
        code = EXIT_NIFI
    except (BotoCoreError, ClientError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        code = EXIT_ERROR
    finally:
        nifi.close()
    sent = [r for r in results if r.outcome is Outcome.SENT]
    table = Table("bundles", "files", "bytes", "sent", "skipped", "failed", title="replay summary" + (" (dry run)" if dry_run else ""))
    pending = [r for r in results if r.outcome in (Outcome.RESTORE_STARTED, Outcome.RESTORE_IN_PROGRESS, Outcome.WOULD_SEND)]
    failed = [r for r in results if r.outcome in (Outcome.HASH_MISMATCH, Outcome.MISSING, Outcome.FAILED)]
    table.add_row(str(len(keys)), str(sum(r.files for r in sent)), str(sum(r.bytes for r in sent)), str(len(sent)), str(len(pending)), str(len(failed)))
    console.print(table)
    if code == EXIT_OK and any(r.outcome is Outcome.HASH_MISMATCH for r in results):
        code = EXIT_INTEGRITY
    elif code == EXIT_OK and failed:
        code = EXIT_INCOMPLETE
    raise typer.Exit(code)


@archive_app.command("verify")
def archive_verify(
    start: Annotated[str | None, typer.Option("--from", help="First hour to audit (UTC, ISO; default: 24 h ago).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last hour to audit (default: now).")] = None,
    deep: Annotated[bool, typer.Option(help="Download, rehash and check every manifest entry (restored or hot bundles).")] = False,
    state_dir: StateDir = Path(".courier"),
) -> None:
    """Audit archived bundles: metadata SHA-256 against S3's checksum; --deep also the bytes and manifests.

    Exit codes: 0 all good, 1 error, 2 no bundle in the range, 3 problems found.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from courier.replay import bundles_between, verify_archive

    settings, session = _settings_and_session(state_dir)
    since, until = _time_range(start, end, default_days=1)
    s3 = session.client("s3")
    try:
        keys = bundles_between(s3, settings.archive_bucket, settings.archive_prefix, since, until)
        if not keys:
            raise fail(f"no bundle archived between {since:%Y-%m-%d %H:00} and {until:%Y-%m-%d %H:00}", EXIT_NOTHING)
        checked, findings = verify_archive(s3, settings.archive_bucket, keys, deep)
    except (BotoCoreError, ClientError) as exc:
        raise fail(f"could not audit the archive: {exc}") from None
    for finding in findings:
        console.print(f"[red]PROBLEM[/red] {finding.key}: {finding.problem}", highlight=False, soft_wrap=True)
    console.print(f"checked {checked} bundles{' (deep)' if deep else ''}: {len(findings)} problems")
    raise typer.Exit(EXIT_INTEGRITY if findings else EXIT_OK)


@app.command("slo-report")
def slo_report(
    since: Annotated[str | None, typer.Option(help="Only files acknowledged from this time (UTC, ISO).")] = None,
    out: Annotated[Path, typer.Option(help="Directory for latency.png and latency.json.")] = Path("slo-report"),
    state_dir: StateDir = Path(".courier"),
    aws: Annotated[bool, typer.Option("--aws", help="Read the DeliveryLatency metric from CloudWatch instead of a local state dir.")] = False,
) -> None:
    """End-to-end latency (S3 event to NiFi acknowledgement) against the 2- and 3-minute SLOs.

    Locally: every file of a local-stack run (its state dir), as a PNG histogram with
    the SLO lines and p50/p95/p99/p99.9 marked, and a JSON summary. With --aws: the
    percentiles of the DeliveryLatency metric (JSON only).
    """
    from datetime import UTC, datetime, timedelta

    from courier import slo

    since_at = _time_range(since, None, default_days=1)[0] if since else None
    out.mkdir(parents=True, exist_ok=True)
    if aws:
        until = datetime.now(UTC)
        summary = slo.cloudwatch_summary(_session(None).client("cloudwatch"), since_at or until - timedelta(days=1), until)
    else:
        if not (state_dir / "received.jsonl").exists():
            raise fail(f"no local run in {state_dir} (expected {state_dir / 'received.jsonl'}); use --state-dir or --aws")
        latencies = slo.local_latencies(state_dir, since_at)
        summary = slo.summarise(latencies)
        if latencies:
            try:
                slo.plot(latencies, summary, out / "latency.png", "courier end-to-end latency")
            except ImportError:
                raise fail("the histogram needs matplotlib: pip install 'courier[report]'") from None
    (out / "latency.json").write_text(json.dumps(summary, indent=2))
    if not summary.get("files"):
        raise fail("no delivered files in that range", EXIT_NOTHING)
    seconds = summary["seconds"]
    console.print(
        f"{summary['files']} files: p50 {seconds['p50']:.1f} s, p95 {seconds['p95']:.1f} s, p99 {seconds['p99']:.1f} s, "
        f"p99.9 {seconds['p99.9']:.1f} s; SLO {'met' if summary['slo_met'] else 'MISSED'}; report in {out}/",
        highlight=False,
        soft_wrap=True,
    )


def main() -> None:  # pragma: no cover - console script entry
    app()
