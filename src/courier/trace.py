"""A landing file's story (``courier trace``), from what courier records, nothing else.

* its revisions, from the landing bucket's versions (``adapters.landing.S3LandingLister``);
* its ledger records (claimed, in progress, assigned to a bundle, complete) while the
  ledger keeps them (its TTL, 7 days by default);
* the bundle(s) it went out in: from the ledger, else from the archive index
  (``index/YYYY/MM/DD/HH/*.jsonl``, written when a bundle is archived), searched from
  the revision's landing hour onward; NiFi acknowledged a bundle when its archived
  object carries the delivered tag;
* whether a message naming it sits in the DLQ, with the reason of its last failure.

Replays are not recorded anywhere courier keeps (a replay posts an archived bundle
again and leaves no mark on it), so the story cannot list them and says so.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from courier.backfill import Revision
from courier.bundle import INDEX_PREFIX
from courier.dlq import DeadLetter, list_dead_letters
from courier.ledger.base import COMPLETE, BaseLedger, LedgerRecord
from courier.ports import ArchiveReader, Queue
from courier.replay import hours_between

REPLAYS_NOTE = "not recorded (a replay re-posts an archived bundle and leaves no mark on it)"
INDEX_HOURS = 6  # a file is bundled within minutes of landing; hours more cover an outage's backlog


class Verdict(enum.Enum):
    DELIVERED = "delivered"
    PENDING = "not delivered yet"
    FAILED = "in the DLQ"


@dataclass(frozen=True)
class BundleTrace:
    """A bundle that holds the file: its archive key, SHA-256, file count and whether NiFi acknowledged it."""

    key: str
    sha256: str | None
    file_count: int | None
    delivered: bool
    delivered_at: str | None
    versions: tuple[str | None, ...]  # the file's revisions it holds (None: unversioned bucket)


@dataclass
class Story:
    """Everything courier records about ``s3://bucket/key``, and the verdict for the revision asked about.

    Parameters
    ----------
    bucket, key
        The landing object.
    version
        The revision asked about (``--version``), else the newest one listed.

    Example
    -------
    >>> story = trace("courier-landing", "in/a.csv", None, lister, ledger, reader, "bundles", dlq)  # doctest: +SKIP
    >>> story.verdict  # doctest: +SKIP
    <Verdict.DELIVERED: 'delivered'>
    """

    bucket: str
    key: str
    version: str | None
    revisions: list[Revision] = field(default_factory=list)
    ledger: list[LedgerRecord] = field(default_factory=list)
    bundles: list[BundleTrace] = field(default_factory=list)
    found_through: str = "nothing"
    dead_letters: list[DeadLetter] = field(default_factory=list)
    replays: str = REPLAYS_NOTE

    @property
    def verdict(self) -> Verdict:
        if any(b.delivered and (self.version is None or self.version in b.versions or None in b.versions) for b in self.bundles):
            return Verdict.DELIVERED
        if self.dead_letters:
            return Verdict.FAILED
        return Verdict.PENDING

    def as_dict(self) -> dict[str, Any]:
        return {
            "object": f"s3://{self.bucket}/{self.key}",
            "version": self.version,
            "verdict": self.verdict.value,
            "revisions": [{**asdict(r), "last_modified": r.last_modified.isoformat()} for r in self.revisions],
            "ledger": [_record(r) for r in self.ledger],
            "bundles": [asdict(b) for b in self.bundles],
            "bundles_found_through": self.found_through,
            "dead_letters": [d.as_dict() for d in self.dead_letters],
            "replays": self.replays,
        }


def _record(record: LedgerRecord) -> dict[str, Any]:
    return {
        "revision": record.identity.revision,
        "status": record.status,
        "bundle_key": record.bundle_key,
        "bundle_sha256": record.bundle_sha256,
        "completed_at": _iso(record.completed_at),
        "lease_until": _iso(record.lease_until) if record.lease_until else None,
        "expires_at": _iso(record.expires_at),
    }


def _iso(epoch: int | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if epoch else None


def _revision_of(record: LedgerRecord) -> str | None:
    return record.identity.revision[2:] if record.identity.revision.startswith("v:") else None


def index_entries(reader: ArchiveReader, bucket: str, key: str, since: datetime, hours: int) -> list[dict[str, Any]]:
    """The archive index's lines naming ``bucket/key``, from ``since``'s hour on for ``hours`` hours."""
    until = min(since + timedelta(hours=hours), datetime.now(UTC))
    found = []
    for hour in hours_between(since, max(since, until)):
        for index_key in reader.keys(f"{INDEX_PREFIX}/{hour:%Y/%m/%d/%H}/"):
            for line in reader.read(index_key).decode("utf-8").splitlines():
                entry = json.loads(line)
                if entry["bucket"] == bucket and entry["key"] == key:
                    found.append({**entry, "index_key": index_key})
    return found


def _bundle(
    reader: ArchiveReader, prefix: str, bundle_key: str, versions: list[str | None], completed_at: int | None
) -> BundleTrace:
    index_key = f"{INDEX_PREFIX}/{bundle_key[len(prefix) + 1 : -len('.tar.gz')]}.jsonl"
    try:
        file_count: int | None = len(reader.read(index_key).decode("utf-8").splitlines())
    except Exception:  # noqa: BLE001 - the count is a nicety; a missing index line file must not hide the rest
        file_count = None
    head = reader.head(bundle_key)
    delivered = reader.was_delivered(bundle_key)
    return BundleTrace(bundle_key, head.sha256, file_count, delivered, _iso(completed_at), tuple(dict.fromkeys(versions)))


def trace(
    bucket: str,
    key: str,
    version: str | None,
    lister: Any,
    ledger: BaseLedger | None,
    reader: ArchiveReader,
    prefix: str,
    dlq: Queue | None,
    hours: int = INDEX_HOURS,
) -> Story:
    """Collect the story of ``s3://bucket/key`` (``lister`` has ``of_key(key) -> list[Revision]``)."""
    revisions = lister.of_key(key)
    chosen = version or (revisions[0].version_id if revisions else None)
    story = Story(bucket, key, chosen, revisions)
    story.ledger = ledger.lookup(bucket, key) if ledger is not None else []
    complete = [r for r in story.ledger if r.status == COMPLETE and r.bundle_key]
    if complete:
        story.found_through = "ledger"
        held: dict[str, list[LedgerRecord]] = {}
        for record in complete:
            held.setdefault(str(record.bundle_key), []).append(record)
        story.bundles = [
            _bundle(reader, prefix, k, [_revision_of(r) for r in rs], max(r.completed_at or 0 for r in rs))
            for k, rs in held.items()
        ]
    elif revisions:
        story.found_through = "archive index"
        oldest = min(r.last_modified for r in revisions).replace(minute=0, second=0, microsecond=0)
        in_index: dict[str, list[str | None]] = {}
        for entry in index_entries(reader, bucket, key, oldest, hours):
            in_index.setdefault(entry["bundle_key"], []).append(entry.get("version_id"))
        story.bundles = [_bundle(reader, prefix, k, versions, None) for k, versions in in_index.items()]
    if dlq is not None:
        wanted = f"s3://{bucket}/{key}"
        story.dead_letters = [d for d in list_dead_letters(dlq, ledger) if wanted in d.objects]
    return story
