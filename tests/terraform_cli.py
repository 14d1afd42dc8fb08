"""The real `terraform` CLI for the tests, with the AWS provider from a local directory, never the registry.

Where terraform and the provider come from (a user's own, README "What is checked here"; not
``COURIER_*`` names, which tests/conftest.py clears):

* ``TERRAFORM_BIN``: the terraform binary (default: ``terraform`` on PATH);
* ``TERRAFORM_PLUGIN_DIR``: a filesystem mirror, or a provider plugin cache (``plugin_cache_dir``:
  the same layout), holding ``registry.terraform.io/hashicorp/aws/<version>/<os>_<arch>/``
  (default ``/opt/tf-plugins``). The version must be the one the environments' committed
  ``.terraform.lock.hcl`` pins, as ``init -lockfile=readonly`` installs only that.

The tests write their own CLI configuration file (named by ``TF_CLI_CONFIG_FILE`` for the
processes they start), never the user's ``~/.terraformrc``, and run on a copy of
``infra/terraform`` so that nothing (``.terraform/``, state, override files) lands in the tree.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

TERRAFORM_TREE = Path(__file__).parents[1] / "infra" / "terraform"
PROVIDER = "registry.terraform.io/hashicorp/aws"


def terraform_bin() -> str | None:
    return os.environ.get("TERRAFORM_BIN") or shutil.which("terraform")


def plugin_dir() -> Path:
    return Path(os.environ.get("TERRAFORM_PLUGIN_DIR", "/opt/tf-plugins"))


def locked_version() -> str:
    lock = (TERRAFORM_TREE / "envs" / "staging" / ".terraform.lock.hcl").read_text()
    found = re.search(r'provider "' + re.escape(PROVIDER) + r'" \{\s*version\s*=\s*"([^"]+)"', lock)
    assert found, "envs/staging/.terraform.lock.hcl names no AWS provider version"
    return found.group(1)


def _platform() -> str:
    machine = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
    return f"{platform.system().lower()}_{machine}"


def unavailable() -> str | None:
    """Why the CLI tests cannot run here (None when they can): the reason a skip gives."""
    binary = terraform_bin()
    if binary is None:
        return "no terraform binary (on PATH or TERRAFORM_BIN)"
    version = locked_version()
    provider = plugin_dir() / PROVIDER / version / _platform()
    if not any(provider.glob("terraform-provider-aws_*")):
        where = provider.parents[1]
        return f"no AWS provider {version} for {_platform()} in {where} (set TERRAFORM_PLUGIN_DIR to a mirror or plugin cache)"
    return None


def workspace(tmp: Path) -> Path:
    """A copy of infra/terraform (symlinks kept: the envs link to _shared) and a CLI config; returns the copy."""
    tree = tmp / "terraform"
    shutil.copytree(
        TERRAFORM_TREE, tree, symlinks=True, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "terraform.tfvars")
    )
    mirror = plugin_dir()
    (tmp / "terraform.rc").write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["{PROVIDER}"]\n  }}\n'
        f'  direct {{\n    exclude = ["{PROVIDER}"]\n  }}\n'
        "}\n"
    )
    return tree


def env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment for terraform: our CLI config, no prompts, no colour, no checkpoint call home."""
    return {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(tmp / "terraform.rc"),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
        **extra,
    }


def terraform(
    cwd: Path, tmp: Path, *args: str, check: bool = True, timeout: int = 600, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    binary = terraform_bin()
    assert binary is not None
    result = subprocess.run(
        [binary, *args, "-no-color"],
        cwd=cwd,
        env=env(tmp, **(extra_env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"terraform {' '.join(args)} in {cwd} exited {result.returncode}:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
        )
    return result
