"""The sweep: delete delivered files' exact landing revisions once NFR-03's week is over (issue 23).

The landing bucket's lifecycle keeps every revision's data 36 days (7 current,
29 noncurrent) so that no message can ever name a deleted revision. That stays
as the safety net; this sweep cuts the rule's cost, storage, for the common
case. Once an hour (the controller function's second schedule) it walks the
archive index's hour partitions (``index/YYYY/MM/DD/HH/``, ``bundle.index_key``)
whose hour ended a week and :data:`SWEEP_MARGIN` ago: every file of a bundle
created in hour H landed before H ended, so each has had its week. For each
bundle the archive tags delivered (NiFi acknowledged it), the exact versions
its index lines name are deleted with DeleteObjects (free requests). Never
touched: a line without a version id or with ``"null"`` (:func:`_exact_version`),
a bucket not among ``COURIER_LANDING_BUCKETS``, a line naming another bundle
than the one its index file was written with (:func:`_written_with`), a bundle
not tagged delivered (the lifecycle deletes those later), a partition younger
than the week.

Every run sweeps the newest :data:`SWEEP_PARTITIONS` eligible partitions, so
each partition is swept again by the next hour's run: a failed or cut-short run
costs storage until the next one, never a loss. Deleting a version already gone
succeeds, so a second pass is harmless.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeGuard

from courier.bundle import INDEX_PREFIX, read_index
from courier.errors import CourierError
from courier.observability import logger, metric
from courier.ports import ArchiveReader, LandingVersions, VersionDeleteFailure

WEEK = timedelta(days=7)  # NFR-03: delivered raw files are kept a week
# Beyond the week: clock skew between S3's event times and this function's clock, and the schedule's jitter.
SWEEP_MARGIN = timedelta(hours=1)
SWEEP_PARTITIONS = 2  # the newest eligible hour and the one before: each hour is swept twice
DELETE_BATCH = 1000  # DeleteObjects' maximum of keys a request
# Time kept back from the invocation's end: one more partition's calls must not run into the timeout.
RESERVE_MS = 10_000
# Index files read at once: ~360 bundles an hour at the design's volume, two hours a run, two ~20 ms reads
# each, would take ~30 s one at a time on a function that has 60 s and runs the controller every minute.
READERS = 8
SWEEP_EVENT = {"courier": "sweep"}  # the EventBridge input of the sweep's schedule (the other runs the controller)

_CODE = re.compile(r"[^A-Za-z0-9]")


def sweepable_partitions(now: datetime, count: int = SWEEP_PARTITIONS) -> list[str]:
    """The index prefixes to sweep at ``now``: the newest ``count`` hours that ended at least a week + the margin ago.

    >>> sweepable_partitions(datetime(2026, 12, 8, 10, 30, tzinfo=UTC))
    ['index/2026/12/01/08/', 'index/2026/12/01/07/']
    """
    newest_end = (now.astimezone(UTC) - WEEK - SWEEP_MARGIN).replace(minute=0, second=0, microsecond=0)
    starts = [newest_end - timedelta(hours=n + 1) for n in range(count)]
    return [f"{INDEX_PREFIX}/{start:%Y/%m/%d/%H}/" for start in starts]


def error_code(code: str) -> str:
    """S3's per-key error code as a metric dimension: letters and digits only, at most 64.

    >>> error_code("AccessDenied"), error_code("a\\nb")
    ('AccessDenied', 'a_b')
    """
    return _CODE.sub("_", code)[:64] or "unknown"


def _exact_version(version_id: object) -> TypeGuard[str]:
    """A version id that names one revision for good: not none, and not ``"null"`` (versioning Suspended
    writes every PUT into the key's one null version, so it may by now hold an undelivered upload).

    >>> _exact_version("3HL4kqtJlcpXroDTDmJ"), _exact_version("null"), _exact_version(None)
    (True, False, False)
    """
    return isinstance(version_id, str) and version_id not in ("", "null")


def _written_with(index_key: str, bundle_key: str) -> bool:
    """Whether ``bundle_key`` is the bundle ``index_key`` was written with (``bundle.index_key``, ``archive_key``:
    same hour, same SHA-256): only that bundle's delivered tag vouches for the file's lines.

    >>> _written_with("index/2026/12/01/08/ab12.jsonl", "bundles/2026/12/01/08/ab12.tar.gz")
    True
    >>> _written_with("index/2026/12/01/08/ab12.jsonl", "bundles/2026/12/01/08/cd34.tar.gz")
    False
    """
    stem = index_key.removeprefix(f"{INDEX_PREFIX}/").removesuffix(".jsonl")
    return bundle_key.endswith(f"/{stem}.tar.gz")


@dataclass
class Found:
    """What one index file says: the delivered versions to delete, and what was kept or failed."""

    versions: list[tuple[str, str, str]] = field(default_factory=list)  # (bucket, key, version id)
    bundles_delivered: int = 0
    bundles_kept: int = 0
    lines_skipped: int = 0
    failures: list[tuple[str, CourierError]] = field(default_factory=list)  # (step, error)


@dataclass
class SweepResult:
    """What one sweep run did (one per invocation)."""

    partitions: list[str] = field(default_factory=list)  # swept to the end
    bundles_delivered: int = 0
    bundles_kept: int = 0  # not tagged delivered: the lifecycle's to delete
    versions_swept: int = 0
    lines_skipped: int = 0  # no version id, a foreign bucket, unreadable
    failures: int = 0  # versions S3 refused to delete, or calls that failed
    stopped_early: bool = False  # the invocation's time ran short; the next run sweeps the rest


class Sweep:
    """One run of the sweep over the archive index and the landing buckets (see the module docstring).

    Parameters
    ----------
    archive_reader
        The archive: its index partitions, index files and bundles' delivered tags.
    landing_versions
        Deletes exact landing revisions.
    landing_buckets
        The deployment's landing buckets (``COURIER_LANDING_BUCKETS``); a line naming another is never acted on.
    remaining_ms
        The invocation's time left (Lambda's context); None: no bound.
    """

    def __init__(
        self,
        archive_reader: ArchiveReader,
        landing_versions: LandingVersions,
        landing_buckets: Iterable[str],
        remaining_ms: Callable[[], int] | None = None,
    ) -> None:
        self.archive_reader = archive_reader
        self.landing_versions = landing_versions
        self.landing_buckets = frozenset(landing_buckets)
        self.remaining_ms = remaining_ms
        self.result = SweepResult()
        self._pending: dict[str, list[tuple[str, str]]] = {}

    def run(self, now: datetime, partitions: int = SWEEP_PARTITIONS) -> SweepResult:
        for prefix in sweepable_partitions(now, partitions):
            if not self._sweep_partition(prefix):
                self.result.stopped_early = True
                break
            self.result.partitions.append(prefix)
        self._flush_all()
        self._publish()
        return self.result

    def _time_short(self) -> bool:
        return self.remaining_ms is not None and self.remaining_ms() < RESERVE_MS

    def _sweep_partition(self, prefix: str) -> bool:
        """False when the time ran short before the partition's end."""
        try:
            keys = self.archive_reader.keys(prefix)
        except CourierError as exc:
            self._failed("list", exc)
            return True  # the next run lists it again
        # The reads (an index file, then its bundle's tag) are latency-bound: READERS at a time, in rounds
        # so the time left is checked between them. Only this thread counts and deletes.
        with ThreadPoolExecutor(READERS, thread_name_prefix="sweep") as pool:
            for start in range(0, len(keys), READERS * 4):
                if self._time_short():
                    return False
                for found in pool.map(self._inspect, keys[start : start + READERS * 4]):
                    self._take(found)
        return True

    def _inspect(self, index_key: str) -> Found:
        """Read one index file and its bundles' tags (on a reader thread: touches no shared state)."""
        found = Found()
        try:
            index = read_index(self.archive_reader.read(index_key), index_key)
        except CourierError as exc:
            found.failures.append(("index_read", exc))
            return found
        found.lines_skipped = len(index.unreadable)
        by_bundle: dict[str, list[tuple[str, str, str]]] = {}
        for entry in index.entries:
            version_id = entry.get("version_id")
            ours = entry["bucket"] in self.landing_buckets and _written_with(index_key, entry["bundle_key"])
            if not _exact_version(version_id) or not ours:
                found.lines_skipped += 1  # no exact version, not ours to delete, or another bundle's word
                continue
            by_bundle.setdefault(entry["bundle_key"], []).append((entry["bucket"], entry["key"], version_id))
        for bundle_key, versions in by_bundle.items():
            try:
                delivered = self.archive_reader.was_delivered(bundle_key)
            except CourierError as exc:
                found.failures.append(("tag_read", exc))
                continue
            if delivered:
                found.bundles_delivered += 1
                found.versions.extend(versions)
            else:
                found.bundles_kept += 1
        return found

    def _take(self, found: Found) -> None:
        self.result.lines_skipped += found.lines_skipped
        self.result.bundles_delivered += found.bundles_delivered
        self.result.bundles_kept += found.bundles_kept
        for step, exc in found.failures:
            self._failed(step, exc)
        for bucket, key, version_id in found.versions:
            pending = self._pending.setdefault(bucket, [])
            pending.append((key, version_id))
            if len(pending) == DELETE_BATCH:
                self._flush(bucket)

    def _flush_all(self) -> None:
        for bucket in list(self._pending):
            self._flush(bucket)

    def _flush(self, bucket: str) -> None:
        versions = self._pending.pop(bucket, [])
        if not versions:
            return
        try:
            refused = self.landing_versions.delete_versions(bucket, versions)
        except CourierError as exc:
            self._failed("delete", exc, len(versions))
            return
        self.result.versions_swept += len(versions) - len(refused)
        if refused:
            self._refused(refused)

    def _refused(self, refused: list[VersionDeleteFailure]) -> None:
        codes: dict[str, int] = {}
        for failure in refused:
            code = error_code(failure.code)
            codes[code] = codes.get(code, 0) + 1
        for code, count in codes.items():
            metric("SweepFailures", count, step="delete_version", code=code)
        self.result.failures += len(refused)
        # Counts by code only: a key is the uploader's text.
        logger.warning("sweep: S3 refused to delete some versions; the next run tries again", extra={"codes": codes})

    def _failed(self, step: str, exc: CourierError, count: int = 1) -> None:
        self.result.failures += count
        metric("SweepFailures", count, step=step, code=error_code(getattr(exc, "code", "") or type(exc).__name__))
        logger.warning("sweep step failed; the next run sweeps it again", extra={"step": step, "error": str(exc)})

    def _publish(self) -> None:
        result = self.result
        metric("VersionsSwept", result.versions_swept)
        logger.info(
            "sweep run",
            extra={
                "partitions": result.partitions,
                "bundles_delivered": result.bundles_delivered,
                "bundles_kept": result.bundles_kept,
                "versions_swept": result.versions_swept,
                "lines_skipped": result.lines_skipped,
                "failures": result.failures,
                "stopped_early": result.stopped_early,
            },
        )
