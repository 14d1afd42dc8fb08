"""S3 adapters: read landed files, write archived bundles, and read the archive back for the operator tools.

All take a boto3 S3 client. Errors are translated here: for the aggregator a
missing object or version is permanent, anything else (throttling, 5xx,
network) is retryable; for the operator tools a missing bundle is its own
error and anything else an :class:`~courier.errors.AwsCallError`.

Bodies are streams both ways: a GET hands its ``StreamingBody`` out (reads
translated too), a bundle goes up from its spool, in one PUT with the whole
object's SHA-256 checked by S3 up to :data:`MULTIPART_THRESHOLD`, above it by
multipart upload, one part in memory at a time, each part's SHA-256 checked by
S3 (S3 keeps no whole-object SHA-256 of a multipart object, only a composite
of the parts': the ``sha256`` metadata, set when the upload is created, still
names the whole body, known from the pass that wrote it).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from botocore.exceptions import ClientError

from courier.adapters.aws import PRECONDITION_FAILED, error_code, translated
from courier.bundle import Bundle, Check
from courier.errors import (
    ArchiveCorruptError,
    ArchiveUnavailableError,
    AwsCallError,
    BundleMissingError,
    CourierError,
    ObjectMissingError,
    ObjectSupersededError,
    ObjectTooLargeError,
    ObjectUnreadableError,
    StorageUnavailableError,
)
from courier.events import ObjectRef
from courier.ports import ArchivedObject, ObjectStream
from courier.resources import DELIVERED_TAG

SHA256_METADATA = "sha256"  # x-amz-meta-sha256 on every archived bundle
# Bundles are archived before delivery, so the archive also holds attempts NiFi never
# acknowledged; this tag marks the ones it did, so replays by time range skip the others.
# (The landing bucket needs no such tag: its lifecycle, resources.landing_lifecycle, keeps every revision
# while a message can name it.)
DELIVERED = {"Key": DELIVERED_TAG, "Value": "true"}
# Bundles up to this go up in one PUT (S3 checks the whole object's SHA-256); bigger ones by multipart upload.
MULTIPART_THRESHOLD = 256 * 1024 * 1024
PART_BYTES = 16 * 1024 * 1024  # one part in memory at a time; 10,000 parts of it reach 160 GiB


class _TranslatedBody:
    """A GET's body whose broken reads raise the GET's own error (``StorageUnavailableError`` unless told)."""

    def __init__(self, body: Any, action: str, error: Callable[[str], CourierError] = StorageUnavailableError) -> None:
        self.body = body
        self.action = action
        self.error = error

    def read(self, size: int = -1) -> bytes:
        with translated(self.action, self.error):
            chunk: bytes = self.body.read(size if size >= 0 else None)
        return chunk

    def close(self) -> None:
        try:
            self.body.close()
        except Exception:  # noqa: BLE001 - a body that will not close (its connection dropped) leaves nothing to undo
            return


@contextmanager
def _archived_already_is_done() -> Iterator[None]:
    """S3's 412 to a write with ``If-None-Match: *``: the key exists; for a content-addressed bundle, done."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) not in PRECONDITION_FAILED:
            raise


def _storage_errors(action: str) -> AbstractContextManager[None]:
    """Throttling, 5xx and network errors become one retryable error."""
    return translated(action, StorageUnavailableError)


def _archive_errors(action: str) -> AbstractContextManager[None]:
    """The archive's failures: never about one uploaded object, so one is enough to count as an S3 outage."""
    return translated(action, ArchiveUnavailableError)


# What the operator is told about each code of an object courier cannot read (docs/runbooks/dlq.md).
_UNREADABLE_HINTS = {
    "InvalidObjectState": "an archived storage class (GLACIER, DEEP_ARCHIVE); restore it or upload it as STANDARD",
    "InvalidRequest": "encrypted with a customer-provided key (SSE-C); upload it without one",
    "AccessDenied": "a KMS key or an ACL courier may not use; upload it under the bucket's own key",
    "403": "a KMS key or an ACL courier may not use; upload it under the bucket's own key",
    "NoSuchBucket": "the bucket is not there",
}


