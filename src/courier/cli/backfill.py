"""``courier backfill``: announce objects already in the landing bucket on the main queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from courier.cli import _render
from courier.cli._context import Context, Function, Profile, Region, StateDir, parse_range
from courier.cli._render import err, fail
from courier.errors import ConfigError, CourierError
from courier.operator.backfill import CHECKPOINT_FILE, Checkpoint, RateLimit, Tally, backfill
from courier.resources import LANDING_BUCKET

Inventory = Annotated[
    str | None, typer.Option(help="Read an S3 Inventory report (s3://bucket/…/manifest.json, CSV only) instead of listing.")
]
CheckpointFile = Annotated[Path | None, typer.Option("--checkpoint", help="Checkpoint file (default: in --state-dir).")]
Bucket = Annotated[
    str | None,
    typer.Option(
        "--bucket",
        help="The landing bucket (default: COURIER_LANDING_BUCKET, else the local stack's courier-landing, its prefix "
        "replaced by COURIER_NAME). Needed with --function: the aggregator's configuration does not name it.",
    ),
]
SkipDelivered = Annotated[
    bool,
    typer.Option(
        help="Skip revisions tagged delivered (courier-delivered) in the landing bucket by an earlier release, when the "
        "ledger no longer knows them (after its TTL); today's aggregator writes no such tag. It costs one "
        "GetObjectTagging call per such revision, made in turn with the sends.",
    ),
]


def backfill_command(  # noqa: PLR0913 - the command's options
    prefix: Annotated[str, typer.Option(help="Only keys that start with this.")] = "",
    since: Annotated[str | None, typer.Option("--since", help="Only revisions landed at or after this (ISO, UTC).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="... and at or before this time (default: now).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List and count; send nothing, keep no checkpoint.")] = False,
    rate: Annotated[float, typer.Option(help="Messages a second at most, so live traffic is not starved.", min=0.1)] = 50.0,
    inventory: Inventory = None,
    checkpoint_file: CheckpointFile = None,
    restart: Annotated[bool, typer.Option("--restart", help="Ignore the checkpoint and start from the first key.")] = False,
    skip_delivered: SkipDelivered = True,
    bucket: Bucket = None,
    state_dir: StateDir = Path(".courier"),
    function: Function = None,
    profile: Profile = None,
    region: Region = None,
) -> None:
    """Deliver objects already in the landing bucket: enqueue the S3 notification of each revision on the main queue.

    Revisions already delivered are left out (the ledger, then an earlier release's delivered tag); a rerun
    continues after the checkpoint. With --function, the queue is the one the deployed aggregator polls.
    Exit codes: 0 done, 1 error.
    """
    context = Context.for_operator(state_dir, function, profile, region)
    window = parse_range(since, until, 36500, ("--since", "--until")) if (since or until) else (None, None)
    landing, table = _names(context, bucket)
    checkpoint = Checkpoint(checkpoint_file or state_dir / CHECKPOINT_FILE)
    if restart:
        checkpoint.clear()
    options = Options(landing, prefix, inventory, window, rate, dry_run, skip_delivered)
    tally = _run(context, table, options, checkpoint)
    _render.backfill_summary(landing, tally, dry_run, checkpoint.path)


@dataclass(frozen=True)
class Options:
    """The options ``_run`` passes on, as the command took them."""

    bucket: str
    prefix: str
    inventory: str | None
    window: tuple[datetime | None, datetime | None]
    rate: float
    dry_run: bool
    skip_delivered: bool


def _names(context: Context, bucket: str | None) -> tuple[str, str]:
    """(landing bucket, ledger table): only the settings backfill uses, so it needs neither NiFi's nor the archive's."""
    try:
        landing = bucket or context.setting("landing_bucket")
        if landing is None and context.deployed is not None:
            raise fail(
                f"the configuration of {context.deployed.name} does not name the landing bucket: "
                "give --bucket (or set COURIER_LANDING_BUCKET)"
            )
        return landing or context.aws_name(LANDING_BUCKET), context.setting("idempotency_table")
    except ConfigError as exc:
        raise fail(str(exc)) from None


def _run(context: Context, table: str, options: Options, checkpoint: Checkpoint) -> Tally:
    """Announce the revisions, showing progress on stderr (the summary table goes to stdout).

    A failure before the first send (a queue or table not found, a denied call) says so; only
    one after it says the checkpoint lets a rerun continue.
    """
    from courier.adapters.landing import S3LandingLister, read_inventory
    from courier.compose import make_ledger_reader
    from courier.operator.backfill import after

    try:
        s3 = context.clients("s3")
        lister = S3LandingLister(s3, options.bucket)
        listing = read_inventory(s3, options.inventory, options.prefix) if options.inventory else lister.revisions(options.prefix)
        queue, _ = context.queues()
        ledger = make_ledger_reader(table, context.clients("dynamodb"))
        mark = checkpoint.load()
    except CourierError as exc:
        raise fail(f"could not start the backfill: {exc}") from None
    if mark is not None:
        _render.say(f"continuing after the checkpoint {mark['key']} ({mark['version_id']}); --restart starts over", err)
    region = context.clients.session.region_name or "us-east-1"
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("listing")

        def progress(tally: Tally) -> None:
            line = f"listed {tally.listed}  enqueued {tally.enqueued}  already delivered {tally.delivered + tally.tagged}"
            bar.update(task, description=line)

        try:
            return backfill(
                after(listing, mark),
                options.bucket,
                queue.send_batch,
                *options.window,
                checkpoint,
                RateLimit(options.rate),
                ledger,
                options.dry_run,
                region,
                progress,
                lister.was_delivered if options.skip_delivered else None,
            )
        except CourierError as exc:
            raise fail(f"backfill stopped: {exc} (rerun to continue after the checkpoint)") from None
