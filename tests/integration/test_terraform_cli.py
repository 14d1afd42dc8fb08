"""The Terraform checked by terraform itself: fmt, validate of both environments, and `terraform test`.

`terraform test` runs the ``*.tftest.hcl`` files of the environments and modules with a mocked AWS
provider (``mock_provider "aws"``, nothing created anywhere): the shapes an environment can take
plan and apply, and the preconditions refuse what they must. The provider comes from a local
directory (tests/terraform_cli.py); without terraform or the provider these tests skip, saying which.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import terraform_cli as tf

pytestmark = [
    pytest.mark.slow,  # terraform init/validate/plan on the real CLI and provider
    pytest.mark.skipif(tf.unavailable() is not None, reason=f"terraform CLI checks: {tf.unavailable()}"),
]

ENVS = ("staging", "prod")
# Every directory holding terraform test files, each run as its own root.
TEST_ROOTS = ("envs/staging", "envs/prod", "modules/network_endpoints", "modules/queue")


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("terraform")


@pytest.fixture(scope="module")
def tree(tmp: Path) -> Path:
    return tf.workspace(tmp)


def test_every_file_is_formatted_as_terraform_fmt_writes_it(tree: Path, tmp: Path):
    result = tf.terraform(tree, tmp, "fmt", "-check", "-recursive", "-diff", check=False)
    assert result.returncode == 0, f"terraform fmt -recursive infra/terraform would change:\n{result.stdout}"


@pytest.mark.parametrize("name", ENVS)
def test_the_environment_validates_with_its_committed_lock_file(tree: Path, tmp: Path, name: str):
    root = tree / "envs" / name
    # readonly: the committed lock file must fit the version constraints as they are, as in the deploy workflow.
    tf.terraform(root, tmp, "init", "-backend=false", "-lockfile=readonly", "-input=false")
    result = tf.terraform(root, tmp, "validate")
    assert "The configuration is valid" in result.stdout


def test_every_root_with_terraform_test_files_has_them_run():
    found = {str(path.parent.parent.relative_to(tf.TERRAFORM_TREE)) for path in tf.TERRAFORM_TREE.rglob("tests/*.tftest.hcl")}
    assert found == set(TEST_ROOTS)


@pytest.mark.parametrize("root", TEST_ROOTS)
def test_terraform_test_passes_with_the_mocked_provider(tree: Path, tmp: Path, root: str):
    where = tree / root
    tf.terraform(where, tmp, "init", "-backend=false", "-input=false")
    result = tf.terraform(where, tmp, "test", "-verbose", check=False)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    passed = [line for line in result.stdout.splitlines() if line.strip().startswith("run ") and line.endswith("... pass")]
    declared = sum(text.count('\nrun "') for text in (path.read_text() for path in where.glob("tests/*.tftest.hcl")))
    assert len(passed) == declared > 0, result.stdout[-4000:]
    if root == "envs/prod":
        # prod's state, unlike staging's, owns the account-wide cost allocation tag.
        assert "module.courier.module.monitoring.aws_ce_cost_allocation_tag.application[0]" in result.stdout
