"""What the commands print: the consoles, one-line failures and the tables of each command.

Keys, error details, notes and headers come from outside (an uploader picks the
key, S3 or NiFi the error text): they reach the terminal only through
:func:`inert` and as ``rich.text.Text`` (never parsed as markup), so a key
holding ``[/]`` cannot crash a command and one holding ESC sequences (OSC 8
links, title changes, screen clears) or bidi overrides cannot act on the
operator's terminal. Markup stays for this module's own words only.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from courier import resources
from courier.cli._exit import ExitCode
from courier.config import Settings
from courier.operator.backfill import Tally as BackfillTally
from courier.operator.deploy import Outcome, Plan
from courier.operator.dlq import DeadLetter, DeleteResult, RedriveResult
from courier.operator.replay import BundleResult, Finding, Tally
from courier.operator.trace import Story, Verdict
from courier.ports import DeploymentState

console = Console()
err = Console(stderr=True)


# Control (C0, C1, DEL), format (bidi overrides and isolates, zero-width), line and paragraph separators, surrogates.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _escape(ch: str) -> str:
    if unicodedata.category(ch) not in _ESCAPED_CATEGORIES:
        return ch
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def inert(value: object) -> str:
    """``str(value)`` with every control, format and separator character written as a Python-style escape (``\\x1b``)."""
    return "".join(_escape(ch) for ch in str(value))


def plain(value: object, style: str = "") -> Text:
    """A ``Text`` of :func:`inert` ``value``: printed as is, no markup, no highlighting, no emoji codes."""
    return Text(inert(value), style=style)


def say(message: object, to: Console | None = None, style: str = "") -> None:
    """One line of text, some of it from outside, on ``to`` (the console by default)."""
    (to or console).print(plain(message, style), soft_wrap=True)


def labelled(label: str, message: object) -> None:
    """``label: message`` on stderr as one line, the label in red."""
    err.print(Text.assemble((f"{label}:", "red"), " ", inert(message)), soft_wrap=True)


def fail(message: str, code: ExitCode = ExitCode.ERROR) -> typer.Exit:
    """Print ``error: message`` on stderr as one line; raise what it returns to end the command with ``code``."""
    labelled("error", message)
    return typer.Exit(code)


def notice(message: str) -> None:
    """One line on stderr that says what the command is about to do, out of the way of its output (and of --json)."""
    say(message, err, "dim")


def confirm(plan: list[str], yes: bool) -> None:
    """Print what the command is about to do (stderr); go on with ``--yes``, or after a yes typed on a terminal.

    Without a terminal on stdin (a script, a pipe, a runbook runner) and without ``--yes``, nothing is done.
    """
    for line in plan:
        say(line, err)
    if yes:
        return
    if not sys.stdin.isatty():
        raise fail("stdin is not a terminal: give --yes to go ahead (nothing was done)")
    if not typer.confirm("go ahead?", default=False, err=True):
        raise fail("cancelled: nothing was done")


def settings_table(rows: Iterable[tuple[str, str, str]]) -> Table:
    table = Table("variable", "default", "meaning")
    for row in rows:
        table.add_row(*row)
    return table


def status(snapshot: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(snapshot, default=str))
        return
    table = Table("metric", "value", show_header=False)
    aws_only = set(snapshot.get("aws_only", ()))
    for key, value in snapshot.items():
        if key == "aws_only":
            continue
        if key in aws_only and value is None:
            shown = "n/a locally (AWS only: CloudWatch)"
        else:
            shown = json.dumps(value) if isinstance(value, dict) else str(value)
        table.add_row(plain(key), plain(shown))
    console.print(table)


def dead_letters(letters: list[DeadLetter], as_json: bool) -> None:
    """JSON lines with ``--json``; to a pipe or file one tab-separated line per message, nothing cut; else a table."""
    if as_json:
        for letter in letters:
            print(json.dumps(letter.as_dict()))
        return
    if not console.is_terminal:
        for letter in letters:  # inert() writes a tab or newline from outside as an escape: one line, six fields
            objects = ",".join(letter.objects) or "-"
            reason, detail = letter.reason or "-", letter.detail or "-"
            cells = (letter.message_id, letter.receive_count, letter.moved_by, reason, objects, detail)
            console.file.write("\t".join(inert(cell) for cell in cells) + "\n")  # not rich: it would expand the tabs
        return
    table = Table(
        "message id",
        "receives",
        "moved by",
        "objects",
        "reason",
        "last error",
        title=f"DLQ: {plural(len(letters), 'message')}",
        caption="cells may wrap: --json (or a pipe) gives one whole line per message",
    )
    for letter in letters:
        objects = "\n".join(inert(o) for o in letter.objects) or "-"
        table.add_row(
            plain(letter.message_id),
            plain(letter.receive_count),
            plain(letter.moved_by),
            Text(objects),
            plain(letter.reason or "-"),
            plain(letter.detail or "-"),
        )
    # Ids never cut or wrapped: the id is what `dlq delete --message-id` takes; the other columns give way.
    table.columns[0].no_wrap = True
    table.columns[0].min_width = max((len(inert(letter.message_id)) for letter in letters), default=10)
    console.print(table)


def redriven(result: RedriveResult, dry_run: bool) -> None:
    if dry_run:
        listed = f": {' '.join(result.would_move)}" if result.would_move else ""
        say(f"would move {plural(len(result.would_move), 'message')}{listed}")
    elif result.task_handle:
        say(f"SQS message move task started ({result.task_handle}); watch `courier status` for the DLQ to empty")
    else:
        say(f"moved {plural(result.moved, 'message')} back to the queue")


def deleted(result: DeleteResult) -> None:
    verb = "would delete" if result.dry_run else "deleted"
    listed = f": {' '.join(result.deleted)}" if result.deleted else ""
    say(f"{verb} {plural(len(result.deleted), 'message')} from the DLQ{listed}")


def plural(count: int, noun: str) -> str:
    """``1 message``, ``2 messages``, ``0 messages``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def replayed(result: BundleResult) -> None:
    say(f"{result.outcome.value:>20}  {result.key}  {result.detail}")


