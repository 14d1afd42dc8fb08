"""The CI workflow a team can adopt (.github/workflows/deploy.yml), read, since it is never run here."""

from __future__ import annotations

import re
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


def test_only_the_jobs_that_assume_an_aws_role_may_ask_for_an_oidc_token():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow["permissions"] == {"contents": "read"}
    for job, body in JOBS.items():
        assumes = any("configure-aws-credentials" in step.get("uses", "") for step in body["steps"])
        granted = body.get("permissions", {}).get("id-token")
        assert (granted == "write") is assumes, job


def test_every_action_is_pinned_to_a_commit_sha():
    # A tag (v4) can be moved to other code; a commit SHA cannot. The comment names the release.
    uses = re.findall(r"^\s*-? *uses: (\S+)(.*)$", WORKFLOW.read_text(), re.M)
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
        assert re.fullmatch(r" # v\d+\.\d+\.\d+", comment), action


def test_the_prod_plan_summary_names_resources_and_actions_never_values():
    runs = _runs("prod-plan")
    assert "GITHUB_STEP_SUMMARY" in runs
    assert "terraform show -no-color" not in runs  # the full plan carries terraform.tfvars' values
    summary = next(line for line in runs.splitlines() if "terraform show" in line)
    assert "terraform show -json plan.tfplan | jq" in summary
    fields = set(re.findall(r"\\\(\.([\w.]+)", summary))
    assert fields == {"change.actions", "address"}, fields
    # Nor in the job's log, which the same people read: the plan's own output is discarded.
    (plan,) = [line.strip() for line in runs.splitlines() if line.strip().startswith("terraform plan")]
    assert plan.endswith("> /dev/null"), plan


def test_an_environments_values_and_backend_settings_are_never_committed():
    ignored = (WORKFLOW.parents[2] / ".gitignore").read_text().splitlines()
    assert "terraform.tfvars" in ignored and "backend.hcl" in ignored
