"""The first screen of `courier local up --demo` (`make run`), read from a pseudo-terminal as a user sees it.

Under a terminal rich draws its live view; whatever else lands on stdout then shows above
the table. The handler's EMF documents belong in lambda.log, not there.
"""

from __future__ import annotations

import json
import os
import pty
import select
import struct
import subprocess
import sys
import time
from pathlib import Path

from conftest import free_port

SECONDS = 25


def _screen_of(args: list[str], seconds: float) -> str:
    """Everything the command writes to a 140x45 terminal until it exits (or seconds + a margin pass)."""
    import fcntl
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 45, 140, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "140", "LINES": "45"}
    proc = subprocess.Popen(args, stdin=terminal, stdout=terminal, stderr=terminal, env=env, close_fds=True)
    os.close(terminal)
    screen = bytearray()
    deadline = time.monotonic() + seconds + 90  # the drain and summary after --duration
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                screen.extend(chunk)
            elif proc.poll() is not None:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        os.close(controller)
    return screen.decode("utf-8", errors="replace")


def test_the_screen_shows_no_emf_and_the_metrics_reach_lambda_log(tmp_path: Path):
    state = tmp_path / "state"
    screen = _screen_of(
        [
            sys.executable,
            "-m",
            "courier",
            "local",
            "up",
            "--demo",
            "--state-dir",
            str(state),
            "--aws-port",
            str(free_port()),
            "--nifi-port",
            str(free_port()),
            "--duration",
            str(SECONDS),
        ],
        SECONDS,
    )

    assert "courier local stack is up" in screen, screen[-2000:]
    assert "summary" in screen, screen[-2000:]
    assert '"_aws"' not in screen, screen[screen.index('"_aws"') - 200 :][:1000]
    assert "Traceback" not in screen, screen[-3000:]
    documents = [json.loads(line) for line in (state / "lambda.log").read_text().splitlines() if line.startswith('{"_aws"')]
    assert documents, "no EMF document in lambda.log"
    received = [d for d in documents if "FilesReceived" in d]
    assert received, "no invocation's document in lambda.log"
    # One invocation, one document: never two invocations' values merged into one.
    assert all(len(d["FilesReceived"]) == 1 for d in received), [d["FilesReceived"] for d in received]
