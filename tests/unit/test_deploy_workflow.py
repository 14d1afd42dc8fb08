"""The CI workflow a team can adopt (.github/workflows/deploy.yml), read, since it is never run here."""

from __future__ import annotations

from pathlib import Path

import yaml  # PyYAML comes with moto (through `responses`)

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "deploy.yml"
JOBS = yaml.safe_load(WORKFLOW.read_text())["jobs"]


def _runs(job: str) -> str:
    return "\n".join(step.get("run", "") for step in JOBS[job]["steps"])


def test_the_workflow_tests_checks_and_packages_once_before_any_environment():
    assert "make test" in _runs("checks") and "checkov" in _runs("checks")
    assert JOBS["package"]["needs"] == "checks" and "make package" in _runs("package")
    assert JOBS["staging"]["needs"] == "package"


def test_each_environment_plans_with_the_lock_file_applies_and_deploys_with_courier():
    for job, env in (("staging", "staging"), ("prod", "prod")):
        runs = _runs(job)
        assert "terraform init -input=false -lockfile=readonly" in runs
        assert "terraform apply -input=false plan.tfplan" in runs
        assert f"courier deploy --env {env}" in runs
        assert runs.index("terraform apply") < runs.index("courier deploy")  # the apply publishes, courier shifts
    assert "terraform plan" in _runs("staging") and "terraform plan" in _runs("prod-plan")


def test_prod_deploys_only_after_staging_and_a_manual_approval_of_its_plan():
    assert JOBS["prod-plan"]["needs"] == "staging" and JOBS["prod"]["needs"] == "prod-plan"
    assert JOBS["prod"]["environment"] == "prod"  # its required reviewers are the approval
    assert "terraform apply" not in _runs("prod-plan")
