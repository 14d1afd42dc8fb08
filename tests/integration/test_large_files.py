"""A file above the bundle limit, end to end on moto and the HTTPS receiver: alone in its bundle, spooled to disk,
archived by multipart upload, POSTed as a plain body of known length, verified whole by the receiver; its resend
streams the archived object back through a verified spool."""

from __future__ import annotations

import hashlib
import os
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest

from courier import handler
from courier.adapters import s3 as s3_adapter
from courier.adapters.parking import SQSParkingLot
from courier.adapters.s3 import S3ArchiveReader
from courier.bundle import read_manifest
from courier.config import Settings
from courier.operator.replay import verify_bundle
from fakes import RecordingTransport

MIB = 2**20


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Multipart from 8 MiB in 5 MiB parts (S3's smallest), so a test-sized bundle goes up in several parts."""
    monkeypatch.setattr(s3_adapter, "MULTIPART_THRESHOLD", 8 * MIB)
    monkeypatch.setattr(s3_adapter, "PART_BYTES", 5 * MIB)


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    path = tmp_path / "spools"
    path.mkdir()
    return path


def large_settings(env: dict[str, str], spool_dir: Path) -> Settings:
    # The bundle limit far below the file, and a memory budget below it too: every spool goes to disk.
    return Settings.from_env(
        {**env, "COURIER_MAX_BUNDLE_BYTES": str(MIB), "COURIER_MEMORY_BUDGET_MB": "16", "COURIER_SPOOL_DIR": str(spool_dir)}
    )


def mixed(size: int) -> bytes:
    """Half text that compresses, half bytes that do not."""
    text = b"".join(b"line %d of a large export\n" % i for i in range(size // 50 + 1))[: size // 2]
    return text + os.urandom(size - len(text))


def test_a_file_above_the_bundle_limit_goes_by_multipart_upload_and_a_streamed_post_of_known_length(
    aws, env, land, fake_nifi, stack, ca_bundle, spool_dir, small_parts
):
    transport = RecordingTransport(httpx.HTTPTransport(verify=ssl.create_default_context(cafile=ca_bundle)))
    runtime = handler.build_runtime(large_settings(env, spool_dir), aws, transport=transport)
    content = mixed(30 * MIB)
    small = land("small.json", b"{}")
    large = land("exports/large.csv", content)
    result = runtime.aggregator.process([small.message("s"), large.message("l")])

    assert result.returned == []
    (alone,) = [b for _, b in result.bundles if b.file_count == 1 and b.raw_bytes == len(content)]
    key = next(k for k, b in result.bundles if b is alone)
    head = aws.client("s3").head_object(Bucket=stack.archive_bucket, Key=key)
    assert head["ETag"].strip('"').endswith(f"-{-(-head['ContentLength'] // (5 * MIB))}")  # in 5 MiB parts
    assert head["Metadata"]["sha256"] == alone.sha256
    archived = aws.client("s3").get_object(Bucket=stack.archive_bucket, Key=key)["Body"].read()
    assert hashlib.sha256(archived).hexdigest() == alone.sha256

    (sent,) = [r for r in transport.requests if r.sha256 == alone.sha256]
    assert sent.status == 200 and sent.headers["Content-Length"] == str(len(archived))
    assert "Transfer-Encoding" not in sent.headers  # a plain body: the receiver knows its length up front
    stored = fake_nifi.state.received_dir / f"{alone.sha256}.tar.gz"
    assert stored.read_bytes() == archived  # verified whole by the receiver, then stored
    (entry,) = read_manifest(archived)["files"]
    assert entry["key"] == "exports/large.csv" and entry["sha256"] == large.sha256
    assert list(spool_dir.iterdir()) == []  # disk spools are unlinked at once
    # S3 keeps only a checksum of the parts' checksums: `archive verify` checks the parts, and --deep the whole.
    reader = S3ArchiveReader(aws.client("s3"), stack.archive_bucket)
    assert reader.stored_sha256(key) is None and reader.head(key).multipart
    assert verify_bundle(reader, key, deep=True) == []


def test_the_resend_of_a_large_bundle_streams_the_archived_bytes_again(aws, env, land, fake_nifi, spool_dir, small_parts):
    runtime = handler.build_runtime(large_settings(env, spool_dir), aws)
    large = land("exports/again.bin", mixed(12 * MIB))
    fake_nifi.state.set_mode("ack-lost")  # stored, but the answer never arrives: the files stay assigned
    first = runtime.aggregator.process([large.message("l")])
    assert first.failed == {"l": "nifi_unavailable"}
    fake_nifi.state.set_mode("ok")
    second = runtime.aggregator.process([large.message("l")])
    assert second.returned == []
    shas = [b.sha256 for b in fake_nifi.state.bundles]
    assert len(shas) == 2 and shas[0] == shas[1]  # the very same archived bytes, byte for byte


@pytest.mark.slow  # 200 MB through moto and the local receiver
def test_a_200_mb_file_is_delivered_whole_and_verified_by_the_receiver(aws, env, land, fake_nifi, stack, spool_dir, monkeypatch):
    monkeypatch.setattr(s3_adapter, "MULTIPART_THRESHOLD", 64 * MIB)  # 200 MB goes up in 16 MiB parts
    runtime = handler.build_runtime(large_settings(env, spool_dir), aws)
    content = os.urandom(200 * 10**6)
    large = land("exports/200mb.bin", content)
    result = runtime.aggregator.process([large.message("l")])
    assert result.returned == []
    ((key, bundle),) = result.bundles
    (received,) = fake_nifi.state.bundles
    assert received.sha256 == bundle.sha256 and received.file_count == 1
    stored = fake_nifi.state.received_dir / f"{bundle.sha256}.tar.gz"
    digest = hashlib.sha256()
    with stored.open("rb") as body:
        while chunk := body.read(MIB):
            digest.update(chunk)
    assert digest.hexdigest() == bundle.sha256
    with stored.open("rb") as body:
        (entry,) = read_manifest(body)["files"]
    assert entry["size"] == len(content) and entry["sha256"] == hashlib.sha256(content).hexdigest()
    head: dict[str, Any] = aws.client("s3").head_object(Bucket=stack.archive_bucket, Key=key)
    assert "-" in head["ETag"] and head["Metadata"]["sha256"] == bundle.sha256


def test_deferred_messages_are_visible_again_after_the_short_delay(aws, stack, land, queued):
    land("deferred.json", b"{}")
    records = [r for r in queued() if "deferred.json" in r["body"]]
    assert records and queued() == []  # received: invisible for the queue's visibility timeout
    lot = SQSParkingLot(aws.client("sqs"), aws.client("dynamodb"), stack.breaker_table)
    lot.defer(records, 0)
    assert [r["messageId"] for r in queued()] == [r["messageId"] for r in records]