def replay_summary(tally: Tally, dry_run: bool) -> None:
    if dry_run:  # nothing was read, so no file count; what would go is not "skipped"
        table = Table("bundles", "bytes", "would send", "restoring", "failed", title="replay summary (dry run)")
        row: tuple[int, ...] = (tally.bundles, tally.bytes, tally.would_send, tally.restoring, tally.unsent)
    else:
        table = Table("bundles", "files", "bytes", "sent", "restoring", "failed", title="replay summary")
        row = (tally.bundles, tally.files, tally.bytes, tally.sent, tally.restoring, tally.unsent)
    table.add_row(*(str(n) for n in row))
    console.print(table)


def findings(checked: int, found: list[Finding], deep: bool) -> None:
    for finding in found:
        console.print(Text.assemble(("PROBLEM", "red"), " ", inert(f"{finding.key}: {finding.problem}")), soft_wrap=True)
    console.print(f"checked {plural(checked, 'bundle')}{' (deep)' if deep else ''}: {plural(len(found), 'problem')}")


def slo_summary(summary: dict[str, Any], out: Path) -> None:
    seconds = summary["seconds"]
    console.print(
        f"{summary['files']} files: p50 {seconds['p50']:.1f} s, p95 {seconds['p95']:.1f} s, p99 {seconds['p99']:.1f} s, "
        f"p99.9 {seconds['p99.9']:.1f} s; SLO {'met' if summary['slo_met'] else 'MISSED'}; report in {out}/",
        highlight=False,
        soft_wrap=True,
    )


def backfill_summary(bucket: str, tally: BackfillTally, dry_run: bool, checkpoint: Path) -> None:
    table = Table("revisions", "count", title=f"backfill of s3://{bucket}" + (" (dry run: nothing sent)" if dry_run else ""))
    table.add_row("listed", str(tally.listed))
    table.add_row("would be enqueued" if dry_run else "enqueued", str(tally.enqueued))
    table.add_row("skipped as already delivered (ledger)", str(tally.delivered))
    table.add_row("skipped as already delivered (landing tag)", str(tally.tagged))
    table.add_row("outside --since/--until", str(tally.out_of_range))
    console.print(table)
    if tally.last is not None and not dry_run:
        say(f"checkpoint: {tally.last.key} ({tally.last.version_id}) in {checkpoint}")


def _peeked(told: Story) -> str:
    """How much of the DLQ the peek saw, when not all of it (SQS may answer a peek with the same messages again)."""
    return f" (saw {told.dlq_seen} of its ~{told.dlq_depth} messages)" if told.dlq_seen < told.dlq_depth else ""


# A revision's data is gone this long after it landed at most (the week, then noncurrent days): a delivered file
# traced later has left no revision, its ledger record has expired, and the archive index is searched by revision.
_LANDED_DATA_DAYS = resources.LANDING_EXPIRATION_DAYS + resources.LANDING_NONCURRENT_DAYS
# The ledger's memory by default (COURIER_LEDGER_TTL_DAYS): a delivered file's data is swept a week after it landed.
_LEDGER_DAYS = Settings.ledger_ttl_days


