"""Each runbook, drilled on a local stack as an on-call engineer would follow it: its marked commands, in order.

The marks and what a command may rely on are described in tests/runbook.py and docs/runbooks/README.md.
A command that fails, or prints something other than the output the runbook shows, fails the test with
the block's place in the runbook: a runbook cannot drift from the code unnoticed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from courier.stackfile import aws_environment
from runbook import in_running_order, mismatches, runbooks

pytestmark = pytest.mark.e2e

BASH = shutil.which("bash") or "/bin/bash"
UNIT_LIMIT_SECONDS = 240  # a drill's `until` that never comes true ends the run here, not at the overall timeout
# What a runbook's drill needs of the stack beyond the defaults (its "Drill it locally" section says so): the
# rotation drill rotates a password as well as a certificate, so its secret holds both.
# The DLQ drill counts what courier moved at the first receive: with the 1-s visibility timeout of the other
# drills, an invocation slower than a second meets its message again and moves it twice (which `courier dlq`
# tolerates, but the drill's counts would not show).
STACK_OPTIONS: dict[str, dict[str, object]] = {
    "rotate-nifi-secret.md": {"nifi_auth": "both"},
    "dlq.md": {"visibility_timeout_seconds": 30},
}


def environment(stack, tools: Path) -> dict[str, str]:
    """What the runbook's commands see: the code under test as `courier`, the venv's `aws`, the stack's endpoints."""
    (tools / "courier").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m courier "$@"\n')
    (tools / "courier").chmod(0o755)
    venv_bin = Path(sys.executable).parent
    endpoint = stack.emulator.endpoint
    return {
        **os.environ,
        **aws_environment(endpoint),
        "PATH": os.pathsep.join([str(tools), str(venv_bin), os.environ.get("PATH", "")]),
        "COURIER_STATE_DIR": str(stack.state_dir),
        "STATE": str(stack.state_dir),
        "AWS_ENDPOINT": endpoint,
        "NIFI_ADMIN": f"https://127.0.0.1:{stack.fake_nifi.port}",
        "CA": str(stack.state_dir / "ca.pem"),
        "AWS_PAGER": "",
        "COLUMNS": "140",
        "NO_COLOR": "1",
    }


def script(units, run: Path) -> str:
    """One bash session for the whole runbook: each unit's output and status land in run/<i>.out and run/<i>.rc,
    and the session stops at the first unit whose status is not the expected one, or that outlives its limit."""
    lines = ["set -o pipefail"]
    for index, (_, command) in enumerate(units):
        lines += [
            f"echo {index} > {run}/current",
            # the watchdog takes its sleep down with it when the unit finishes in time
            f"( trap 'kill $s; exit' TERM; sleep {UNIT_LIMIT_SECONDS} & s=$!; wait $s; kill -TERM $$ ) >/dev/null 2>&1 &",
            "watchdog=$!",
            "{",
            command.text,
            f"}} > {run}/{index}.out 2>&1 < /dev/null",
            f"echo $? > {run}/{index}.rc",
            "kill $watchdog 2>/dev/null",
            f'[ "$(cat {run}/{index}.rc)" = {command.exit} ] || exit 97',
        ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("path", runbooks(), ids=lambda p: p.stem)
def test_the_runbook_runs_as_written_on_the_local_stack(path, stack_factory, tmp_path):
    units = [(block, command) for block in in_running_order(path) for command in block.commands()]
    if not units:
        pytest.skip(f"{path.name} marks no runnable command yet")
    assert shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws"), "the aws CLI (courier[local])"
    stack = stack_factory(**{"visibility_timeout_seconds": 1, "breaker_recovery_seconds": 5, **STACK_OPTIONS.get(path.name, {})})
    tools, run, work = tmp_path / "bin", tmp_path / "run", tmp_path / "work"
    for folder in (tools, run, work):
        folder.mkdir()
    (run / "runbook.sh").write_text(script(units, run))
    finished = subprocess.run(
        [BASH, str(run / "runbook.sh")], cwd=work, env=environment(stack, tools), capture_output=True, text=True, timeout=900
    )

    ran = int((run / "current").read_text()) if (run / "current").exists() else -1
    for index, (block, command) in enumerate(units[: ran + 1]):
        printed = (run / f"{index}.out").read_text() if (run / f"{index}.out").exists() else ""
        status = (run / f"{index}.rc").read_text().strip() if (run / f"{index}.rc").exists() else "not (still running)"
        where = f"{block.where}: {command.text.splitlines()[0]}"
        assert status == str(command.exit), (
            f"{where}\nexited {status}, the runbook expects {command.exit}:\n{printed}{finished.stderr}"
        )
        problems = mismatches(command.shown, printed)
        assert not problems, f"{where}\n" + "\n".join(problems) + f"\nprinted:\n{printed}"
    assert finished.returncode == 0, finished.stderr
    assert ran == len(units) - 1
