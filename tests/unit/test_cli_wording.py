"""What the commands print reads as English: counts agree with their nouns, nothing dangles, errors say what to type."""

from __future__ import annotations

import pytest
import typer

from courier.cli import _render
from courier.cli._context import parse_range
from courier.operator.dlq import DeleteResult, RedriveResult
from courier.operator.replay import BundleResult, Finding, Outcome, Tally


def printed(call, *args) -> str:
    with _render.console.capture() as captured:
        call(*args)
    return captured.get()


@pytest.mark.parametrize(
    ("checked", "found", "line"), [(1, 1, "checked 1 bundle: 1 problem"), (2, 0, "checked 2 bundles: 0 problems")]
)
def test_archive_verify_counts_agree_with_their_nouns(checked, found, line):
    assert printed(_render.findings, checked, [Finding("k", "bad")] * found, False).splitlines()[-1] == line


def test_a_dry_run_redrive_of_nothing_ends_where_it_should():
    assert printed(_render.redriven, RedriveResult(method="dry-run"), True).strip() == "would move 0 messages"
    assert (
        printed(_render.redriven, RedriveResult(method="dry-run", would_move=["m1"]), True).strip() == "would move 1 message: m1"
    )
    assert printed(_render.redriven, RedriveResult(moved=1), False).strip() == "moved 1 message back to the queue"
    assert printed(_render.deleted, DeleteResult(dry_run=True)).strip() == "would delete 0 messages from the DLQ"


def test_a_dry_run_replay_counts_what_it_would_send_not_as_skipped():
    tally = Tally.of(["a", "b"], [BundleResult("a", Outcome.WOULD_SEND, bytes=467), BundleResult("b", Outcome.RESTORE_STARTED)])
    table = printed(_render.replay_summary, tally, True)
    assert "skipped" not in table and "would send" in table and "restoring" in table
    assert [cell.strip() for cell in table.splitlines()[-2].strip("│").split("│")] == ["2", "467", "1", "1", "0"]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("yesterday", None, "--from 'yesterday' is not a time: give an ISO date (2026-11-25), an ISO time"),
        ("2026-11-25", "tomorrow", "--to 'tomorrow' is not a time: give an ISO date"),
        ("2026-11-26", "2026-11-25", "--from 2026-11-26T00:00:00Z is after --to 2026-11-25T00:00:00Z"),
    ],
)
def test_a_bad_time_names_the_option_and_the_accepted_forms_in_one_line(start, end, message, capsys):
    with pytest.raises(typer.Exit):
        parse_range(start, end, default_days=1)
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "None" not in err


def test_status_marks_the_figures_only_aws_has_instead_of_printing_none():
    snapshot = {
        "queue_retention_seconds": 1209600,
        "oldest_message_age_seconds": None,
        "aws_only": ["oldest_message_age_seconds"],
    }
    table = printed(_render.status, snapshot, False)
    assert "n/a locally (AWS only: CloudWatch)" in table and "1209600" in table
    assert "None" not in table and "aws_only" not in table
