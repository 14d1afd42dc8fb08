"""S3 adapters: read landed files, write archived bundles.

Both take a boto3 S3 client. Errors are translated here: a missing object or
version is permanent, anything else (throttling, 5xx, network) is retryable.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from courier.bundle import Bundle, FetchedFile
from courier.errors import ObjectMissingError, ObjectTooLargeError, StorageUnavailableError
from courier.events import ObjectRef

_MISSING_CODES = {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}
SHA256_METADATA = "sha256"  # x-amz-meta-sha256 on every archived bundle
# Bundles are archived before delivery, so the archive also holds attempts NiFi never
# acknowledged; this tag marks the ones it did, so replays by time range skip the others.
DELIVERED_TAG = "courier-delivered"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def _storage_errors(action: str) -> Iterator[None]:
    """Throttling, 5xx and network errors of a write become one retryable error."""
    try:
        yield
    except ClientError as exc:
        raise StorageUnavailableError(f"{action} failed: {_code(exc)}") from exc
    except BotoCoreError as exc:
        raise StorageUnavailableError(f"{action} failed: {type(exc).__name__}") from exc


class LandingStore:
    def __init__(self, client: Any, max_object_bytes: int) -> None:
        self.client = client
        self.max_object_bytes = max_object_bytes

    def fetch(self, ref: ObjectRef) -> FetchedFile:
        args: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
        if ref.version_id:
            args["VersionId"] = ref.version_id
        try:
            response = self.client.get_object(**args)
            length = int(response.get("ContentLength", 0))
            if length > self.max_object_bytes:
                response["Body"].close()
                raise ObjectTooLargeError(f"{ref.identity} is {length} bytes, above the bundle limit")
            content = response["Body"].read()
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                raise ObjectMissingError(f"{ref.identity} no longer exists in the landing bucket") from exc
            raise StorageUnavailableError(f"landing GET of {ref.identity} failed: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailableError(f"landing GET of {ref.identity} failed: {type(exc).__name__}") from exc
        return FetchedFile(
            ref=ref,
            content=content,
            version_id=response.get("VersionId") or ref.version_id,
            etag=(response.get("ETag") or "").strip('"') or ref.etag,
        )


class ArchiveStore:
    def __init__(self, client: Any, bucket: str, kms_key_id: str | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.kms_key_id = kms_key_id

    def put_index(self, key: str, lines: bytes) -> None:
        """One JSON line per file of a bundle (see ``bundle.index_key``)."""
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": lines, "ContentType": "application/x-ndjson"}
        self._encryption(args)
        with _storage_errors(f"archive index PUT of {key}"):
            self.client.put_object(**args)

    def mark_delivered(self, key: str) -> None:
        with _storage_errors(f"tagging {key} as delivered"):
            self.client.put_object_tagging(
                Bucket=self.bucket, Key=key, Tagging={"TagSet": [{"Key": DELIVERED_TAG, "Value": "true"}]}
            )

    def _encryption(self, args: dict[str, Any]) -> None:
        if self.kms_key_id:
            args.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=self.kms_key_id)
        else:
            args["ServerSideEncryption"] = "AES256"

    def put(self, key: str, bundle: Bundle) -> None:
        """Write the bundle; S3 verifies ``ChecksumSHA256`` and rejects a corrupted upload."""
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": bundle.data,
            "ContentType": "application/gzip",
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": base64.b64encode(bytes.fromhex(bundle.sha256)).decode("ascii"),
            "Metadata": {
                SHA256_METADATA: bundle.sha256,
                "bundle-id": bundle.bundle_id,
                "file-count": str(bundle.file_count),
            },
        }
        self._encryption(args)
        with _storage_errors(f"archive PUT of {key}"):
            self.client.put_object(**args)
