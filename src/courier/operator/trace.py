"""A landing file's story (``courier trace``), from what courier records, nothing else.

* its revisions, from the landing bucket's versions (``adapters.landing.S3LandingLister``);
* its ledger records (claimed, in progress, assigned to a bundle, complete) while the
  ledger keeps them (its TTL);
* the bundle(s) it went out in: from the ledger, else from the archive index
  (``index/YYYY/MM/DD/HH/*.jsonl``, written when a bundle is archived). A bundle's index
  partition is the event time of its newest file, which can be long after a revision
  landed (an outage parks messages, the queue keeps them for days), so each revision
  the ledger no longer knows is searched for on its own, from its landing hour for as
  long as a message naming it can live (:data:`SEARCH_WINDOW`), a day prefix listed at
  a time, and the search stops at the first index file that names it; NiFi
  acknowledged a bundle when its archived object carries the delivered tag;
* whether a message naming it sits in the DLQ, with the reason of its last failure:
  the DLQ is peeked at without hiding anything (``dlq.find_dead_letters``).

Replays are not recorded anywhere courier keeps (a replay posts an archived bundle
again and leaves no mark on it), so the story cannot list them and says so.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from courier.bundle import INDEX_PREFIX, read_index
from courier.config import Settings
from courier.ledger.base import COMPLETE, BaseLedger, LedgerRecord
from courier.operator.dlq import DeadLetter, find_dead_letters
from courier.ports import ArchiveReader, Queue, Revision
from courier.resources import SQS_MAX_RETENTION_SECONDS

REPLAYS_NOTE = "not recorded (a replay re-posts an archived bundle and leaves no mark on it)"
# How long after landing a revision can still be bundled: a message naming it lives as long as
# SQS keeps one at most (an operator may raise the queue's retention to it during an outage; the
# DLQ keeps a moved message that long, and a redrive brings it back), plus one park (an outage
# hides a message for COURIER_PARK_SECONDS at most before it is received again).
# A dataclass keeps each field's default as the class attribute: Settings.park_seconds is COURIER_PARK_SECONDS's.
SEARCH_WINDOW = timedelta(seconds=SQS_MAX_RETENTION_SECONDS + Settings.park_seconds)
SEARCH_HOURS = int(SEARCH_WINDOW.total_seconds() + 3599) // 3600


class Verdict(enum.Enum):
    DELIVERED = "delivered"
    PENDING = "not delivered yet"
    FAILED = "in the DLQ"
    # The uploader's problem, not courier's: no revision in the bucket, no ledger record, no bundle, no DLQ message.
    NEVER_LANDED = "never landed"


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
    asked_version
        Whether ``version`` was asked about (then a DLQ message counts only if it names that revision).

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
    dlq_seen: int = 0  # messages the DLQ peek saw, of
    dlq_depth: int = 0  # the messages SQS counted in the DLQ
    asked_version: bool = False  # --version given: only DLQ messages naming that revision count
    replays: str = REPLAYS_NOTE
    unreadable_index_lines: list[str] = field(default_factory=list)  # skipped by the index search, named

    @property
    def verdict(self) -> Verdict:
        if any(b.delivered and self._holds_chosen(b) for b in self.bundles):
            return Verdict.DELIVERED
        if self.dead_letters:
            return Verdict.FAILED
        if self.never_landed:
            return Verdict.NEVER_LANDED
        return Verdict.PENDING

    @property
    def never_landed(self) -> bool:
        """Nothing anywhere names the key: no revision listed, no ledger record, no bundle, and a DLQ peek that saw
        every message (a partial peek cannot rule a message out, so the verdict stays "not delivered yet")."""
        nothing = not (self.revisions or self.ledger or self.bundles or self.dead_letters)
        return nothing and self.dlq_seen >= self.dlq_depth

    def _holds_chosen(self, bundle: BundleTrace) -> bool:
        """Whether the bundle holds the revision the verdict is about.

        Unversioned, revisions have no name a listing shows (S3's sequencer is only in events):
        the current write counts as delivered by a bundle NiFi acknowledged at or after it landed
        (``backfill.delivered_unversioned``), so an earlier upload of the same content (A, B, A) does not.
        """
        if self.version is not None:
            return self.version in bundle.versions or None in bundle.versions
        current = self.revisions[0] if self.revisions else None
        if current is None or current.version_id is not None:
            return True
        if bundle.delivered_at is None:  # found through the index, whose lines are matched by landing time too
            return True
        return _epoch(bundle.delivered_at) >= current.landed_second

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
            "dlq_messages_seen": self.dlq_seen,
            "dlq_depth": self.dlq_depth,
            "replays": self.replays,
            "unreadable_index_lines": self.unreadable_index_lines,
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


def _epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def _names(entry: dict[str, Any], bucket: str, revision: Revision) -> bool:
    """Whether an index line is this revision: by version id; unversioned, by ETag and an event at or after its
    landing, so an earlier upload of the same content (A, B, A) is not taken for it."""
    if entry.get("bucket") != bucket or entry.get("key") != revision.key:
        return False
    if revision.version_id:
        return bool(entry.get("version_id") == revision.version_id)
    if str(entry.get("etag") or "").strip('"') != revision.etag.strip('"'):
        return False
    try:
        return _epoch(str(entry.get("event_time"))) >= revision.landed_second
    except ValueError:
        return False


class IndexSearch:
    """The archive index read for one trace: each day prefix listed once, each index file read once.

    Parameters
    ----------
    reader
        The archive bucket.
    hours
        How many hours after a revision landed its bundle may be partitioned (default :data:`SEARCH_HOURS`).
    now
        The search never looks past it.

    Example
    -------
    >>> search = IndexSearch(S3ArchiveReader(s3, "courier-archive"), SEARCH_HOURS, datetime.now(UTC))  # doctest: +SKIP
    >>> search.revision("courier-landing", revision)  # doctest: +SKIP
    [{'bundle_key': 'bundles/2026/11/26/10/….tar.gz', 'version_id': '3HL4kqtJ', ...}]
    """

    def __init__(self, reader: ArchiveReader, hours: int, now: datetime) -> None:
        self.reader, self.hours, self.now = reader, hours, now
        self.listed: dict[str, list[str]] = {}
        self.read: dict[str, list[dict[str, Any]]] = {}
        self.unreadable: list[str] = []  # the index lines skipped, named (see ``bundle.read_index``)

    def _day(self, day: datetime) -> list[str]:
        prefix = f"{INDEX_PREFIX}/{day:%Y/%m/%d}/"
        if prefix not in self.listed:
            self.listed[prefix] = sorted(self.reader.keys(prefix))  # sorted by hour: the partition follows the day
        return self.listed[prefix]

    def _lines(self, index_key: str) -> list[dict[str, Any]]:
        if index_key not in self.read:
            index = read_index(self.reader.read(index_key), index_key)
            self.unreadable += index.unreadable
            self.read[index_key] = [{**entry, "index_key": index_key} for entry in index.entries]
        return self.read[index_key]

    def revision(self, bucket: str, revision: Revision) -> list[dict[str, Any]]:
        """The lines of the first index file (oldest partition first) naming ``revision``; [] if none in the window.

        Only the hours from the revision's landing hour to ``hours`` later (and not past now) are read.
        """
        first = revision.last_modified.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        last = min(first + timedelta(hours=self.hours), self.now)
        day = first.replace(hour=0)
        while day <= last:
            for index_key in self._day(day):
                hour = _partition_hour(index_key)
                if hour is None or not first <= hour <= last:
                    continue
                found = [e for e in self._lines(index_key) if _names(e, bucket, revision)]
                if found:
                    return found
            day += timedelta(days=1)
        return []


def _partition_hour(index_key: str) -> datetime | None:
    """``index/YYYY/MM/DD/HH/<sha>.jsonl`` -> that hour (UTC); None for a key of another shape."""
    try:
        return datetime.strptime(index_key[len(INDEX_PREFIX) + 1 : len(INDEX_PREFIX) + 14], "%Y/%m/%d/%H").replace(tzinfo=UTC)
    except ValueError:
        return None


def _bundle(
    reader: ArchiveReader, prefix: str, bundle_key: str, versions: list[str | None], completed_at: int | None
) -> BundleTrace:
    index_key = f"{INDEX_PREFIX}/{bundle_key[len(prefix) + 1 : -len('.tar.gz')]}.jsonl"
    try:
        file_count: int | None = len(read_index(reader.read(index_key), index_key).entries)
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
    hours: int = SEARCH_HOURS,
) -> Story:
    """Collect the story of ``s3://bucket/key`` (``lister`` has ``of_key(key) -> list[Revision]``).

    The verdict is for ``version`` when given (its bundles, and only DLQ messages naming it),
    else for the newest revision (and DLQ messages naming any revision of the key).
    """
    revisions = lister.of_key(key)
    chosen = version or (revisions[0].version_id if revisions else None)
    story = Story(bucket, key, chosen, revisions, asked_version=version is not None)
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
    known = {r.identity.revision for r in complete}
    unknown = [r for r in revisions if r.identity(bucket).revision not in known]
    if unknown:  # the ledger forgot them (its TTL), or never delivered them: the archive index tells
        search = IndexSearch(reader, hours, datetime.now(UTC))
        in_index: dict[str, list[str | None]] = {}
        for revision in unknown:
            for entry in search.revision(bucket, revision):
                in_index.setdefault(entry["bundle_key"], []).append(entry.get("version_id"))
        story.unreadable_index_lines = search.unreadable
        if in_index:
            story.found_through = "ledger and archive index" if complete else "archive index"
            from_ledger = {b.key: b for b in story.bundles}
            for k, versions in in_index.items():
                if k in from_ledger:  # the same bundle, some of its revisions forgotten by the ledger
                    b = from_ledger[k]
                    story.bundles[story.bundles.index(b)] = replace(b, versions=tuple(dict.fromkeys([*b.versions, *versions])))
                else:
                    story.bundles.append(_bundle(reader, prefix, k, versions, None))
    if dlq is not None:
        story.dead_letters, story.dlq_seen, story.dlq_depth = find_dead_letters(
            dlq, ledger, lambda letter: letter.names(bucket, key, version)
        )
    return story
