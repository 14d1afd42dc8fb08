"""docs/runbooks/rotate-nifi-secret.md, drilled on the local stack as written: no file is lost."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

from conftest import wait_until
from courier.delivery import credential_verifier


def courier(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "courier", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"courier {' '.join(args)}: {done.stderr}"
    return done.stdout


def rotate_and_count(stack, stage_args: list[str]) -> dict[str, int]:
    """The runbook's steps while files keep landing; then every file must be delivered."""
    state = ["--state-dir", str(stack.state_dir)]
    stack.start_demo(rate=4)
    assert wait_until(lambda: stack.fake_nifi.state.stats()["distinct_files"] >= 4, timeout=30)
    assert "as AWSPENDING" in courier("secret", "stage", *stage_args, *state)
    assert "pending: " in courier("local", "receiver", "accept-pending", *state)
    assert "AWSCURRENT is now version" in courier("secret", "promote", *state)
    before = stack.fake_nifi.state.stats()["distinct_files"]
    assert "pending: none" in courier("local", "receiver", "promote", *state)  # the old credentials are refused now
    assert wait_until(lambda: stack.fake_nifi.state.stats()["distinct_files"] >= before + 8, timeout=60)
    stack.uploader.stop()
    assert stack.drain(60)
    return stack.summary()


def test_certificate_rotation_as_the_runbook_writes_it_loses_no_file(stack_factory, tmp_path: Path):
    stack = stack_factory()  # mTLS, the local stack's default
    new = tmp_path / "new-cert"
    issued = courier(
        "local", "receiver", "issue-cert", "--out", str(new), "--common-name", "courier-2027", "--state-dir", str(stack.state_dir)
    )
    assert "CN=courier-2027, OU=delivery, O=courier local" in issued and oct((new / "client.key").stat().st_mode)[-3:] == "600"
    summary = rotate_and_count(stack, ["--client-cert", str(new / "client.pem"), "--client-key", str(new / "client.key")])
    assert summary["uploaded"] > 0 and summary["lost"] == 0 and summary["dlq"] == 0, summary
    # The function still held the old certificate: refused once (403), it re-read the secret and went on.
    assert stack.fake_nifi.state.stats()["responses"].get("403", 0) >= 1
    assert stack.fake_nifi.state.clients.snapshot()["current"]["client_subject"].startswith("CN=courier-2027,")


def test_password_rotation_as_the_runbook_writes_it_loses_no_file(stack_factory):
    stack = stack_factory(nifi_auth="header")
    summary = rotate_and_count(stack, ["--generate-password"])
    assert summary["uploaded"] > 0 and summary["lost"] == 0 and summary["dlq"] == 0, summary
    assert stack.fake_nifi.state.stats()["responses"].get("401", 0) >= 1  # the old password, refused once, re-read
    # The verifier the runbook sets in NiFi's flow is the receiver's own for the promoted password.
    secret = json.loads(stack.session.client("secretsmanager").get_secret_value(SecretId="courier/nifi")["SecretString"])
    header = "Basic " + base64.b64encode(f"{secret['username']}:{secret['password']}".encode()).decode()
    printed = courier("secret", "verifier", "--salt", "s4lt", "--stage", "AWSCURRENT", "--state-dir", str(stack.state_dir))
    assert printed.strip() == credential_verifier("s4lt", header)