class S3Landing:
    """The landing bucket as the aggregator reads it: the exact revision an event names.

    Parameters
    ----------
    client
        A boto3 S3 client.
    max_object_bytes
        The ceiling: a file longer than this is refused (:class:`ObjectTooLargeError`) without reading its body.

    Example
    -------
    >>> landing = S3Landing(boto3.client("s3"), max_object_bytes=2 * 1024**3)  # doctest: +SKIP
    >>> stream = landing.open(ref)  # doctest: +SKIP
    >>> first = stream.body.read(65536)  # doctest: +SKIP
    """

    def __init__(self, client: Any, max_object_bytes: int) -> None:
        self.client = client
        self.max_object_bytes = max_object_bytes

    def open(self, ref: ObjectRef) -> ObjectStream:
        """The exact revision the event names, to read as a stream (its length from the GET's ContentLength)."""
        # Exactly the revision the event names: by version, else by content (If-Match on its eTag).
        # Without a condition an overwrite before the GET would deliver new content under the old identity.
        args: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
        if ref.version_id:
            args["VersionId"] = ref.version_id
        elif ref.etag:
            args["IfMatch"] = f'"{ref.etag}"'
        action = f"landing GET of {ref.identity}"
        missing = ObjectMissingError(f"{ref.identity} no longer exists in the landing bucket")
        superseded = ObjectSupersededError(f"{ref.identity} was overwritten before it was fetched: that revision is gone")

        def unreadable(code: str) -> ObjectUnreadableError:
            hint = _UNREADABLE_HINTS.get(code, "its KMS key cannot be used")
            return ObjectUnreadableError(f"{ref.identity} cannot be read (S3 {code}): {hint}")

        with translated(action, StorageUnavailableError, missing=missing, superseded=superseded, unreadable=unreadable):
            response = self.client.get_object(**args)
        length = int(response.get("ContentLength", 0))
        if length > self.max_object_bytes:
            response["Body"].close()
            raise ObjectTooLargeError(f"{ref.identity} is {length} bytes, above the ceiling of {self.max_object_bytes}")
        return ObjectStream(
            size=length,
            body=_TranslatedBody(response["Body"], action),
            version_id=response.get("VersionId") or ref.version_id,
            etag=(response.get("ETag") or "").strip('"') or ref.etag,
        )


class S3Archive:
    """The archive bucket as the aggregator writes it: bundles, their index lines, the delivered tag.

    Parameters
    ----------
    client
        A boto3 S3 client.
    bucket
        The archive bucket.
    kms_key_id
        KMS key for SSE-KMS; None means SSE-S3 (AES256).

    Example
    -------
    >>> archive = S3Archive(boto3.client("s3"), "courier-archive")  # doctest: +SKIP
    >>> archive.put("bundles/2026/11/26/10/<sha256>.tar.gz", bundle)  # doctest: +SKIP
    """

    def __init__(self, client: Any, bucket: str, kms_key_id: str | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.kms_key_id = kms_key_id

    def put_index(self, key: str, lines: bytes) -> None:
        """One JSON line per file of a bundle (see ``bundle.index_key``)."""
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": lines, "ContentType": "application/x-ndjson"}
        self._encryption(args)
        with _archive_errors(f"archive index PUT of {key}"):
            self.client.put_object(**args)

    def open(self, key: str) -> ObjectStream:
        """An archived bundle to stream (it stays in a readable class until delivered)."""
        action = f"archive GET of {key}"
        missing = ArchiveCorruptError(f"archived bundle {key} is missing")
        with translated(action, ArchiveUnavailableError, missing=missing):
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        return ObjectStream(
            size=int(response.get("ContentLength", 0)), body=_TranslatedBody(response["Body"], action, ArchiveUnavailableError)
        )

    def mark_delivered(self, key: str) -> None:
        with _archive_errors(f"tagging {key} as delivered"):
            self.client.put_object_tagging(Bucket=self.bucket, Key=key, Tagging={"TagSet": [DELIVERED]})

    def _encryption(self, args: dict[str, Any]) -> None:
        if self.kms_key_id:
            args.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=self.kms_key_id)
        else:
            args["ServerSideEncryption"] = "AES256"

    def put(self, key: str, bundle: Bundle, check: Check | None = None) -> None:
        """Write the bundle from its spool; S3 verifies its SHA-256 (the whole object's, or each part's) on the way.

        Write-once: the write carries ``If-None-Match: *`` (the archive's bucket policy
        refuses a bundle write without it), so an archived bundle is never overwritten. A
        key that exists already holds these very bytes (the key is the content's SHA-256: a
        retry of a bundle whose invocation died after archiving it), and S3's 412 for it is
        success. ``check`` is called before each part of a multipart upload: when it raises
        (the invocation's time is short) the upload is aborted and its error goes up.
        """
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "ContentType": "application/gzip",
            "ChecksumAlgorithm": "SHA256",
            "Metadata": {
                SHA256_METADATA: bundle.sha256,
                "bundle-id": bundle.bundle_id,
                "file-count": str(bundle.file_count),
            },
        }
        self._encryption(args)
        if bundle.size > MULTIPART_THRESHOLD:
            self._put_multipart(key, bundle, args, check)
            return
        checksum = base64.b64encode(bytes.fromhex(bundle.sha256)).decode("ascii")
        with _archive_errors(f"archive PUT of {key}"), _archived_already_is_done():
            self.client.put_object(
                **args, Body=bundle.body.reader(), ContentLength=bundle.size, ChecksumSHA256=checksum, IfNoneMatch="*"
            )

    def _put_multipart(self, key: str, bundle: Bundle, args: dict[str, Any], check: Check | None = None) -> None:
        """One part read from the spool at a time; an upload that fails is aborted (no parts left to pay for)."""
        action = f"archive multipart upload of {key}"
        with _archive_errors(action):
            upload_id = self.client.create_multipart_upload(**args)["UploadId"]
        where = {"Bucket": self.bucket, "Key": key, "UploadId": upload_id}
        parts = []
        try:
            for number, part in enumerate(bundle.body.chunks(PART_BYTES), start=1):
                if check is not None:
                    check()
                checksum = base64.b64encode(hashlib.sha256(part).digest()).decode("ascii")
                with _archive_errors(f"{action} (part {number})"):
                    answer = self.client.upload_part(
                        **where, PartNumber=number, Body=part, ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum
                    )
                parts.append({"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": checksum})
                del part  # before the next part is read: one part in memory, not two
            with _archive_errors(action):
                try:
                    self.client.complete_multipart_upload(**where, MultipartUpload={"Parts": parts}, IfNoneMatch="*")
                except ClientError as exc:
                    if error_code(exc) not in PRECONDITION_FAILED:
                        raise
                    # Archived already (the same bytes, see put); S3 keeps a refused upload: drop its parts.
                    self.client.abort_multipart_upload(**where)
        except BaseException:
            try:
                with _archive_errors(f"aborting the {action}"):
                    self.client.abort_multipart_upload(**where)
            except ArchiveUnavailableError:
                pass  # the bucket's lifecycle aborts incomplete uploads after a day
            raise


