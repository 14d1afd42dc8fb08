"""The archive is write-once against moto's S3: a bundle's key is never overwritten, and a retry's write is no error."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from courier.adapters import s3 as s3_adapter
from courier.adapters.s3 import S3Archive
from courier.bundle import Body, Bundle


def bundle_of(data: bytes) -> Bundle:
    return Bundle("id-1", datetime(2026, 11, 26, tzinfo=UTC), Body.of(data), hashlib.sha256(data).hexdigest(), {}, (), 0)


@pytest.mark.parametrize("multipart", [False, True])
def test_a_second_write_of_an_archived_bundle_leaves_the_first_and_succeeds(aws: Any, stack: Any, monkeypatch, multipart):
    if multipart:
        monkeypatch.setattr(s3_adapter, "MULTIPART_THRESHOLD", 10)
        monkeypatch.setattr(s3_adapter, "PART_BYTES", 5 * 1024 * 1024)
    s3 = aws.client("s3")
    archive = S3Archive(s3, stack.archive_bucket)
    key = "bundles/2026/11/26/00/k.tar.gz"
    archive.put(key, bundle_of(b"first bytes"))
    first = s3.head_object(Bucket=stack.archive_bucket, Key=key)
    archive.put(key, bundle_of(b"first bytes"))  # the retry of an invocation that died after archiving
    versions = s3.list_object_versions(Bucket=stack.archive_bucket, Prefix=key).get("Versions", [])
    assert [v["VersionId"] for v in versions] == [first.get("VersionId")]  # not rewritten
    assert s3.list_multipart_uploads(Bucket=stack.archive_bucket).get("Uploads", []) == []
    # moto refuses the overwrite, as S3 does: what makes the retry's write a no-op is the condition.
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=stack.archive_bucket, Key=key, Body=b"other", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    assert s3.get_object(Bucket=stack.archive_bucket, Key=key)["Body"].read() == b"first bytes"
