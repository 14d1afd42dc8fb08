"""The flow's property names, read against NiFi's source for the releases the contract test cannot run.

``nifi/contract-test/check_source_names.py`` reads each component's source at every release tag (and HEAD) and
reports a property or relationship the flow uses that the source does not declare. It needs a git directory of
apache/nifi: ``NIFI_GIT_DIR`` names one (a bare clone is enough), ``NIFI_GIT_REFS`` optionally the
refs to read (space-separated); not ``COURIER_*`` names, which the test suite clears. Without it the test skips
with one line: a source check is the weaker proof (nifi/README.md, "Supported NiFi releases"), the contract test
runs 2.3.0 and 2.6.0 for real.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "nifi" / "contract-test" / "check_source_names.py"
# The oldest 2.x, the two the contract test runs, the 2.7 renames, the newest checked release, and main.
DEFAULT_REFS = "rel/nifi-2.0.0 rel/nifi-2.2.0 rel/nifi-2.3.0 rel/nifi-2.6.0 rel/nifi-2.7.0 rel/nifi-2.11.0 HEAD"
GIT_DIR = os.environ.get("NIFI_GIT_DIR", "")


@pytest.mark.skipif(not GIT_DIR, reason="set NIFI_GIT_DIR to a git directory of apache/nifi to check its source")
def test_every_property_the_flow_sets_is_declared_in_the_source_of_each_nifi_release():
    refs = os.environ.get("NIFI_GIT_REFS", DEFAULT_REFS).split()
    for ref in refs:
        known = subprocess.run(["git", "--git-dir", GIT_DIR, "rev-parse", "--verify", "-q", ref], capture_output=True)
        assert known.returncode == 0, f"{GIT_DIR} has no {ref}"
    run = subprocess.run([sys.executable, str(SCRIPT), GIT_DIR, *refs], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count(": ok") == len(refs), run.stdout
