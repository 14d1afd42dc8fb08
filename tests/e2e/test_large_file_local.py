"""A bundle archived by multipart upload on the local stack, under the emulator's IAM enforcement of the stack's policies."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile

import pytest

from conftest import wait_until
from courier.adapters import s3 as s3_adapter

MIB = 2**20


def test_a_bundle_above_the_multipart_threshold_is_archived_in_parts_and_delivered_whole(local_stack, monkeypatch):
    monkeypatch.setattr(s3_adapter, "MULTIPART_THRESHOLD", 8 * MIB)  # the function runs in this process
    monkeypatch.setattr(s3_adapter, "PART_BYTES", 5 * MIB)
    content = os.urandom(12 * MIB)  # does not compress: a 12 MiB bundle, in 3 parts
    s3 = local_stack.session.client("s3")
    s3.put_object(Bucket=local_stack.resources.landing_bucket, Key="exports/large.bin", Body=content)
    assert wait_until(lambda: local_stack.fake_nifi.state.stats()["distinct_files"] == 1, timeout=60)

    (received,) = local_stack.fake_nifi.state.bundles
    stored = local_stack.state_dir / "received" / f"{received.sha256}.tar.gz"
    with tarfile.open(stored, "r:gz") as tar:
        (entry,) = json.load(tar.extractfile("manifest.json"))["files"]
        assert tar.extractfile(entry["member"]).read() == content
    archive = local_stack.resources.archive_bucket
    (key,) = [o["Key"] for o in s3.list_objects_v2(Bucket=archive, Prefix="bundles/")["Contents"]]
    head = s3.head_object(Bucket=archive, Key=key)
    assert head["ETag"].strip('"').endswith("-3") and head["Metadata"]["sha256"] == received.sha256
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == received.sha256


@pytest.fixture(autouse=True)
def _no_leftover_parts(local_stack):
    yield
    s3 = local_stack.session.client("s3")
    assert s3.list_multipart_uploads(Bucket=local_stack.resources.archive_bucket).get("Uploads", []) == []
