"""``courier trace``: a landing file's story, and whether it was delivered."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from courier.adapters.landing import S3LandingLister
from courier.adapters.s3 import S3ArchiveReader
from courier.cli import _render
from courier.cli._context import Context, Function, Profile, Region, StateDir
from courier.cli._exit import ExitCode
from courier.cli._render import fail
from courier.errors import CourierError
from courier.operator.trace import SEARCH_HOURS, Verdict, trace

_EXIT = {
    Verdict.DELIVERED: ExitCode.OK,
    Verdict.PENDING: ExitCode.NOTHING,
    Verdict.FAILED: ExitCode.FAILED,
    Verdict.NEVER_LANDED: ExitCode.NEVER_LANDED,
}


def trace_command(
    url: Annotated[str, typer.Argument(help="The landing object, s3://bucket/key.")],
    version: Annotated[str | None, typer.Option(help="The revision (version id) to judge; default: the newest.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the story as one JSON document.")] = False,
    hours: Annotated[
        int,
        typer.Option(
            help="Hours of the archive index to search after each revision landed, for one the ledger no longer knows "
            "(default: as long as a message can live, 14 days of SQS retention and one 11 h park).",
            min=1,
        ),
    ] = SEARCH_HOURS,
    state_dir: StateDir = Path(".courier"),
    function: Function = None,
    profile: Profile = None,
    region: Region = None,
) -> None:
    """Tell a landing file's story: its revisions, ledger records, bundle(s), NiFi's acknowledgement, the DLQ.

    The DLQ is only peeked at (visibility timeout 0: nothing is hidden from a redrive).
    Exit codes: 0 delivered; 1 error; 2 not delivered yet (it landed, or courier cannot rule that out: held back
    by an outage, in flight); 3 in the DLQ (failed); 6 never landed (no revision in the bucket, no ledger record,
    no bundle, no DLQ message: ask the uploader; or it was delivered over COURIER_LEDGER_TTL_DAYS (15) days ago,
    its data swept a week after it landed, or last uploaded over 36 days ago and the landing lifecycle has deleted
    it: `courier replay --file` searches the archive index for it).
    """
    if not url.startswith("s3://") or "/" not in url[5:]:
        raise fail(f"give the object as s3://bucket/key, got {url!r}")
    bucket, key = url[5:].split("/", 1)
    context = Context.for_operator(state_dir, function, profile, region)
    settings = context.settings()
    from courier.compose import make_ledger_reader  # Powertools: loaded when a command runs, not for --help

    s3 = context.clients("s3")
    try:
        ledger = make_ledger_reader(settings.idempotency_table, context.clients("dynamodb"))
        reader = S3ArchiveReader(s3, settings.archive_bucket)
        _, dlq = context.queues()
        story = trace(bucket, key, version, S3LandingLister(s3, bucket), ledger, reader, settings.archive_prefix, dlq, hours)
    except CourierError as exc:
        raise fail(f"could not trace {url}: {exc}") from None
    _render.story(story, as_json)
    raise typer.Exit(_EXIT[story.verdict])
