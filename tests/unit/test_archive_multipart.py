"""S3Archive's upload of a large bundle: parts with their own SHA-256, metadata naming the whole, abort on failure."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from courier.adapters import s3 as s3_adapter
from courier.adapters.s3 import S3Archive
from courier.bundle import Body, Bundle
from courier.errors import StorageUnavailableError, TimeBudgetError


class RecordingS3:
    """The calls S3Archive makes, answered like S3; ``fail_part`` makes that part's upload fail."""

    def __init__(self, fail_part: int | None = None, exists: bool = False) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_part = fail_part
        self.exists = exists  # the key holds an object: a write with If-None-Match "*" gets S3's 412

    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> dict[str, Any]:
            self.calls.append((name, kwargs))
            if name == "upload_part" and kwargs["PartNumber"] == self.fail_part:
                raise ClientError({"Error": {"Code": "InternalError"}}, "UploadPart")
            if name in ("put_object", "complete_multipart_upload") and self.exists and kwargs.get("IfNoneMatch") == "*":
                raise ClientError({"Error": {"Code": "PreconditionFailed"}}, name)
            return {"UploadId": "u-1", "ETag": f'"etag-{kwargs.get("PartNumber")}"'}

        return call

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for called, kwargs in self.calls if called == name]


def bundle_of(data: bytes) -> Bundle:
    return Bundle("id-1", datetime(2026, 11, 26, tzinfo=UTC), Body.of(data), hashlib.sha256(data).hexdigest(), {}, (), 0)


@pytest.fixture(autouse=True)
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_adapter, "MULTIPART_THRESHOLD", 100)
    monkeypatch.setattr(s3_adapter, "PART_BYTES", 64)


def test_a_bundle_above_the_threshold_goes_in_parts_each_with_its_sha256_and_the_whole_in_the_metadata():
    data = bytes(range(200))
    client = RecordingS3()
    S3Archive(client, "archive").put("bundles/k.tar.gz", bundle_of(data))
    (created,) = client.named("create_multipart_upload")
    assert created["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest() and created["ChecksumAlgorithm"] == "SHA256"
    parts = client.named("upload_part")
    assert b"".join(p["Body"] for p in parts) == data and [p["PartNumber"] for p in parts] == [1, 2, 3, 4]
    assert all(p["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(p["Body"]).digest()).decode() for p in parts)
    (completed,) = client.named("complete_multipart_upload")
    assert [p["PartNumber"] for p in completed["MultipartUpload"]["Parts"]] == [1, 2, 3, 4]
    assert client.named("put_object") == []


def test_a_failed_part_aborts_the_upload_and_is_a_storage_error():
    client = RecordingS3(fail_part=2)
    with pytest.raises(StorageUnavailableError, match="part 2"):
        S3Archive(client, "archive").put("bundles/k.tar.gz", bundle_of(bytes(200)))
    assert client.named("abort_multipart_upload") == [{"Bucket": "archive", "Key": "bundles/k.tar.gz", "UploadId": "u-1"}]
    assert client.named("complete_multipart_upload") == []


def test_a_bundle_up_to_the_threshold_goes_in_one_put_with_the_whole_objects_sha256():
    data = bytes(100)
    client = RecordingS3()
    S3Archive(client, "archive").put("bundles/k.tar.gz", bundle_of(data))
    (put,) = client.named("put_object")
    assert put["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert put["ContentLength"] == 100 and put["Body"].read() == data


def test_every_bundle_write_is_write_once():
    for size, write in ((100, "put_object"), (200, "complete_multipart_upload")):
        client = RecordingS3()
        S3Archive(client, "archive").put("bundles/k.tar.gz", bundle_of(bytes(size)))
        (call,) = client.named(write)
        assert call["IfNoneMatch"] == "*", write  # the archive's bucket policy refuses a bundle write without it


@pytest.mark.parametrize("size", [100, 200])
def test_a_bundle_archived_already_is_not_overwritten_and_its_retry_goes_on(size):
    # The key is the content's SHA-256: an existing object there holds these very bytes.
    client = RecordingS3(exists=True)
    S3Archive(client, "archive").put("bundles/k.tar.gz", bundle_of(bytes(size)))
    if size > 100:  # the refused upload's parts are dropped, not left to the lifecycle
        assert client.named("abort_multipart_upload") == [{"Bucket": "archive", "Key": "bundles/k.tar.gz", "UploadId": "u-1"}]


def test_a_get_whose_body_will_not_close_still_gives_its_bytes():
    class Unclosable:
        def __init__(self) -> None:
            self.data = b"all of it"

        def read(self, size: int | None = None) -> bytes:
            data, self.data = self.data, b""
            return data

    client = RecordingS3()
    client.get_object = lambda **_: {"ContentLength": 9, "Body": Unclosable()}  # type: ignore[method-assign]
    stream = S3Archive(client, "archive").open("bundles/k.tar.gz")
    assert stream.size == 9 and stream.body.read(100) == b"all of it"
    stream.body.close()  # the connection is simply not reused


def test_a_check_that_stops_between_parts_aborts_the_upload_and_its_error_goes_up():
    client = RecordingS3()
    calls = []

    def check() -> None:
        calls.append(1)
        if len(calls) == 3:
            raise TimeBudgetError("no time left (injected)")

    with pytest.raises(TimeBudgetError):
        S3Archive(client, "archive").put("bundles/k.tar.gz", bundle_of(bytes(200)), check=check)
    assert [p["PartNumber"] for p in client.named("upload_part")] == [1, 2]
    assert client.named("abort_multipart_upload") == [{"Bucket": "archive", "Key": "bundles/k.tar.gz", "UploadId": "u-1"}]
    assert client.named("complete_multipart_upload") == []
