"""Every command block of docs/runbooks/ is either drilled on the local stack or says why it cannot be."""

from __future__ import annotations

import re

import pytest

from runbook import SHELL_LANGUAGES, Block, blocks, mismatches, runbooks


@pytest.mark.parametrize("path", runbooks(), ids=lambda p: p.stem)
def test_every_shell_block_is_runnable_or_says_why_it_is_not_local(path):
    for block in blocks(path):
        if block.language in SHELL_LANGUAGES:
            assert block.runnable or block.not_local_reason, f"{block.where}: mark it `runnable` or `not-local: REASON`"


@pytest.mark.parametrize(
    "path",
    runbooks(),
    ids=lambda p: p.stem,
)
def test_every_runbook_has_steps_drilled_on_the_local_stack(path):
    assert any(block.runnable for block in blocks(path)), f"{path.name}: no runnable block"


@pytest.mark.parametrize("path", runbooks(), ids=lambda p: p.stem)
def test_runnable_aws_commands_name_the_endpoint_of_the_local_stack(path):
    for block in blocks(path):
        for command in block.commands() if block.runnable else []:
            for call in re.findall(r"(?:^|\$\(|\|\s*)aws\s[^\n]*", command.text):
                assert "--endpoint-url" in call, f"{block.where}: {call.strip()} needs --endpoint-url"


def runnable(markdown: str, tmp_path) -> list[Block]:
    (tmp_path / "x.md").write_text(markdown)
    return blocks(tmp_path / "x.md")


def test_console_commands_carry_their_continuations_and_the_output_they_show(tmp_path):
    (block,) = runnable("```console runnable exit=2\n$ courier trace \\\n  s3://b/k\nnot delivered\n$ true\n```\n", tmp_path)
    first, second = block.commands()
    assert first.text == "courier trace \\\n  s3://b/k" and first.shown == ["not delivered"] and first.exit == 2
    assert second.text == "true" and second.shown == []


def test_shell_blocks_run_line_by_line_and_indented_blocks_are_found(tmp_path):
    (block,) = runnable("1. step\n\n   ```sh runnable setup\n   a \\\n     b\n   # why\n\n   c\n   ```\n", tmp_path)
    assert block.setup and [c.text for c in block.commands()] == ["a \\\n  b", "c"]


def test_a_not_local_block_names_its_reason(tmp_path):
    (block,) = runnable("```sh not-local: needs a real KMS key\naws kms list-keys\n```\n", tmp_path)
    assert not block.runnable and block.not_local_reason == "needs a real KMS key"


@pytest.mark.parametrize(
    ("shown", "printed", "ok"),
    [
        (
            ["deleted 1 message: f3049464-32b0-41e9-8c18-259267717521"],
            "deleted 1 message: 00000000-0000-4000-8000-000000000000",
            True,
        ),
        (["would move 1 message: f3049464-32b0-41e9-8c18-259267717521"], "would move 0 messages", False),
        (["would delete 1 message from the DLQ: ..."], "would delete 1 message from the DLQ: abc", True),
        (["         DLQ: 2 messages    ", "┏━━━┓", "│ a │"], "DLQ: 2 messages\n┏━━━━┓", True),
        (['{"queue_depth": 7, "breaker_state": "OPEN"}'], '{"queue_depth": 0, "breaker_state": "CLOSED", "x": 1}', True),
        (['{"queue_depth": 7, "paused": "s3"}'], '{"queue_depth": 0}', False),
        (["checked 1 bundle: 0 problems"], "checked 1 bundles: 0 problem", False),
    ],
)
def test_output_shown_in_a_runbook_must_be_printed_again_up_to_ids_hashes_and_times(shown, printed, ok):
    assert (not mismatches(shown, printed)) is ok


@pytest.mark.parametrize(
    "path",
    runbooks(),
    ids=lambda p: p.stem,
)
def test_base64_in_a_runbook_does_not_wrap_its_output(path):
    # GNU base64 wraps at 76 columns: a wrapped Authorization header hashes to something NiFi never sees.
    calls = re.findall(r"base64[^|`)\n]*", path.read_text())
    assert all("-w0" in call or "--wrap=0" in call for call in calls), f"{path.name}: {calls}"
