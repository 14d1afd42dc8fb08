"""Replay archived bundles to NiFi, and audit the archive (``courier replay``, ``courier archive verify``).

The archived bundle is the authoritative record. Replaying it is the official
recovery procedure: restore it from Glacier / Deep Archive if needed, check
its bytes against the SHA-256 stored with it, and POST it exactly as the
aggregator did, plus ``X-Courier-Replay: true``.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from courier.adapters.s3 import DELIVERED_TAG, SHA256_METADATA
from courier.bundle import INDEX_PREFIX, MANIFEST_NAME, read_manifest
from courier.errors import CourierError, DeliveryError, ReplayHaltedError, RetryableError
from courier.ledger.base import COMPLETE, BaseLedger

COLD_CLASSES = {"GLACIER", "DEEP_ARCHIVE"}
# How long S3 says restores take (upper bounds), to tell the operator when to come back.
RESTORE_HOURS = {("DEEP_ARCHIVE", "Standard"): 12, ("DEEP_ARCHIVE", "Bulk"): 48, ("GLACIER", "Standard"): 5, ("GLACIER", "Bulk"): 12}
_ONGOING = re.compile(r'ongoing-request="(true|false)"')


class Outcome(enum.Enum):
    SENT = "sent"
    WOULD_SEND = "would send"
    RESTORE_STARTED = "restore started"
    RESTORE_IN_PROGRESS = "restore in progress"
    HASH_MISMATCH = "hash mismatch"
    MISSING = "missing"
    FAILED = "failed"


@dataclass
class BundleResult:
    key: str
    outcome: Outcome
    detail: str = ""
    files: int = 0
    bytes: int = 0


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour <= end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def _list(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys


def bundles_between(s3: Any, bucket: str, prefix: str, start: datetime, end: datetime) -> list[str]:
    """Archive keys in the hour partitions from ``start`` to ``end`` (inclusive), listed a day at a time."""
    hours = {f"{prefix}/{h:%Y/%m/%d/%H}/" for h in hours_between(start, end)}
    days = sorted({h[: -len("HH/")] for h in hours})
    keys: list[str] = []
    for day in days:
        keys.extend(k for k in _list(s3, bucket, day) if k.endswith(".tar.gz") and k[: len(day) + 3] in hours)
    return keys


def was_delivered(s3: Any, bucket: str, key: str) -> bool:
    tags = s3.get_object_tagging(Bucket=bucket, Key=key).get("TagSet", [])
    return any(t["Key"] == DELIVERED_TAG and t["Value"] == "true" for t in tags)


def only_delivered(s3: Any, bucket: str, keys: list[str]) -> tuple[list[str], list[str]]:
    """(delivered, never acknowledged) among ``keys``."""
    with ThreadPoolExecutor(max_workers=16) as pool:
        flags = list(pool.map(lambda k: was_delivered(s3, bucket, k), keys))
    return [k for k, f in zip(keys, flags, strict=True) if f], [k for k, f in zip(keys, flags, strict=True) if not f]


def bundles_of_file(
    s3: Any, archive_bucket: str, ledger: BaseLedger | None, bucket: str, key: str, start: datetime, end: datetime
) -> tuple[list[str], str]:
    """The bundle(s) that delivered ``bucket/key``: from the ledger while it remembers, else the index."""
    if ledger is not None:
        found = sorted({r.bundle_key for r in ledger.lookup(bucket, key) if r.status == COMPLETE and r.bundle_key})
        if found:
            return found, "ledger"
    index_keys = [k for hour in hours_between(start, end) for k in _list(s3, archive_bucket, f"{INDEX_PREFIX}/{hour:%Y/%m/%d/%H}/")]

    def search(index_key: str) -> set[str]:
        body = s3.get_object(Bucket=archive_bucket, Key=index_key)["Body"].read().decode("utf-8")
        hits = set()
        for line in body.splitlines():
            entry = json.loads(line)
            if entry["bucket"] == bucket and entry["key"] == key:
                hits.add(entry["bundle_key"])
        return hits

    with ThreadPoolExecutor(max_workers=16) as pool:
        found_in_index = sorted(set().union(*pool.map(search, index_keys))) if index_keys else []
    # The index is written at archive time, before delivery: keep the bundles NiFi acknowledged.
    return only_delivered(s3, archive_bucket, found_in_index)[0], "index"


def restore_state(head: dict[str, Any]) -> str:
    """'ready' (readable now), 'in-progress', or 'cold' (needs a restore)."""
    if head.get("StorageClass") not in COLD_CLASSES:
        return "ready"
    match = _ONGOING.search(head.get("Restore") or "")
    if match is None:
        return "cold"
    return "in-progress" if match.group(1) == "true" else "ready"


@dataclass
class Replayer:
    s3: Any
    bucket: str
    post: Callable[..., int]  # NiFiClient.post, behind the breaker
    admits: Callable[[], bool]  # the breaker's check
    tier: str = "Standard"
    restore_days: int = 7
    dry_run: bool = False
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def replay(self, key: str) -> BundleResult:
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return BundleResult(key, Outcome.MISSING, "no such bundle in the archive")
            raise
        state = restore_state(head)
        if state != "ready":
            return self._restore(key, head, state)
        expected = (head.get("Metadata") or {}).get(SHA256_METADATA)
        if self.dry_run:
            return BundleResult(key, Outcome.WOULD_SEND, f"sha256 {expected}", bytes=int(head.get("ContentLength", 0)))
        data = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        actual = hashlib.sha256(data).hexdigest()
        if not expected or actual != expected:
            return BundleResult(key, Outcome.HASH_MISMATCH, f"metadata sha256 {expected}, bytes hash to {actual}", bytes=len(data))
        manifest = read_manifest(data)
        if not self.admits():
            raise ReplayHaltedError("NiFi circuit is open: not replaying until it recovers (see `courier status`)")
        try:
            self.post(data, actual, manifest["bundle_id"], manifest["file_count"], key, replay=True)
        except DeliveryError as exc:
            if isinstance(exc, RetryableError):
                raise ReplayHaltedError(f"NiFi did not take the replay: {exc}") from exc
            return BundleResult(key, Outcome.FAILED, str(exc), manifest["file_count"], len(data))
        except CourierError as exc:
            raise ReplayHaltedError(str(exc)) from exc
        return BundleResult(key, Outcome.SENT, f"sha256 {actual}", manifest["file_count"], len(data))

    def _restore(self, key: str, head: dict[str, Any], state: str) -> BundleResult:
        storage = head.get("StorageClass", "DEEP_ARCHIVE")
        expected_by = self.clock() + timedelta(hours=RESTORE_HOURS.get((storage, self.tier), 48))
        if state == "in-progress":
            return BundleResult(key, Outcome.RESTORE_IN_PROGRESS, f"{storage} restore already running")
        if self.dry_run:
            return BundleResult(key, Outcome.WOULD_SEND, f"{storage}: would start a {self.tier} restore first")
        self.s3.restore_object(
            Bucket=self.bucket, Key=key, RestoreRequest={"Days": self.restore_days, "GlacierJobParameters": {"Tier": self.tier}}
        )
        return BundleResult(key, Outcome.RESTORE_STARTED, f"{storage} {self.tier} restore started, expected by {expected_by:%Y-%m-%d %H:%M} UTC")

    def is_restored(self, key: str) -> bool:
        return restore_state(self.s3.head_object(Bucket=self.bucket, Key=key)) == "ready"


# --- archive verify -------------------------------------------------------------


@dataclass
class Finding:
    key: str
    problem: str


def verify_bundle(s3: Any, bucket: str, key: str, deep: bool) -> list[Finding]:
    """Metadata hash vs S3's stored checksum; with ``deep`` also the bytes and every manifest entry."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
        attributes = s3.get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=["Checksum", "ObjectSize"])
    except (ClientError, BotoCoreError) as exc:
        return [Finding(key, f"unreadable: {exc}")]
    findings = []
    expected = (head.get("Metadata") or {}).get(SHA256_METADATA)
    if not expected:
        return [Finding(key, "missing sha256 metadata")]
    stored = (attributes.get("Checksum") or {}).get("ChecksumSHA256")
    if not stored:
        findings.append(Finding(key, "S3 holds no SHA-256 checksum for this object"))
    elif base64.b64decode(stored).hex() != expected:
        findings.append(Finding(key, f"metadata sha256 {expected} differs from S3's checksum {base64.b64decode(stored).hex()}"))
    if not deep:
        return findings
    if restore_state(head) != "ready":
        return findings  # checked by metadata only until restored
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        findings.append(Finding(key, f"bytes hash to {actual}, metadata says {expected}"))
        return findings
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            manifest = json.load(tar.extractfile(MANIFEST_NAME))  # type: ignore[arg-type]
            for entry in manifest["files"]:
                member = tar.extractfile(entry["member"])
                digest = hashlib.sha256(member.read()).hexdigest() if member else None
                if digest != entry["sha256"]:
                    findings.append(Finding(key, f"member {entry['member']!r} does not match its manifest hash"))
    except (tarfile.TarError, KeyError, ValueError, OSError) as exc:
        findings.append(Finding(key, f"bundle unreadable: {type(exc).__name__}"))
    return findings


def verify_archive(s3: Any, bucket: str, keys: Iterable[str], deep: bool, workers: int = 8) -> tuple[int, list[Finding]]:
    keys = list(keys)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        findings = [f for found in pool.map(lambda k: verify_bundle(s3, bucket, k, deep), keys) for f in found]
    return len(keys), findings


def parse_when(text: str) -> datetime:
    """ISO date or date-time (UTC unless it says otherwise), or an HTTP date."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = parsedate_to_datetime(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
