"""The shipped NiFi flow, run in NiFi's own components (nifi/contract-test, Maven), answers courier's client as cases.json says.

Per supported NiFi release the Maven module loads ``nifi/courier-receiver.json``, asserts every processor and
controller service valid with exactly the flow's properties, and drives the request path over real mutual TLS
with courier's NiFiClient (``nifi/contract-test/post_cases.py``). Skipped where there is no JDK >= 21 or no
``mvn`` (a laptop without Java still passes ``make test``). Maven keeps its downloads in ``~/.m2``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from courier.local import real_nifi

ROOT = Path(__file__).parents[2]
MODULE = ROOT / "nifi" / "contract-test"
# The oldest and newest NiFi 2.x releases whose processors resolve from the Maven repository the project uses: one
# committed table of property names each (tests/unit/test_nifi_flow.py checks the flow against the same tables).
SUPPORTED = tuple(
    sorted((p.stem for p in (MODULE / "property-names").glob("*.json")), key=lambda v: tuple(int(n) for n in v.split(".")))
)


JAVA_HOME = real_nifi.java_home()
MVN = shutil.which("mvn")
pytestmark = [
    pytest.mark.slow,  # Maven builds and runs the flow in each NiFi release
    pytest.mark.skipif(
        JAVA_HOME is None or MVN is None, reason="NiFi contract test needs a JDK >= 21 and mvn on PATH (not found)"
    ),
]


@pytest.mark.timeout(1200)  # a cold ~/.m2 downloads NiFi's jars first; warm, one release takes ~30 s
@pytest.mark.parametrize("version", SUPPORTED)
def test_flow_is_valid_and_answers_courier_client_in_nifi_release(version: str) -> None:
    env = {**os.environ, "JAVA_HOME": str(JAVA_HOME)}
    run = subprocess.run(
        [MVN, "-B", "-q", "-f", str(MODULE / "pom.xml"), "test", f"-Dnifi.version={version}", f"-Dpython={sys.executable}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1150,
    )
    assert run.returncode == 0, f"NiFi {version} contract test failed:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"

    results = json.loads((MODULE / "target" / "contract-results.json").read_text())
    for case in json.loads((MODULE / "cases.json").read_text()):
        assert results[case["name"]] == {"status": [case["expect_status"]] * case["repeat"], "kept": case["expect_kept"]}, case

    # The committed table of property names (read by tests/unit/test_nifi_flow.py) is what this release's jars declare.
    generated = json.loads((MODULE / "target" / "property-names.json").read_text())
    committed = json.loads((MODULE / "property-names" / f"{version}.json").read_text())
    assert generated == committed, f"refresh nifi/contract-test/property-names/{version}.json from target/property-names.json"