class S3ArchiveReader:
    """The archive bucket as the operator tools read it (`courier replay`, `archive verify`, `status`).

    Every botocore failure becomes an :class:`~courier.errors.AwsCallError` naming
    the action; a key that names no object becomes a
    :class:`~courier.errors.BundleMissingError`, which replay reports as a missing
    bundle rather than a failure to ask.

    Parameters
    ----------
    client
        A boto3 S3 client.
    bucket
        The archive bucket.

    Example
    -------
    >>> archive_reader = S3ArchiveReader(boto3.client("s3"), "courier-archive")  # doctest: +SKIP
    >>> for key in archive_reader.keys("bundles/2026/11/26/"):  # doctest: +SKIP
    ...     print(key, archive_reader.head(key).storage_class, archive_reader.was_delivered(key))
    """

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def _pages(self, prefix: str) -> list[dict[str, Any]]:
        with translated(f"listing s3://{self.bucket}/{prefix}"):
            return list(self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix))

    def keys(self, prefix: str) -> list[str]:
        return [o["Key"] for page in self._pages(prefix) for o in page.get("Contents", [])]

    def count(self, prefix: str) -> int:
        return sum(page.get("KeyCount", 0) for page in self._pages(prefix))

    def head(self, key: str) -> ArchivedObject:
        missing = BundleMissingError(f"no object {key} in s3://{self.bucket}")
        with translated(f"HEAD of archived {key}", missing=missing):
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        return ArchivedObject(
            key=key,
            size=int(head.get("ContentLength", 0)),
            multipart="-" in str(head.get("ETag", "")),
            sha256=(head.get("Metadata") or {}).get(SHA256_METADATA) or None,
            storage_class=head.get("StorageClass"),
            restore=head.get("Restore"),
        )

    def read(self, key: str) -> bytes:
        """A small object whole (index lines); bundles are streamed with :meth:`open`."""
        with translated(f"GET of archived {key}"):
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def open(self, key: str) -> ObjectStream:
        """An archived bundle to stream (replay, ``archive verify --deep``); broken reads are ``AwsCallError``."""
        action = f"GET of archived {key}"
        missing = BundleMissingError(f"no object {key} in s3://{self.bucket}")
        with translated(action, missing=missing):
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        return ObjectStream(
            size=int(response.get("ContentLength", 0)), body=_TranslatedBody(response["Body"], action, AwsCallError)
        )

    def restore(self, key: str, days: int, tier: str) -> None:
        with translated(f"restore of archived {key}"):
            self.client.restore_object(
                Bucket=self.bucket, Key=key, RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": tier}}
            )

    def was_delivered(self, key: str) -> bool:
        with translated(f"reading the tags of archived {key}"):
            tags = self.client.get_object_tagging(Bucket=self.bucket, Key=key).get("TagSet", [])
        return any(t["Key"] == DELIVERED_TAG and t["Value"] == "true" for t in tags)

    def stored_sha256(self, key: str) -> str | None:
        with translated(f"reading the checksum of archived {key}"):
            attributes = self.client.get_object_attributes(
                Bucket=self.bucket, Key=key, ObjectAttributes=["Checksum", "ObjectSize"]
            )
        checksum = attributes.get("Checksum") or {}
        stored = checksum.get("ChecksumSHA256")
        if not stored or checksum.get("ChecksumType") == "COMPOSITE" or "-" in stored:
            return None  # none, or a multipart upload's checksum of its parts' checksums: not the bundle's SHA-256
        # S3 keeps the checksum base64-encoded; courier's metadata and manifests are hex.
        return base64.b64decode(stored).hex()
