"""`courier local up` as a user runs it: a subprocess, stopped with Ctrl-C."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

from conftest import admin, free_port, wait_until


def courier(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "courier", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    )


def delivered(state_dir: Path) -> int:
    return admin(state_dir, "/admin/stats")["distinct_files"]


def test_sigint_drains_and_exits_zero_with_a_summary(tmp_path: Path):
    state = tmp_path / "state"
    proc = courier(
        "local",
        "up",
        "--demo",
        "--rate",
        "10",
        "--state-dir",
        str(state),
        "--aws-port",
        str(free_port()),
        "--nifi-port",
        str(free_port()),
        "--batching-window",
        "1",
    )
    try:
        assert wait_until(lambda: (state / "stack.json").exists() and delivered(state) >= 10, timeout=60), (
            proc.stderr.read() if proc.poll() is not None else ""
        )
        proc.send_signal(signal.SIGINT)
        out, errors = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, errors
    assert "Traceback" not in out + errors
    # What differs from the deployment is said: here the window given, and the laptop's defaults.
    assert "Unlike the deployment's defaults: batching window (s) 1 (deployed: 20), concurrency 2 (deployed: 10)" in out
    assert "function timeout" not in out  # the function runs with the deployment's timeout
    summary = out[out.index("summary") :]
    row = [line for line in summary.splitlines() if line.startswith("│")][0]
    uploaded, delivered_count, lost, duplicated, dlq = (int(cell) for cell in row.strip("│").split("│"))
    assert uploaded >= 10 and delivered_count == uploaded and lost == 0 and duplicated == 0 and dlq == 0
    assert not (state / "stack.json").exists()


def test_port_in_use_is_one_clear_line(tmp_path: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = courier("local", "up", "--state-dir", str(tmp_path), "--aws-port", str(port), "--nifi-port", str(free_port()))
        out, errors = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert errors.strip().splitlines() == [
        f"error: port {port} on 127.0.0.1 (AWS emulator) is in use; stop what uses it or pick another with --aws-port"
    ]
    assert "Traceback" not in out + errors


def test_second_instance_on_the_same_state_dir_is_refused(tmp_path: Path):
    first = courier("local", "up", "--state-dir", str(tmp_path), "--aws-port", str(free_port()), "--nifi-port", str(free_port()))
    try:
        assert wait_until(lambda: (tmp_path / "stack.json").exists(), timeout=60)
        second = courier(
            "local", "up", "--state-dir", str(tmp_path), "--aws-port", str(free_port()), "--nifi-port", str(free_port())
        )
        _, errors = second.communicate(timeout=60)
        assert second.returncode == 1
        assert errors.strip().startswith("error: another courier local stack is running with state dir")
        assert (tmp_path / "stack.json").exists()  # the refused second instance left the first alone
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)


def test_status_json_reads_the_running_stack(tmp_path: Path):
    stack = courier(
        "local", "up", "--demo", "--state-dir", str(tmp_path), "--aws-port", str(free_port()), "--nifi-port", str(free_port())
    )
    try:
        assert wait_until(lambda: (tmp_path / "stack.json").exists() and delivered(tmp_path) > 0, timeout=60)
        result = subprocess.run(
            [sys.executable, "-m", "courier", "status", "--json", "--state-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        status = json.loads(result.stdout)
        for key in ("queue_depth", "dlq_depth", "breaker_state", "esm_enabled", "bundles_archived", "files_delivered"):
            assert key in status
        assert status["esm_enabled"] is True and status["breaker_state"] == "CLOSED"
        assert status["files_delivered"] > 0 and status["bundles_archived"] > 0 and status["dlq_depth"] == 0
    finally:
        stack.send_signal(signal.SIGINT)
        stack.communicate(timeout=60)
