"""Replay archived bundles to NiFi, and audit the archive (``courier replay``, ``courier archive verify``).

The archived bundle is the authoritative record. Replaying it is the official
recovery procedure: restore it from Glacier / Deep Archive if needed, check
its bytes against the SHA-256 stored with it, and POST it exactly as the
aggregator did, plus ``X-Courier-Replay: true``.

The archive is read through the ``ArchiveReader`` port, so every AWS failure
arrives here as a courier error (see ``courier.errors``). Bundles are streamed,
whatever their size: a replay spools the archived bytes (memory up to
:data:`REPLAY_SPOOL_MEMORY`, then disk) while hashing them, then POSTs from the
spool; ``archive verify --deep`` hashes the object and reads its tar in one
streaming pass (``r|gz``), holding one chunk at a time.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import tarfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from courier.bundle import CHUNK, INDEX_PREFIX, MANIFEST_NAME, Body, copy_hashing, read_index, read_manifest
from courier.errors import BundleMissingError, CourierError, DeliveryError, ReplayHaltedError, RetryableError
from courier.events import parse_event_time
from courier.ledger.base import COMPLETE, BaseLedger
from courier.ports import ArchivedObject, ArchiveReader, Delivery, Purpose, Readable
from courier.spool import Spools, close_quietly

COLD_CLASSES = {"GLACIER", "DEEP_ARCHIVE"}
# How long S3 says restores take (upper bounds), to tell the operator when to come back.
RESTORE_HOURS = {
    ("DEEP_ARCHIVE", "Standard"): 12,
    ("DEEP_ARCHIVE", "Bulk"): 48,
    ("GLACIER", "Standard"): 5,
    ("GLACIER", "Bulk"): 12,
}
_ONGOING = re.compile(r'ongoing-request="(true|false)"')
REPLAY_SPOOL_MEMORY = 64 * 1024 * 1024  # of a bundle being replayed; beyond, its spool is a temporary file


class Outcome(enum.Enum):
    SENT = "sent"
    WOULD_SEND = "would send"
    RESTORE_STARTED = "restore started"
    RESTORE_IN_PROGRESS = "restore in progress"
    HASH_MISMATCH = "hash mismatch"
    MISSING = "missing"
    FAILED = "failed"


UNSENT = frozenset({Outcome.HASH_MISMATCH, Outcome.MISSING, Outcome.FAILED})


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


def bundles_in_hours(archive_reader: ArchiveReader, prefix: str, start: datetime, end: datetime) -> list[str]:
    """Archive keys in the hour partitions from ``start``'s hour to ``end``'s (inclusive), listed a day at a time."""
    hours = {f"{prefix}/{h:%Y/%m/%d/%H}/" for h in hours_between(start, end)}
    days = sorted({h[: -len("HH/")] for h in hours})
    keys: list[str] = []
    for day in days:
        keys.extend(k for k in archive_reader.keys(day) if k.endswith(".tar.gz") and k[: len(day) + 3] in hours)
    return keys


def bundles_between(archive_reader: ArchiveReader, prefix: str, start: datetime, end: datetime) -> tuple[list[str], list[str]]:
    """(bundles whose time lies from ``start`` to ``end`` inclusive, bundles kept without a known time).

    A bundle's time is its ``created_at``, the event time of its newest file, which also names
    its hour partition. Hours wholly inside the range are taken as listed; in the first and
    last hour each bundle's time is read from its index lines, so a ten-second range selects
    ten seconds and not two hours. A bundle of an edge hour without index lines is kept by
    its hour (the second list), so that no bundle is silently dropped.
    """
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    keys = bundles_in_hours(archive_reader, prefix, start, end)
    edge_hours = [h for h in hours_between(start, end) if h < start or h + timedelta(hours=1) > end]
    edge_partitions = {f"{prefix}/{h:%Y/%m/%d/%H}/" for h in edge_hours}
    edge = [k for k in keys if k[: k.rindex("/") + 1] in edge_partitions]
    times = _bundle_times(archive_reader, prefix, edge, edge_hours)
    untimed = [k for k in edge if times[k] is None]

    def within(key: str) -> bool:
        time = times.get(key)  # None for the whole hours, and for the untimed
        return time is None or start <= time <= end

    return [k for k in keys if within(k)], untimed


def _index_key_of(prefix: str, bundle_key: str) -> str:
    """``<prefix>/YYYY/MM/DD/HH/<sha>.tar.gz`` -> ``index/YYYY/MM/DD/HH/<sha>.jsonl`` (see ``bundle.index_key``)."""
    return f"{INDEX_PREFIX}/{bundle_key[len(prefix) + 1 : -len('.tar.gz')]}.jsonl"


def _bundle_times(
    archive_reader: ArchiveReader, prefix: str, keys: list[str], hours: Iterable[datetime]
) -> dict[str, datetime | None]:
    """Each bundle's ``created_at`` (the newest event time of its index lines); None where it has no readable index."""
    if not keys:
        return {}
    existing = {k for h in hours for k in archive_reader.keys(f"{INDEX_PREFIX}/{h:%Y/%m/%d/%H}/")}

    def created_at(key: str) -> datetime | None:
        index = _index_key_of(prefix, key)
        if index not in existing:
            return None
        try:
            entries = read_index(archive_reader.read(index), index).entries
            return max(parse_event_time(entry["event_time"]) for entry in entries)
        except (ValueError, KeyError, TypeError):  # a damaged index tells no time; the hour still holds the bundle
            return None

    with ThreadPoolExecutor(max_workers=16) as pool:
        return dict(zip(keys, pool.map(created_at, keys), strict=True))


