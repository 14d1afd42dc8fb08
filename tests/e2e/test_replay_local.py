"""Replay a time range on the local stack: the receiver ends up holding the same bundles again."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from conftest import wait_until


def test_replaying_a_time_range_restores_the_receivers_store(local_stack):
    s3 = local_stack.session.client("s3")
    for i in range(12):
        s3.put_object(Bucket=local_stack.resources.landing_bucket, Key=f"replay/{i}.json", Body=f'{{"i": {i}}}'.encode())
    assert wait_until(lambda: local_stack.fake_nifi.state.stats()["distinct_files"] == 12, timeout=30)
    assert local_stack.drain(10)
    received = local_stack.fake_nifi.state.received_dir
    before = {p.name: p.read_bytes() for p in received.glob("*.tar.gz")}
    shutil.rmtree(received)
    received.mkdir()

    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%MZ")
    command = [sys.executable, "-m", "courier", "replay", "--from", since, "--state-dir", str(local_stack.state_dir)]
    unasked = subprocess.run(command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert unasked.returncode == 1 and "give --yes" in unasked.stderr and not list(received.glob("*.tar.gz"))
    assert f"bundle(s) to NiFi {local_stack.fake_nifi.url()} (the local stack" in unasked.stderr, unasked.stderr
    result = subprocess.run([*command, "--yes"], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    after = {p.name: p.read_bytes() for p in received.glob("*.tar.gz")}
    assert after == before and len(after) >= 1
    assert all(b.replay for b in local_stack.fake_nifi.state.bundles[-len(after) :])
