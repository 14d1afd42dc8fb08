"""`-m e2e` selects exactly the tests under tests/e2e, and `-m "not e2e"` none of them (tests/e2e/conftest.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# All of tests/e2e beside a unit module: what the marker takes in and leaves out. (Not an integration module:
# named together with tests/e2e, its conftest would shadow e2e's, which the e2e modules import as `conftest`.)
PATHS = ["tests/e2e", "tests/unit/test_config.py"]


def collected(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args, *PATHS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return {line.split("::")[0] for line in done.stdout.splitlines() if "::" in line}


def test_the_e2e_marker_selects_every_module_under_tests_e2e_and_nothing_else():
    e2e_modules = {str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "e2e").glob("test_*.py")}
    assert collected("-m", "e2e") == e2e_modules
    assert collected("-m", "not e2e") == {"tests/unit/test_config.py"}