def only_delivered(archive_reader: ArchiveReader, keys: list[str]) -> tuple[list[str], list[str]]:
    """(delivered, never acknowledged) among ``keys``."""
    with ThreadPoolExecutor(max_workers=16) as pool:
        flags = list(pool.map(archive_reader.was_delivered, keys))
    return [k for k, f in zip(keys, flags, strict=True) if f], [k for k, f in zip(keys, flags, strict=True) if not f]


def bundles_of_file(
    archive_reader: ArchiveReader, ledger: BaseLedger | None, bucket: str, key: str, start: datetime, end: datetime
) -> tuple[list[str], str, list[str]]:
    """The bundle(s) that delivered ``bucket/key``: from the ledger while it remembers, else the index.

    The third item names the index lines that could not be read (skipped; see ``bundle.read_index``).
    """
    if ledger is not None:
        found = sorted({r.bundle_key for r in ledger.lookup(bucket, key) if r.status == COMPLETE and r.bundle_key})
        if found:
            return found, "ledger", []
    index_keys = [k for hour in hours_between(start, end) for k in archive_reader.keys(f"{INDEX_PREFIX}/{hour:%Y/%m/%d/%H}/")]

    def search(index_key: str) -> tuple[set[str], list[str]]:
        index = read_index(archive_reader.read(index_key), index_key)
        hits = {e["bundle_key"] for e in index.entries if e["bucket"] == bucket and e["key"] == key}
        return hits, index.unreadable

    with ThreadPoolExecutor(max_workers=16) as pool:
        searched = list(pool.map(search, index_keys))
    found_in_index = sorted(set().union(*(hits for hits, _ in searched)))
    unreadable = [note for _, notes in searched for note in notes]
    # The index is written at archive time, before delivery: keep the bundles NiFi acknowledged.
    return only_delivered(archive_reader, found_in_index)[0], "index", unreadable


@dataclass(frozen=True)
class SourceFile:
    """A landing file whose bundle(s) to replay (``courier replay --file``), looked for between ``since`` and ``until``."""

    bucket: str
    key: str
    since: datetime
    until: datetime


@dataclass(frozen=True)
class Selection:
    """The bundles a replay sends, sorted and each once, and what the operator should hear about how they were chosen.

    ``unacknowledged`` are archived attempts of the time range that NiFi never
    acknowledged and that were left out; ``untimed`` bundles of the range's edge hours
    whose time the index could not tell, kept by their hour; ``of_file`` and
    ``found_through`` (``"ledger"`` or ``"index"``) answer a ``SourceFile``; ``unreadable_index_lines``
    names the index lines its search skipped.
    """

    keys: list[str]
    unacknowledged: list[str] = field(default_factory=list)
    untimed: list[str] = field(default_factory=list)
    of_file: list[str] = field(default_factory=list)
    found_through: str | None = None
    unreadable_index_lines: list[str] = field(default_factory=list)


def select_bundles(
    archive_reader: ArchiveReader,
    prefix: str,
    bundles: Sequence[str] = (),
    between: tuple[datetime, datetime] | None = None,
    include_undelivered: bool = False,
    source: SourceFile | None = None,
    ledger: BaseLedger | None = None,
) -> Selection:
    """The union of explicit ``bundles``, the bundles archived ``between`` two times and the bundles of ``source``.

    Bundles of a time range that NiFi never acknowledged are left out unless
    ``include_undelivered``: their files went out again in later bundles.
    """
    keys = list(bundles)
    unacknowledged: list[str] = []
    untimed: list[str] = []
    if between is not None:
        in_range, untimed = bundles_between(archive_reader, prefix, *between)
        if not include_undelivered:
            in_range, unacknowledged = only_delivered(archive_reader, in_range)
        keys += in_range
    of_file: list[str] = []
    found_through = None
    unreadable: list[str] = []
    if source is not None:
        of_file, found_through, unreadable = bundles_of_file(
            archive_reader, ledger, source.bucket, source.key, source.since, source.until
        )
        keys += of_file
    return Selection(sorted(dict.fromkeys(keys)), unacknowledged, untimed, of_file, found_through, unreadable)


