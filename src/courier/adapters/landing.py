"""The landing bucket as ``courier backfill`` and ``courier trace`` read it (its object versions, or an S3 Inventory
report), and as the sweep deletes delivered revisions from it.

Every botocore failure becomes an :class:`~courier.errors.AwsCallError` naming the action.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus, urlparse

from courier.adapters.aws import translated
from courier.errors import AwsCallError, InventoryError, ObjectMissingError
from courier.ports import Revision, VersionDeleteFailure
from courier.resources import DELIVERED_TAG


def _revision(version: dict[str, Any]) -> Revision:
    version_id = version.get("VersionId")
    return Revision(
        key=version["Key"],
        # An unversioned bucket lists its objects with the version id "null"; S3's events then carry none.
        version_id=None if version_id in (None, "null") else str(version_id),
        size=int(version.get("Size", 0)),
        etag=str(version.get("ETag", "")).strip('"'),
        last_modified=version["LastModified"].astimezone(UTC),
        is_latest=bool(version.get("IsLatest", True)),
    )


class S3LandingLister:
    """Lists the revisions of a landing bucket with ListObjectVersions (current and noncurrent; no delete markers).

    Parameters
    ----------
    client
        A boto3 S3 client.
    bucket
        The landing bucket.

    Example
    -------
    >>> lister = S3LandingLister(boto3.client("s3"), "courier-landing")  # doctest: +SKIP
    >>> for revision in lister.revisions("incoming/"):  # doctest: +SKIP
    ...     print(revision.key, revision.version_id, revision.last_modified)
    """

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def revisions(self, prefix: str = "") -> Iterator[Revision]:
        """In key order, each key's newest version first (ListObjectVersions' own order), page by page."""
        paginator = self.client.get_paginator("list_object_versions")
        with translated(f"listing the versions of s3://{self.bucket}/{prefix}"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for version in page.get("Versions", []):
                    yield _revision(version)

    def of_key(self, key: str) -> list[Revision]:
        """Every revision of exactly ``key``, newest first."""
        return [r for r in self.revisions(key) if r.key == key]

    def was_delivered(self, revision: Revision) -> bool:
        """Whether an earlier release's aggregator tagged this revision delivered (today's writes no tag).

        One GetObjectTagging call. Only revisions named by version are ever tagged, so an
        unversioned one is answered False without a call; so is a revision deleted meanwhile.
        """
        if revision.version_id is None:
            return False
        where = {"Bucket": self.bucket, "Key": revision.key, "VersionId": revision.version_id}
        try:
            with translated(f"s3:GetObjectTagging on s3://{self.bucket}/{revision.key}", missing=ObjectMissingError("gone")):
                tags = self.client.get_object_tagging(**where).get("TagSet", [])
        except ObjectMissingError:
            return False
        return any(t.get("Key") == DELIVERED_TAG and t.get("Value") == "true" for t in tags)


class S3LandingVersions:
    """Deletes exact landing revisions with DeleteObjects (``Quiet``: S3 answers only the keys it refused).

    A key XML cannot carry (a control character, ``\r``) goes alone in a DeleteObject, so that
    it neither breaks the whole request nor names another key. Each pair names its version, so
    S3 deletes that version's data and nothing else: no
    delete marker, and a newer upload of the same key stays. A version already gone is
    no error in S3's answer, so a second sweep of the same hour is harmless.

    Example
    -------
    >>> versions = S3LandingVersions(boto3.client("s3"))  # doctest: +SKIP
    >>> versions.delete_versions("courier-landing", [("incoming/a.csv", "3HL4kqtJlcpXroDTDmJ")])  # doctest: +SKIP
    []
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    def delete_versions(self, bucket: str, versions: Sequence[tuple[str, str]]) -> list[VersionDeleteFailure]:
        batch = [(key, version_id) for key, version_id in versions if xml_safe(key)]
        refused = [self._delete_one(bucket, key, version_id) for key, version_id in versions if not xml_safe(key)]
        if batch:
            objects = [{"Key": key, "VersionId": version_id} for key, version_id in batch]
            with translated(f"DeleteObjects of {len(objects)} versions in s3://{bucket}"):
                response = self.client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
            refused += [
                VersionDeleteFailure(str(e.get("Key", "")), str(e.get("VersionId", "")), str(e.get("Code", "")))
                for e in response.get("Errors", [])
            ]
        return [failure for failure in refused if failure is not None]

    def _delete_one(self, bucket: str, key: str, version_id: str) -> VersionDeleteFailure | None:
        """DeleteObject: the key travels percent-encoded in the URL, where any character survives."""
        try:
            with translated(f"DeleteObject of a version in s3://{bucket}"):
                self.client.delete_object(Bucket=bucket, Key=key, VersionId=version_id)
        except AwsCallError as exc:
            return VersionDeleteFailure(key, version_id, exc.code or "unknown")
        return None


# XML 1.0's characters, less "\r" (a parser reads it as "\n"): DeleteObjects' XML body carries only these.
_XML_UNSAFE = re.compile("[^\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(key: str) -> bool:
    """Whether DeleteObjects' XML body carries ``key`` as it is (S3 keys may hold any character).

    >>> xml_safe("in/a b&<c>.csv"), xml_safe("in/bell\\x07.csv"), xml_safe("in/cr\\r.csv")
    (True, False, False)
    """
    return _XML_UNSAFE.search(key) is None


def _s3_url(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise InventoryError(f"not an s3://bucket/key URL: {url!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def read_inventory(client: Any, manifest_url: str, prefix: str = "") -> Iterator[Revision]:
    """The revisions an S3 Inventory report lists (CSV reports only), sorted as ListObjectVersions would list them.

    The columns come from the manifest's ``fileSchema``; keys are URL-encoded in the
    CSV files, as S3 writes them. Delete markers are skipped. ORC and Parquet reports
    raise ``InventoryError``. The rows are sorted in memory, so that the checkpoint's key
    order holds: fine for millions of rows, not for billions.
    """
    bucket, key = _s3_url(manifest_url)
    with translated(f"reading the inventory manifest {manifest_url}"):
        manifest = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    if manifest.get("fileFormat", "CSV").upper() != "CSV":
        raise InventoryError(f"inventory format {manifest.get('fileFormat')} is not supported: only CSV reports are")
    columns = [c.strip() for c in manifest["fileSchema"].split(",")]
    destination = str(manifest.get("destinationBucket", bucket)).removeprefix("arn:aws:s3:::")
    rows: list[Revision] = []
    for data_file in manifest.get("files", []):
        with translated(f"reading the inventory file s3://{destination}/{data_file['key']}"):
            body = client.get_object(Bucket=destination, Key=data_file["key"])["Body"].read()
        for values in csv.reader(io.StringIO(gzip.decompress(body).decode("utf-8"))):
            row = dict(zip(columns, values, strict=False))
            if row.get("IsDeleteMarker", "false").lower() == "true":
                continue
            revision = _inventory_revision(row)
            if revision.key.startswith(prefix):
                rows.append(revision)
    rows.sort(key=lambda r: (r.key, -r.last_modified.timestamp()))
    return iter(rows)


def _inventory_revision(row: dict[str, str]) -> Revision:
    version_id = row.get("VersionId") or None
    return Revision(
        key=unquote_plus(row["Key"]),
        version_id=None if version_id == "null" else version_id,
        size=int(row.get("Size") or 0),
        etag=row.get("ETag", "").strip('"'),
        last_modified=datetime.fromisoformat(row["LastModifiedDate"].replace("Z", "+00:00")).astimezone(UTC),
        is_latest=row.get("IsLatest", "true").lower() == "true",
    )
