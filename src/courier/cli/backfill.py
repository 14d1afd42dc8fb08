"""``courier backfill``: announce objects already in the landing bucket on the main queue."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from courier.backfill import CHECKPOINT_FILE, Checkpoint, RateLimit, Tally, backfill
from courier.cli import _render
from courier.cli._context import Context, StateDir, parse_range
from courier.cli._render import err, fail
from courier.errors import ConfigError, CourierError
from courier.resources import LANDING_BUCKET


def backfill_command(
    prefix: Annotated[str, typer.Option(help="Only keys that start with this.")] = "",
    since: Annotated[str | None, typer.Option("--since", help="Only revisions landed at or after this (ISO, UTC).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="... and at or before this time (default: now).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List and count; send nothing, keep no checkpoint.")] = False,
    rate: Annotated[float, typer.Option(help="Messages a second at most, so live traffic is not starved.", min=0.1)] = 50.0,
    inventory: Annotated[
        str | None, typer.Option(help="Read an S3 Inventory report (s3://bucket/…/manifest.json, CSV only) instead of listing.")
    ] = None,
    checkpoint_file: Annotated[
        Path | None, typer.Option("--checkpoint", help="Checkpoint file (default: in --state-dir).")
    ] = None,
    restart: Annotated[bool, typer.Option("--restart", help="Ignore the checkpoint and start from the first key.")] = False,
    state_dir: StateDir = Path(".courier"),
) -> None:
    """Deliver objects already in the landing bucket: enqueue the S3 notification of each revision on the main queue.

    The ledger keeps revisions already delivered out; a rerun continues after the checkpoint.
    Exit codes: 0 done, 1 error.
    """
    context = Context.load(state_dir)
    window = parse_range(since, until, 36500, ("--since", "--until")) if (since or until) else (None, None)
    try:  # only the two settings it uses: backfill must not need NiFi's or the archive's
        bucket, table = (
            context.setting("landing_bucket") or context.aws_name(LANDING_BUCKET),
            context.setting("idempotency_table"),
        )
    except ConfigError as exc:
        raise fail(str(exc)) from None
    checkpoint = Checkpoint(checkpoint_file or state_dir / CHECKPOINT_FILE)
    if restart:
        checkpoint.clear()
    try:
        tally = _run(context, table, bucket, prefix, inventory, window, checkpoint, rate, dry_run)
    except CourierError as exc:
        raise fail(f"backfill stopped: {exc} (rerun to continue after the checkpoint)") from None
    _render.backfill_summary(bucket, tally, dry_run, checkpoint.path)


def _run(  # noqa: PLR0913 - the command's options, passed on as they are
    context: Context,
    table: str,
    bucket: str,
    prefix: str,
    inventory: str | None,
    window: tuple[datetime | None, datetime | None],
    checkpoint: Checkpoint,
    rate: float,
    dry_run: bool,
) -> Tally:
    """Announce the revisions, showing progress on stderr (the summary table goes to stdout)."""
    from courier.adapters.landing import S3LandingLister, read_inventory
    from courier.backfill import after
    from courier.compose import make_ledger_reader

    s3 = context.clients("s3")
    listing = read_inventory(s3, inventory, prefix) if inventory else S3LandingLister(s3, bucket).revisions(prefix)
    mark = checkpoint.load()
    if mark is not None:
        err.print(f"continuing after the checkpoint {mark['key']} ({mark['version_id']}); --restart starts over", highlight=False)
    queue, _ = context.queues()
    ledger = make_ledger_reader(table, context.clients("dynamodb"))
    region = context.clients.session.region_name or "us-east-1"
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("listing")

        def progress(tally: Tally) -> None:
            line = f"listed {tally.listed}  enqueued {tally.enqueued}  already delivered {tally.delivered}"
            bar.update(task, description=line)

        return backfill(
            after(listing, mark),
            bucket,
            queue.send_batch,
            *window,
            checkpoint,
            RateLimit(rate),
            ledger,
            dry_run,
            region,
            progress,
        )