def story(told: Story, as_json: bool) -> None:
    """One fact a line, soft-wrapped: keys, version ids and SHA-256s are copied from here whole, never cut by a table."""
    if as_json:
        print(json.dumps(told.as_dict(), default=str))
        return
    head = Text.assemble(
        inert(f"s3://{told.bucket}/{told.key}: "), (told.verdict.value, "bold"), inert(f" (revision {told.version or '-'})")
    )
    console.print(head, soft_wrap=True)
    lines = []
    if told.verdict is Verdict.NEVER_LANDED:
        lines.append(
            "never landed: no revision in the bucket, no ledger record, no bundle, no DLQ message (ask the uploader;"
            f" or it was delivered over {_LEDGER_DAYS} days ago: the sweep deleted its data a week after it landed and"
            f" the ledger forgot it; or it was last uploaded over {_LANDED_DATA_DAYS} days ago, and the landing bucket's"
            " lifecycle has deleted it: `courier replay --file` searches the archive index)"
        )
    lines.append(f"revisions ({len(told.revisions)}, from the landing bucket):")
    for r in told.revisions:
        current = "  (current)" if r.is_latest else ""
        lines.append(f"  {r.version_id}  {r.size} bytes  eTag {r.etag}  landed {r.last_modified:%Y-%m-%dT%H:%M:%SZ}{current}")
    lines.append(f"ledger ({len(told.ledger)} record(s) while its TTL keeps them):")
    for rec in told.as_dict()["ledger"]:
        held = f"  lease until {rec['lease_until']}" if rec["status"] != "COMPLETE" and rec["lease_until"] else ""
        bundle, completed = rec["bundle_key"] or "-", rec["completed_at"] or "-"
        lines.append(f"  {rec['revision']}  {rec['status']}  bundle {bundle}  completed {completed}{held}")
    found = f"found through the {told.found_through}" if told.bundles else "none found in the ledger or the archive index"
    lines.append(f"bundles ({found}):")
    for b in told.bundles:
        acknowledged = "yes" if b.delivered else "no (archived, not acknowledged)"
        lines.append(f"  {b.key}  sha256 {b.sha256 or '-'}  files {b.file_count or '-'}")
        lines.append(
            f"    NiFi acknowledged: {acknowledged}  delivered at {b.delivered_at or '- (not recorded after the ledger TTL)'}"
        )
    for letter in told.dead_letters:
        reason = letter.reason or "no failure note (the ledger keeps notes 18 days; the message may have been put there by hand)"
        lines.append(
            f"DLQ: message {letter.message_id}, {letter.receive_count} receive(s), reason {reason}: {letter.detail or '-'}"
        )
    if not told.dead_letters:
        named = f"revision {told.version}" if told.asked_version else "this file"
        lines.append(f"DLQ: no message names {named}" + _peeked(told))
    lines.append(f"replays: {told.replays}")
    lines += [f"skipped an unreadable archive index line: {note}" for note in told.unreadable_index_lines]
    for line in lines:
        say(line)


def deploy_plan(planned: Plan, dry_run: bool) -> None:
    """What `courier deploy` will do (or, with --dry-run, would do), one fact a line."""
    target, live, group, package = planned.target, planned.live, planned.group, planned.package
    lines = [
        f"[bold]{'plan (dry run: nothing changed)' if dry_run else 'deploying'}[/bold]",
        f"function   {target.function}: alias {target.alias} on version {live.version} (CodeSha256 {live.code_sha256})",
        f"package    {package.path}: {len(package.content) / 2**20:.1f} MB, CodeSha256 {package.code_sha256}",
    ]
    if planned.already_live:
        lines.append(f"[bold]nothing to deploy[/bold]: version {live.version} behind {target.alias} already runs this package")
    else:
        if planned.shifts_to is not None:
            publish = f"version {planned.shifts_to} holds the package and the newest settings: publish nothing"
        elif planned.publishes_settings:
            publish = "publish $LATEST (the live code with new settings no version holds yet)"
        elif planned.uploads:
            publish = "upload the package, publish a version"
        else:
            publish = "publish $LATEST (terraform apply uploaded it)"
        lines += [
            f"1. {publish}; wait for it to be ready",
            f"2. CodeDeploy {target.application}/{target.group}: shift {target.alias} from version {live.version} to it, "
            f"{group.config_name}",
            f"   rollback on {', '.join(group.rollback_events) or 'NOTHING (auto rollback is off)'}; "
            f"alarms {escape(', '.join(planned.watched_alarms)) or 'none'}{'' if group.alarms_enabled else ' (not monitored)'}"
            + (f"; [bold]ignoring {escape(', '.join(planned.ignored_alarms))}[/bold]" if planned.ignored_alarms else ""),
            "3. wait for the deployment and report",
        ]
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)


@contextmanager
def deploy_progress() -> Iterator[Callable[[str, DeploymentState], None]]:
    """A spinner on stderr with the deployment's status and the traffic on the new version."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("starting", total=100)

        def progress(deployment_id: str, state: DeploymentState) -> None:
            bar.update(task, description=f"{deployment_id} {state.status}", completed=round(state.target_weight * 100))

        yield progress


def deployed(outcome: Outcome) -> None:
    planned = outcome.plan
    verdict = "[green]succeeded[/green]" if outcome.succeeded else f"[red]{outcome.state.status}[/red]"
    lines = [
        f"deployment {outcome.deployment_id}: {verdict}",
        f"{planned.target.function}:{planned.target.alias}: version {planned.live.version} -> {outcome.target_version}, "
        f"{outcome.state.target_weight:.0%} of the traffic on {outcome.target_version}",
    ]
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
