"""The locks in requirements/ agree with pyproject.toml, carry hashes, and are what every install reads."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
REQ = ROOT / "requirements"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def load_packager():
    spec = importlib.util.spec_from_file_location("package_lambda", ROOT / "scripts" / "package_lambda.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pins(lock: str) -> dict[str, tuple[str, list[str]]]:
    """``name -> (version, hashes)`` of one compiled lock (backslash-continued lines joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", (REQ / lock).read_text())
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})*)", line)
        assert match, f"{lock}: not a pinned, hashed line: {line[:80]}"
        found[canonicalize_name(match[1])] = (match[2], re.findall(r"sha256:([0-9a-f]{64})", match[3]))
    return found


def requirements(*extras: str) -> list[Requirement]:
    """The project's direct requirements with these extras, its self-references (``courier[local]``) expanded."""
    wanted = [Requirement(r) for r in PROJECT["project"]["dependencies"]]
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in PROJECT["project"]["optional-dependencies"][extra]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == "courier":
                pending.extend(requirement.extras)
            else:
                wanted.append(requirement)
    return wanted


def input_file(name: str) -> list[Requirement]:
    lines = (REQ / name).read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


BUILD = [Requirement(r) for r in PROJECT["build-system"]["requires"]]
LOCKS = {
    "dev.txt": requirements("dev") + input_file("build.in") + BUILD,
    "run.txt": requirements("local", "report") + input_file("build.in") + BUILD,
    "lambda.txt": [Requirement(r) for r in load_packager().runtime_requirements()],
    "checkov.txt": input_file("checkov.in") + input_file("build.in"),
}


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_direct_dependency_is_pinned_in_the_lock_within_its_range(lock):
    pinned = pins(lock)
    for requirement in LOCKS[lock]:
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement} is not in requirements/{lock}: run make lock"
        assert requirement.specifier.contains(pinned[name][0], prereleases=True), (
            f"requirements/{lock} pins {name}=={pinned[name][0]}, outside pyproject's {requirement}: run make lock"
        )


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_pinned_line_carries_hashes(lock):
    unhashed = [name for name, (_, hashes) in pins(lock).items() if not hashes]
    assert not unhashed, f"requirements/{lock} pins without --hash: {unhashed}"


@pytest.mark.parametrize("lock", ["run.txt", "lambda.txt"])
def test_the_app_and_the_lambda_use_the_versions_the_tests_run_with(lock):
    tested = pins("dev.txt")
    differing = {name: version for name, (version, _) in pins(lock).items() if tested.get(name, (None,))[0] != version}
    assert not differing, f"requirements/{lock} differs from dev.txt: {differing}"


def test_the_lambda_lock_is_compiled_from_the_runtime_requirements_of_the_zip():
    assert input_file("lambda.in") == LOCKS["lambda.txt"], "requirements/lambda.in is stale: run make lock"
    assert not {"boto3", "botocore", "typer", "rich"} & set(pins("lambda.txt")), "the runtime's and the CLI's packages stay out"


def makefile_installs() -> list[str]:
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if "pip install" in line]


def test_every_install_in_the_makefile_reads_a_lock_and_checks_hashes():
    installs = makefile_installs()
    assert len(installs) >= 5
    for line in installs:
        locked = "--require-hashes -r $(REQ)/" in line
        the_project = "--no-deps" in line and line.endswith("-e .")
        lock_tool = line.startswith("test -x $(LOCK_VENV)/bin/pip-compile")  # make lock's own pip-tools, in its own venv
        assert locked or the_project or lock_tool, f"unlocked install in the Makefile: {line}"
    for target in ("run.txt", "dev.txt", "checkov.txt"):
        assert any(f"--require-hashes -r $(REQ)/{target}" in line for line in installs), target


def test_each_install_reruns_when_its_lock_changes():
    text = (ROOT / "Makefile").read_text()
    for stamp, lock in [
        ("$(VENV)/.installed:", "run.txt"),
        ("$(VENV)/.installed-dev:", "dev.txt"),
        ("$(CHECKOV_VENV)/.installed:", "checkov.txt"),
    ]:
        (rule,) = [line for line in text.splitlines() if line.startswith(stamp)]
        assert f"$(REQ)/{lock}" in rule


def test_the_lambda_zip_installs_only_what_its_lock_hashes_for_its_platform(monkeypatch, tmp_path):
    packager = load_packager()
    calls = []
    monkeypatch.setattr(packager.subprocess, "run", lambda argv, **_: calls.append(argv) or subprocess.CompletedProcess(argv, 0))
    monkeypatch.setattr(packager.shutil, "copytree", lambda *a, **k: None)
    packager.install(tmp_path, "3.12", "manylinux2014_aarch64")
    (argv,) = calls
    assert argv[argv.index("--requirement") + 1] == str(REQ / "lambda.txt")
    assert {"--require-hashes", "--only-binary=:all:"} <= set(argv)
    assert argv[argv.index("--platform") + 1] == "manylinux2014_aarch64" and argv[argv.index("--python-version") + 1] == "3.12"
