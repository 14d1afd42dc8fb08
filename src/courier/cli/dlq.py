"""``courier dlq``: what is in the dead-letter queue, moving it back, or deleting it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from courier.adapters.sqs import SQSQueue
from courier.cli import _render
from courier.cli._context import Context, Function, Profile, Region, StateDir, Yes
from courier.cli._render import fail
from courier.errors import CourierError
from courier.ledger.base import BaseLedger
from courier.operator.dlq import DeleteResult, delete_dead_letters, list_dead_letters, redrive

app = typer.Typer(help="What is in the dead-letter queue, moving it back, or deleting it.", no_args_is_help=True)


@app.command("list")
def dlq_list(
    state_dir: StateDir = Path(".courier"),
    function: Function = None,
    profile: Profile = None,
    region: Region = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    limit: Annotated[int, typer.Option(help="List at most this many messages.")] = 1000,
) -> None:
    """Messages in the DLQ: id, receive count, the S3 objects they name, the last error recorded."""
    from courier.compose import make_ledger_reader  # Powertools and boto3: loaded when a command runs, not for --help

    context = Context.for_operator(state_dir, function, profile, region)
    try:
        _, dlq = context.queues()
        ledger = make_ledger_reader(context.setting("idempotency_table"), context.clients("dynamodb"))
        letters = list_dead_letters(dlq, ledger, limit)
    except CourierError as exc:
        raise fail(f"could not read the DLQ: {exc}") from None
    _render.dead_letters(letters, as_json)


@app.command("redrive")
def dlq_redrive(
    state_dir: StateDir = Path(".courier"),
    function: Function = None,
    profile: Profile = None,
    region: Region = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would move; move nothing.")] = False,
    max_messages: Annotated[int | None, typer.Option("--max", help="Move at most this many messages.")] = None,
    yes: Yes = False,
) -> None:
    """Move DLQ messages back to the main queue (after the cause is fixed).

    Without --dry-run it first prints how many messages would move, from which DLQ to which queue
    and where (account/region or local stack), and asks; --yes goes ahead (required without a terminal).
    """
    context = Context.for_operator(state_dir, function, profile, region)
    try:
        queue, dlq = context.queues()
        if not dry_run:
            waiting = dlq.depth()[0]
            count = waiting if max_messages is None else min(waiting, max_messages)
            plan = f"about to move ~{count} message(s) from the DLQ {dlq.url} back to {queue.url} ({context.target()})"
            _render.confirm([plan], yes)
        result = redrive(dlq, queue, max_messages, dry_run)
    except CourierError as exc:
        raise fail(f"redrive failed: {exc}") from None
    _render.redriven(result, dry_run)


@app.command("delete")
def dlq_delete(
    message_id: Annotated[list[str] | None, typer.Option("--message-id", help="Delete this message (repeatable).")] = None,
    all_reason: Annotated[
        str | None, typer.Option("--all-reason", help="Delete every message whose last failure had this reason (see `dlq list`).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be deleted; delete nothing.")] = False,
    state_dir: StateDir = Path(".courier"),
    function: Function = None,
    profile: Profile = None,
    region: Region = None,
    yes: Yes = False,
) -> None:
    """Delete DLQ messages for good, once understood (a malformed body, a file uploaded again).

    Without --dry-run it first finds the matching messages, prints how many and which, from which DLQ
    and where (account/region or local stack), and asks; --yes goes ahead (required without a terminal).
    Exactly the messages shown are deleted.
    """
    from courier.compose import make_ledger_reader

    if not message_id and not all_reason:
        raise fail("say what to delete: --message-id ID (repeatable) and/or --all-reason REASON")
    context = Context.for_operator(state_dir, function, profile, region)
    try:
        _, dlq = context.queues()
        ledger = make_ledger_reader(context.setting("idempotency_table"), context.clients("dynamodb")) if all_reason else None
        result = _delete_once_confirmed(dlq, ledger, message_id or [], all_reason, dry_run, yes, context.target())
    except CourierError as exc:
        raise fail(f"could not delete from the DLQ: {exc}") from None
    _render.deleted(result)
    if result.not_found:
        raise fail(f"not in the DLQ: {', '.join(result.not_found)}")


def _delete_once_confirmed(
    dlq: SQSQueue, ledger: BaseLedger | None, message_ids: list[str], reason: str | None, dry_run: bool, yes: bool, target: str
) -> DeleteResult:
    """Find what matches (a dry run); unless ``dry_run``, print it, ask, and delete exactly those messages."""
    found = delete_dead_letters(dlq, ledger, message_ids, reason, dry_run=True)
    if dry_run or not found.deleted:
        return DeleteResult(found.deleted if dry_run else [], found.not_found, dry_run)
    plan = (
        f"about to delete {len(found.deleted)} message(s) for good from the DLQ {dlq.url} ({target}): {' '.join(found.deleted)}"
    )
    _render.confirm([plan], yes)
    done = delete_dead_letters(dlq, None, found.deleted)
    return DeleteResult(done.deleted, found.not_found + done.not_found, False)
