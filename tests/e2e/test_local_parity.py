"""The local stack is the deployment it stands for: its defaults are the Terraform's, so what AWS delivers, it does.

A 300 MB file was dead-lettered (object_too_large) by a local stack running a 30-s function, though the deployment's
120-s function takes it: the largest file follows from the timeout and the memory. Here the stack runs with the
deployment's defaults (courier.resources), not the shorter timings of the other e2e tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile

import pytest

from conftest import wait_until
from courier import resources

pytestmark = pytest.mark.e2e

MIB = 2**20
DEPLOYMENT_DEFAULTS = {
    "batch_size": resources.BATCH_SIZE,
    "batching_window_seconds": resources.BATCHING_WINDOW_SECONDS,
    "function_timeout_seconds": resources.FUNCTION_TIMEOUT_SECONDS,
    "visibility_timeout_seconds": resources.VISIBILITY_TIMEOUT_SECONDS,
}


def test_a_300_mb_upload_is_delivered_whole_with_the_deployments_default_settings(stack_factory, tmp_path):
    stack = stack_factory(**DEPLOYMENT_DEFAULTS)
    assert [name for name, _, _ in stack.config.differences()] == ["concurrency", "breaker recovery (s)", "controller period (s)"]
    source = tmp_path / "large.bin"
    digest = hashlib.sha256()
    with source.open("wb") as out:
        for _ in range(300):
            block = os.urandom(MIB)  # does not compress: the bundle is as large as the file
            digest.update(block)
            out.write(block)
    s3 = stack.session.client("s3")
    s3.upload_file(str(source), stack.resources.landing_bucket, "exports/large.bin")
    source.unlink()
    assert wait_until(lambda: stack.fake_nifi.state.stats()["distinct_files"] == 1, timeout=240)
    assert stack.depths()[2] == 0  # not dead-lettered (object_too_large, before)

    (received,) = stack.fake_nifi.state.bundles
    stored = stack.state_dir / "received" / f"{received.sha256}.tar.gz"
    with tarfile.open(stored, "r:gz") as tar:
        (entry,) = json.load(tar.extractfile("manifest.json"))["files"]
        member = tar.extractfile(entry["member"])
        delivered = hashlib.sha256()
        while chunk := member.read(8 * MIB):
            delivered.update(chunk)
    assert entry["size"] == 300 * MIB and delivered.hexdigest() == digest.hexdigest()
