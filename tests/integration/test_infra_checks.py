"""checkov over the Terraform, and the Lambda package (both as CI runs them)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def checkov() -> str:
    path = os.environ.get("CHECKOV_BIN") or str(ROOT / ".venv-checkov" / "bin" / "checkov")
    if not Path(path).is_file():
        pytest.fail("checkov is not installed: run `make test`, which creates .venv-checkov")
    return path


def test_checkov_finds_no_failed_check():
    result = subprocess.run(
        [
            checkov(),
            "-d",
            str(ROOT / "infra" / "terraform"),
            "--framework",
            "terraform",
            "--compact",
            "--quiet",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = re.search(r"Passed checks: (\d+), Failed checks: (\d+), Skipped checks: (\d+)", result.stdout)
    assert summary, result.stdout[-2000:] + result.stderr[-2000:]
    passed, failed, _ = map(int, summary.groups())
    assert failed == 0 and result.returncode == 0, result.stdout[-4000:]
    assert passed > 100


def test_every_skipped_check_says_why():
    for path in (ROOT / "infra" / "terraform").rglob("*.tf"):
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                assert re.search(r"checkov:skip=CKV2?_AWS_\d+:\S.{15,}", line), f"{path}: skip without a reason: {line.strip()}"


def build(out: Path) -> Path:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "package_lambda.py"), "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


def test_lambda_package_holds_the_handler_and_its_dependencies_and_nothing_else(tmp_path):
    package = build(tmp_path / "a.zip")
    names = zipfile.ZipFile(package).namelist()
    for required in ("courier/handler.py", "courier/controller.py", "aws_lambda_powertools/__init__.py", "httpx/__init__.py"):
        assert required in names
    assert not any("__pycache__" in n or n.endswith(".pyc") or n.startswith("tests/") or "/tests/" in n for n in names)
    assert not any(n.startswith(("boto3/", "botocore/")) for n in names)  # the Lambda runtime provides them
    assert not any(n.startswith(("courier/local/", "courier/cli/")) for n in names)  # operator and local-stack code
    assert package.stat().st_size < 10_000_000
    again = build(tmp_path / "b.zip")
    assert hashlib.sha256(package.read_bytes()).hexdigest() == hashlib.sha256(again.read_bytes()).hexdigest()  # reproducible


def test_checkov_passes_the_role_policy_templates_as_rendered(tmp_path):
    """checkov cannot render templatefile(), so over the modules it no longer sees the function
    roles' policies; here it reads them rendered (with the local stack's ARNs) as plain documents."""
    import json

    from courier.local import iam

    values = iam.local_values(
        "eu-west-2",
        "arn:aws:sqs:eu-west-2:123456789012:courier-queue",
        "arn:aws:secretsmanager:eu-west-2:123456789012:secret:courier/nifi-AbCdEf",
        "0c4a2a4e-9e8c-4a1e-9d4e-1f2a3b4c5d6e",
        "arn:aws:sqs:eu-west-2:123456789012:courier-dlq",
    )
    blocks = []
    for principal in (iam.AGGREGATOR, iam.CONTROLLER):
        document = iam.render(iam.policy_template(principal.template), values[principal.template])
        blocks.append(
            f'resource "aws_iam_policy" "{principal.user}" {{\n  name   = "{principal.user}"\n'
            f"  policy = <<POLICY\n{json.dumps(document, indent=2)}\nPOLICY\n}}\n"
        )
    (tmp_path / "main.tf").write_text("\n".join(blocks))
    result = subprocess.run(
        [checkov(), "-d", str(tmp_path), "--framework", "terraform", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(result.stdout)
    assert report["summary"]["failed"] == 0, [c["check_id"] for c in report["results"]["failed_checks"]]
    passed = {(c["resource"], c["check_id"]) for c in report["results"]["passed_checks"]}
    for principal in (iam.AGGREGATOR, iam.CONTROLLER):
        for check in ("CKV_AWS_355", "CKV_AWS_290", "CKV_AWS_288", "CKV_AWS_62"):  # no `*` resource, no unconstrained write ...
            assert (f"aws_iam_policy.{principal.user}", check) in passed, (principal.user, check)
