"""``courier replay``: send archived bundles to NiFi again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from courier.adapters.s3 import S3ArchiveReader
from courier.cli import _render
from courier.cli._context import Context, Function, Profile, Region, StateDir, Yes, parse_range
from courier.cli._exit import ExitCode
from courier.cli._render import console, err, fail
from courier.config import Settings
from courier.errors import CourierError, ReplayHaltedError
from courier.operator.replay import BundleResult, Outcome, Replayer, SourceFile, Tally, select_bundles
from courier.resources import LANDING_BUCKET

if TYPE_CHECKING:
    from courier.adapters.nifi import NiFiClient

_RESTORING = (Outcome.RESTORE_STARTED, Outcome.RESTORE_IN_PROGRESS)


def replay(
    bundle: Annotated[list[str] | None, typer.Option("--bundle", help="Archive key of a bundle (repeatable).")] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Replay bundles whose time (the event time of their newest file, as in the archive key) is at or after this "
            "time (ISO, UTC unless it says otherwise; default: 1 day before --to). With --file: where to search the index.",
        ),
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="... and at or before this time (default: now).")] = None,
    source_file: Annotated[str | None, typer.Option("--file", help="Replay the bundle that delivered this landing key.")] = None,
    source_bucket: Annotated[str, typer.Option("--source-bucket", help="Landing bucket of --file.")] = LANDING_BUCKET,
    tier: Annotated[str, typer.Option(help="Restore tier for archived bundles: Standard or Bulk.")] = "Standard",
    days: Annotated[int, typer.Option(help="Days a restored copy stays readable.")] = 7,
    wait: Annotated[bool, typer.Option(help="Wait for restores to finish, then send.")] = False,
    poll_interval: Annotated[float, typer.Option(help="Seconds between restore checks with --wait (1-900).")] = 300.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be restored and sent; send nothing.")] = False,
    include_undelivered: Annotated[
        bool,
        typer.Option(help="With --from/--to, also send bundles NiFi never acknowledged (their files went out in later bundles)."),
    ] = False,
    state_dir: StateDir = Path(".courier"),
    function: Function = None,
    profile: Profile = None,
    region: Region = None,
    yes: Yes = False,
) -> None:
    """Send archived bundles to NiFi again (restoring them from Glacier first if needed).

    Before sending it prints how many bundles go to which NiFi URL, from where (account/region and
    function, or local stack); a --from/--to replay (which bypasses NiFi's duplicate detection) then
    asks, and --yes goes ahead (required without a terminal). Against AWS a replay needs --function
    (or COURIER_FUNCTION): NiFi's URL and TLS settings are the deployed aggregator's, never this shell's.

    Exit codes: 0 done (or restores started / in progress), 1 error, 2 nothing
    matched, 3 a bundle failed its SHA-256 check, 4 NiFi unavailable (stopped),
    5 some bundles missing or rejected.
    """
    _check_options(tier, poll_interval, bool(bundle or start or end or source_file))
    context = Context.for_operator(state_dir, function, profile, region)
    if not dry_run and context.stack is None and context.deployed is None:
        raise fail(
            "a replay against AWS needs --function (or COURIER_FUNCTION): NiFi's URL and TLS settings are taken from "
            "the deployed aggregator's configuration, not from this shell (--dry-run sends nothing and needs none)"
        )
    settings = context.settings()
    archive_reader = S3ArchiveReader(context.clients("s3"), settings.archive_bucket)
    # With --file, --from/--to only narrow the index search: they must not add every bundle of the range.
    between = parse_range(start, end, default_days=1) if (start or end) and not source_file else None
    source = SourceFile(source_bucket, source_file, *parse_range(start, end, default_days=30)) if source_file else None
    keys = _select(context, settings, archive_reader, bundle or [], between, source, include_undelivered)
    if not dry_run:
        plan = f"about to send {len(keys)} bundle(s) to NiFi {settings.nifi_url} ({context.target()})"
        if between is not None:
            _render.confirm([plan, "a time-range replay sends each bundle again past NiFi's duplicate detection"], yes)
        else:
            _render.say(plan, err)
    replayer, nifi = _replayer(context, settings, archive_reader, tier, days, dry_run)
    try:
        results, code = _replay_all(replayer, keys, wait, poll_interval)
    finally:
        nifi.close()
    tally = Tally.of(keys, results)
    _render.replay_summary(tally, dry_run)
    raise typer.Exit(_exit_code(code, tally))


def _check_options(tier: str, poll_interval: float, selected: bool) -> None:
    if tier not in ("Standard", "Bulk"):
        raise fail(f"--tier must be Standard or Bulk, got {tier!r}")
    if not 1 <= poll_interval <= 900:
        raise fail("--poll-interval must be between 1 and 900 seconds")
    if not selected:
        raise fail("say what to replay: --bundle KEY, --from/--to, or --file SOURCE_KEY")


def _select(
    context: Context,
    settings: Settings,
    archive_reader: S3ArchiveReader,
    bundles: list[str],
    between: tuple[datetime, datetime] | None,
    source: SourceFile | None,
    include_undelivered: bool,
) -> list[str]:
    """The keys to replay, telling the operator what was left out and how a --file was found; none ends the command."""
    from courier.compose import make_ledger_reader

    ledger = make_ledger_reader(settings.idempotency_table, context.clients("dynamodb")) if source else None
    try:
        selection = select_bundles(archive_reader, settings.archive_prefix, bundles, between, include_undelivered, source, ledger)
    except CourierError as exc:
        raise fail(f"could not select bundles: {exc}") from None
    if between is not None:
        console.print(f"bundles from {_utc(between[0])} to {_utc(between[1])}: {len(selection.keys)}", highlight=False)
    if selection.untimed:
        console.print(f"{len(selection.untimed)} bundle(s) of the edge hours have no index lines: kept by their hour")
    if selection.unacknowledged:
        skipped = len(selection.unacknowledged)
        console.print(f"skipping {skipped} archived attempt(s) NiFi never acknowledged (--include-undelivered sends them)")
    if source:
        _render.say(f"{source.key}: {len(selection.of_file)} bundle(s) found through the {selection.found_through}")
    for note in selection.unreadable_index_lines:
        _render.say(f"skipped an unreadable archive index line: {note}", err)
    if not selection.keys:
        raise fail("no bundle matched the selection", ExitCode.NOTHING)
    return selection.keys


def _utc(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def _replayer(
    context: Context, settings: Settings, archive_reader: S3ArchiveReader, tier: str, days: int, dry_run: bool
) -> tuple[Replayer, NiFiClient]:
    """The replayer, and the NiFi client to close after it.

    It posts through the circuit the aggregator shares, so a replay cannot hammer a NiFi that is down.
    """
    from courier.compose import make_breaker, make_nifi_client  # Powertools and httpx: loaded when a command runs, not for --help

    nifi = make_nifi_client(settings, context.clients("secretsmanager"))
    breaker = make_breaker(settings, context.clients("dynamodb"))
    return Replayer(archive_reader, breaker.guard(nifi.post), breaker.admits, tier, days, dry_run), nifi


def _replay_all(replayer: Replayer, keys: list[str], wait: bool, poll_interval: float) -> tuple[list[BundleResult], ExitCode]:
    """Replay each bundle in turn (waiting for its restore with ``wait``); stop at the first error."""
    results: list[BundleResult] = []
    try:
        for key in keys:
            result = replayer.replay(key)
            if wait and result.outcome in _RESTORING:
                with console.status(_render.plain(f"waiting for the restore of {key} ({result.detail})")):
                    replayer.wait_until_restored(key, poll_interval)
                result = replayer.replay(key)
            results.append(result)
            _render.replayed(result)
    except ReplayHaltedError as exc:
        _render.labelled("stopped", exc)
        return results, ExitCode.NIFI
    except CourierError as exc:
        _render.labelled("error", exc)
        return results, ExitCode.ERROR
    return results, ExitCode.OK


def _exit_code(code: ExitCode, tally: Tally) -> ExitCode:
    if code is ExitCode.OK and tally.hash_mismatch:
        return ExitCode.INTEGRITY
    if code is ExitCode.OK and tally.unsent:
        return ExitCode.INCOMPLETE
    return code