def restore_state(archived: ArchivedObject) -> str:
    """'ready' (readable now), 'in-progress', or 'cold' (needs a restore)."""
    if archived.storage_class not in COLD_CLASSES:
        return "ready"
    match = _ONGOING.search(archived.restore or "")
    if match is None:
        return "cold"
    return "in-progress" if match.group(1) == "true" else "ready"


@dataclass
class Replayer:
    archive_reader: ArchiveReader
    post: Callable[[Delivery], int]  # NiFiClient.post, behind the breaker
    admits: Callable[[], bool]  # the breaker's check
    tier: str = "Standard"
    restore_days: int = 7
    dry_run: bool = False
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    spools: Spools = field(default_factory=lambda: Spools(REPLAY_SPOOL_MEMORY))

    def replay(self, key: str) -> BundleResult:
        try:
            archived = self.archive_reader.head(key)
        except BundleMissingError:
            return BundleResult(key, Outcome.MISSING, "no such bundle in the archive")
        state = restore_state(archived)
        if state != "ready":
            return self._restore(archived, state)
        expected = archived.sha256
        if self.dry_run:
            return BundleResult(key, Outcome.WOULD_SEND, f"sha256 {expected}", bytes=archived.size)
        stream = self.archive_reader.open(key)
        spool = None
        try:
            try:
                spool = self.spools.new(stream.size)
                size, actual = copy_hashing(stream.body, spool)
            finally:
                close_quietly(stream.body)
            if not expected or actual != expected:
                detail = f"metadata sha256 {expected}, bytes hash to {actual}"
                return BundleResult(key, Outcome.HASH_MISMATCH, detail, bytes=size)
            body = Body(spool, size)
            manifest = read_manifest(body.reader())
            if not self.admits():
                raise ReplayHaltedError("NiFi circuit is open: not replaying until it recovers (see `courier status`)")
            try:
                self.post(Delivery(body, actual, manifest["bundle_id"], manifest["file_count"], key, Purpose.REPLAY))
            except DeliveryError as exc:
                if isinstance(exc, RetryableError):
                    raise ReplayHaltedError(f"NiFi did not take the replay: {exc}") from exc
                return BundleResult(key, Outcome.FAILED, str(exc), manifest["file_count"], size)
            except CourierError as exc:
                raise ReplayHaltedError(str(exc)) from exc
            return BundleResult(key, Outcome.SENT, f"sha256 {actual}", manifest["file_count"], size)
        finally:
            close_quietly(spool)

    def _restore(self, archived: ArchivedObject, state: str) -> BundleResult:
        key = archived.key
        storage = archived.storage_class or "DEEP_ARCHIVE"
        expected_by = self.clock() + timedelta(hours=RESTORE_HOURS.get((storage, self.tier), 48))
        if state == "in-progress":
            return BundleResult(key, Outcome.RESTORE_IN_PROGRESS, f"{storage} restore already running")
        if self.dry_run:
            return BundleResult(key, Outcome.WOULD_SEND, f"{storage}: would start a {self.tier} restore first")
        self.archive_reader.restore(key, self.restore_days, self.tier)
        detail = f"{storage} {self.tier} restore started, expected by {expected_by:%Y-%m-%d %H:%M} UTC"
        return BundleResult(key, Outcome.RESTORE_STARTED, detail)

    def is_restored(self, key: str) -> bool:
        return restore_state(self.archive_reader.head(key)) == "ready"

    def wait_until_restored(self, key: str, poll_interval: float, sleep: Callable[[float], None] = time.sleep) -> None:
        while not self.is_restored(key):
            sleep(poll_interval)


@dataclass(frozen=True)
class Tally:
    """The replay summary: bundles asked for; files, bytes and bundles sent (or, in a dry run, that would be sent);
    bundles waiting for a restore; bundles not sent (missing, hash mismatch, rejected)."""

    bundles: int
    files: int
    bytes: int
    sent: int
    would_send: int
    restoring: int
    unsent: int
    hash_mismatch: bool

    @classmethod
    def of(cls, keys: Sequence[str], results: Iterable[BundleResult]) -> Tally:
        results = list(results)
        going = [r for r in results if r.outcome in (Outcome.SENT, Outcome.WOULD_SEND)]
        return cls(
            bundles=len(keys),
            files=sum(r.files for r in going),
            bytes=sum(r.bytes for r in going),
            sent=sum(1 for r in results if r.outcome is Outcome.SENT),
            would_send=sum(1 for r in results if r.outcome is Outcome.WOULD_SEND),
            restoring=sum(1 for r in results if r.outcome in (Outcome.RESTORE_STARTED, Outcome.RESTORE_IN_PROGRESS)),
            unsent=sum(1 for r in results if r.outcome in UNSENT),
            hash_mismatch=any(r.outcome is Outcome.HASH_MISMATCH for r in results),
        )


