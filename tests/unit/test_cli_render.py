"""Operator output is inert: what came from outside is printed as plain text, control characters escaped.

Each command's rendering gets a key, an error detail and a note holding rich
markup (``[/]``: a MarkupError before), ESC sequences (an OSC 8 link, a window
title, a screen clear, CSI colours), C1 controls, DEL, line separators and bidi
overrides; none may reach the terminal raw, and the markup shows literally.
"""

from __future__ import annotations

import io
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from courier import resources
from courier.cli import _render
from courier.config import Settings
from courier.operator.backfill import Tally as BackfillTally
from courier.operator.dlq import DeadLetter
from courier.operator.replay import BundleResult, Finding, Outcome
from courier.operator.trace import Story, Verdict
from courier.ports import Revision

OSC8 = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J\x1b[H\x1b[31m"
HOSTILE = f"in/[/]{OSC8}{TITLE}{CLEAR}[bold]b[/bold]\x9b1m\x7f\u2028\u2029\u0085\u202etxt.exe\u2066x\u2069\x00.csv"
LITERAL_MARKUP = ("[/]", "[bold]b[/bold]")


def assert_inert(out: str) -> None:
    bad = [ch for ch in out if ch != "\n" and unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp", "Cs"}]
    assert bad == [], f"raw control characters reached the terminal: {bad!r}"
    for markup in LITERAL_MARKUP:
        assert markup in out, f"{markup} was read as markup"
    assert "\\x1b]8;;https://evil.example/" in out and "\\u202e" in out and "\\u2028" in out and "\\x85" in out


@pytest.fixture
def screen(monkeypatch) -> io.StringIO:
    """stdout and stderr of the commands as a terminal would get them (no colour codes of our own)."""
    buffer = io.StringIO()
    terminal = Console(file=buffer, width=3000, color_system=None, force_terminal=False)
    monkeypatch.setattr(_render, "console", terminal)
    monkeypatch.setattr(_render, "err", terminal)
    return buffer


def test_inert_escapes_every_control_format_and_separator_character():
    escaped = _render.inert(HOSTILE)
    assert escaped.isprintable()
    assert "\\x1b" in escaped and "\\x9b" in escaped and "\\x7f" in escaped and "\\x00" in escaped and "\\u2069" in escaped
    assert _render.inert("plain/ünïcødé 日本.csv") == "plain/ünïcødé 日本.csv"


def test_dlq_list_prints_a_hostile_key_reason_and_detail_inertly(screen, monkeypatch):
    letter = DeadLetter("m-1", 3, 0, (f"s3://landing/{HOSTILE}",), f"reason {HOSTILE}", f"detail {HOSTILE}")
    _render.dead_letters([letter], as_json=False)  # to a pipe: one line, the tabs between its six fields our own
    piped = screen.getvalue()
    assert piped.count("\t") == 5 and piped.count("\n") == 1
    assert_inert(piped.replace("\t", " "))
    terminal = io.StringIO()
    monkeypatch.setattr(_render, "console", Console(file=terminal, width=3000, color_system=None, force_terminal=True))
    _render.dead_letters([letter], as_json=False)
    assert_inert(terminal.getvalue())


LONG_ID = "0b5e1f3a-7c1d-4e2b-9a8f-3d6c2b1a0f9e"


def test_dlq_list_to_a_pipe_prints_one_whole_tab_separated_line_per_message(screen):
    letters = [
        DeadLetter(LONG_ID, 1, 0, ("s3://l/a b.csv", "s3://l/c"), "object_missing", "gone\tso\ngone", moved_by="courier"),
        DeadLetter("m-2", 20, 0, (), None, None),
    ]
    _render.dead_letters(letters, as_json=False)
    lines = screen.getvalue().splitlines()
    assert [line.split("\t") for line in lines] == [
        [LONG_ID, "1", "courier", "object_missing", "s3://l/a b.csv,s3://l/c", "gone\\x09so\\x0agone"],
        ["m-2", "20", "sqs", "-", "-", "-"],
    ]


def test_dlq_list_on_a_narrow_terminal_keeps_ids_whole_and_names_json_in_the_caption(monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setattr(_render, "console", Console(file=buffer, width=60, color_system=None, force_terminal=True))
    _render.dead_letters([DeadLetter(LONG_ID, 1, 0, ("s3://landing/" + "k" * 80,), "object_missing", "x" * 90)], as_json=False)
    shown = buffer.getvalue()
    assert LONG_ID in shown and "--json" in shown


def test_trace_prints_a_hostile_story_inertly(screen):
    story = Story("landing", HOSTILE, f"v{HOSTILE}", [Revision(HOSTILE, "v1", 3, HOSTILE, datetime.now(UTC))])
    story.dead_letters = [DeadLetter("m-1", 3, 0, (HOSTILE,), HOSTILE, HOSTILE)]
    story.unreadable_index_lines = [HOSTILE]
    _render.story(story, as_json=False)
    assert_inert(screen.getvalue())


def test_status_prints_hostile_values_inertly(screen):
    _render.status({"breaker_state": "CLOSED", "last_error": HOSTILE, HOSTILE: 1}, as_json=False)
    assert_inert(screen.getvalue())


def test_backfill_prints_a_hostile_checkpoint_key_inertly(screen):
    tally = BackfillTally(listed=1, last=Revision(HOSTILE, HOSTILE, 3, "etag", datetime.now(UTC)))
    _render.backfill_summary("landing", tally, dry_run=False, checkpoint=Path("state/checkpoint.json"))
    assert_inert(screen.getvalue())


def test_replay_prints_a_hostile_detail_and_error_inertly(screen):
    _render.replayed(BundleResult(f"bundles/{HOSTILE}", Outcome.FAILED, HOSTILE))
    _render.say(f"{HOSTILE}: 1 bundle(s) found through the index")
    _render.labelled("stopped", HOSTILE)
    _render.fail(f"could not select bundles: {HOSTILE}")
    _render.notice(HOSTILE)
    assert_inert(screen.getvalue())


def test_archive_verify_prints_a_hostile_finding_inertly(screen):
    _render.findings(1, [Finding(f"bundles/{HOSTILE}", f"member {HOSTILE} differs")], deep=True)
    assert_inert(screen.getvalue())


def test_never_landed_says_a_file_uploaded_before_the_lifecycle_s_reach_leaves_no_trace_either(screen):
    """A file delivered 40 days ago has no revision, no ledger record and no bundle found: "never landed" says so."""
    story = Story("landing", "in/old.csv", None, [])
    assert story.verdict is Verdict.NEVER_LANDED
    _render.story(story, as_json=False)
    days = resources.LANDING_EXPIRATION_DAYS + resources.LANDING_NONCURRENT_DAYS  # the week, then noncurrent days
    text = " ".join(screen.getvalue().split())
    assert f"or it was last uploaded over {days} days ago" in text
    # After the sweep a delivered file leaves no revision a week after it landed: once the ledger forgets it too.
    assert f"or it was delivered over {Settings.ledger_ttl_days} days ago" in text and "courier replay --file" in text
