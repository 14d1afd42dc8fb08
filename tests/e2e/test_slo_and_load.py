"""The SLO report and the locust load test, against a local stack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import wait_until
from courier.stackfile import aws_environment


def test_slo_report_of_a_local_run_writes_a_histogram_and_a_summary(local_stack, tmp_path):
    s3 = local_stack.session.client("s3")
    for i in range(20):
        s3.put_object(Bucket=local_stack.resources.landing_bucket, Key=f"slo/{i}.json", Body=b"{}")
    assert wait_until(lambda: local_stack.fake_nifi.state.stats()["distinct_files"] == 20, timeout=30)
    out = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "courier", "slo-report", "--state-dir", str(local_stack.state_dir), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "latency.json").read_text())
    assert summary["files"] == 20 and summary["slo_met"] is True
    assert 0 < summary["seconds"]["p50"] <= summary["seconds"]["p95"] <= summary["seconds"]["max"] < 60
    assert (out / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "SLO met" in result.stdout


def test_locust_uploads_to_the_local_stack(local_stack):
    locust = shutil.which("locust", path=str(Path(sys.executable).parent))
    assert locust, "locust is a dev dependency"
    # The environment lines `courier local up` prints (docs/performance.md): the emulator enforces IAM, and
    # this process holds the aggregator's credentials, which may not put into the landing bucket.
    env = {**os.environ, **aws_environment(local_stack.emulator.endpoint)}
    result = subprocess.run(
        [
            locust,
            "-f",
            str(Path(__file__).parents[2] / "loadtest" / "locustfile.py"),
            "--headless",
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "4s",
            "--only-summary",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert wait_until(lambda: local_stack.fake_nifi.state.stats()["distinct_files"] >= 8, timeout=30)
    assert "PutObject" in result.stdout + result.stderr