# --- archive verify -------------------------------------------------------------


@dataclass
class Finding:
    key: str
    problem: str


def verify_bundle(archive_reader: ArchiveReader, key: str, deep: bool) -> list[Finding]:
    """Metadata hash vs S3's stored checksum; with ``deep`` also the bytes and every manifest entry."""
    try:
        archived = archive_reader.head(key)
        stored = archive_reader.stored_sha256(key)
    except CourierError as exc:
        return [Finding(key, f"unreadable: {exc}")]
    findings = []
    expected = archived.sha256
    if not expected:
        return [Finding(key, "missing sha256 metadata")]
    if not stored:
        if not archived.multipart:  # a multipart bundle's parts were checked instead; --deep hashes it whole
            findings.append(Finding(key, "S3 holds no SHA-256 checksum for this object"))
    elif stored != expected:
        findings.append(Finding(key, f"metadata sha256 {expected} differs from S3's checksum {stored}"))
    if not deep:
        return findings
    if restore_state(archived) != "ready":
        return findings  # checked by metadata only until restored
    try:
        stream = archive_reader.open(key)
    except CourierError as exc:
        return [*findings, Finding(key, f"unreadable: {exc}")]
    hashing = _HashingReader(stream.body)
    try:
        members = _member_findings(key, hashing)  # the tar read as a stream, the object hashed on the way
        hashing.drain()  # what the tar reader left (its end blocks, the gzip trailer) counts in the hash too
    except CourierError as exc:
        return [*findings, Finding(key, f"unreadable: {exc}")]
    finally:
        close_quietly(stream.body)
    actual = hashing.hexdigest()
    if actual != expected:
        findings.append(Finding(key, f"bytes hash to {actual}, metadata says {expected}"))
        return findings
    return findings + members


class _HashingReader:
    """A stream's bytes hashed as they are read, whoever reads them."""

    def __init__(self, body: Readable) -> None:
        self.body = body
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.body.read(size)
        self.digest.update(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    def hexdigest(self) -> str:
        return self.digest.hexdigest()


def _member_findings(key: str, body: _HashingReader) -> list[Finding]:
    """Every member of the manifest against its hash, in one pass over the tar (``r|gz``: no seeking back)."""
    findings = []
    try:
        with tarfile.open(fileobj=body, mode="r|gz") as tar:  # type: ignore[call-overload]
            first = tar.next()
            manifest_file = tar.extractfile(first) if first is not None and first.name == MANIFEST_NAME else None
            if manifest_file is None:
                raise KeyError(MANIFEST_NAME)
            expected = {entry["member"]: entry["sha256"] for entry in json.load(manifest_file)["files"]}
            seen: dict[str, str] = {}
            while (member := tar.next()) is not None:  # not `for member in tar`: it starts over at the manifest
                member_file = tar.extractfile(member)
                if member_file is None:
                    continue
                digest = hashlib.sha256()
                while chunk := member_file.read(CHUNK):
                    digest.update(chunk)
                seen[member.name] = digest.hexdigest()
        for name, sha256 in expected.items():
            if seen.get(name) != sha256:
                findings.append(Finding(key, f"member {name!r} does not match its manifest hash"))
    except (tarfile.TarError, KeyError, ValueError, OSError, TypeError, EOFError) as exc:
        findings.append(Finding(key, f"bundle unreadable: {type(exc).__name__}"))
    return findings


def verify_archive(archive_reader: ArchiveReader, keys: Iterable[str], deep: bool, workers: int = 8) -> tuple[int, list[Finding]]:
    keys = list(keys)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        findings = [f for found in pool.map(lambda k: verify_bundle(archive_reader, k, deep), keys) for f in found]
    return len(keys), findings


def parse_when(text: str) -> datetime:
    """ISO date or date-time (UTC unless it says otherwise), or an HTTP date."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = parsedate_to_datetime(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def time_range(start: str | None, end: str | None, default_days: float, now: datetime | None = None) -> tuple[datetime, datetime]:
    """(since, until) of ``--from``/``--to``: until defaults to now, since to ``default_days`` before until.

    Raises ``ValueError`` (or ``TypeError``, from the HTTP-date parser) when either does not parse.
    """
    until = parse_when(end) if end else (now or datetime.now(UTC))
    since = parse_when(start) if start else until - timedelta(days=default_days)
    return since, until
