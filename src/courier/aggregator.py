"""One invocation's work: parse, deduplicate, admit, claim, fetch, bundle, archive, deliver, acknowledge.

The policy lives here; the I/O is behind the ports given to the constructor
(``courier.ports``: ledger, landing, archive, NiFi, breaker, parking lot), so
this module has no boto3 or HTTP in it. The result is the set of SQS messageIds that failed: a
message fails when any file it announces failed, or was deferred (no room in this
invocation: it comes back soon, unclaimed); everything else is acknowledged
(delivered now, delivered before, or nothing to deliver).

Memory follows the budget, not the batch: bundles are planned from the sizes the
events announce (a hint only: anyone may write a notification) and handled one at
a time (admit, claim, fetch, build, archive, assign, POST, complete), every byte
held sits in a spool of ``courier.spool`` (memory while the budget has room, then
``/tmp``), and a group is admitted only when the room and the time it needs are
left. A file above the bundle limit is a bundle of its own, streamed end to end;
above the ceiling (``max_object_bytes``, what one invocation can move in its
time), as its GET says, it is refused: ``object_too_large``.

A failure is charged to what caused it (the error classes say which, ``courier.errors``):
the file alone, or a dependency when the batch holds evidence not about one object.
A bundle NiFi refuses is split before anyone is blamed.
"""

from __future__ import annotations

import tarfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from aws_lambda_powertools.metrics import MetricUnit

from courier import budget
from courier.bundle import (
    Body,
    Bundle,
    SpooledFile,
    archive_key,
    bundle_from_archive,
    copy_hashing,
    index_key,
    index_lines,
    plan_by_size,
    write_bundle,
)
from courier.errors import (
    ArchiveCorruptError,
    ArchiveUnavailableError,
    BeyondLedgerError,
    BundleNotIntactError,
    BundleRefusedError,
    ClaimBusyError,
    CourierError,
    ForeignBucketError,
    NiFiHashRejectedError,
    NiFiRejectedError,
    NoRoomError,
    ObjectTooLargeError,
    PermanentError,
    SpoolUnavailableError,
    StorageUnavailableError,
    TimeBudgetError,
    reasons_where,
)
from courier.events import ObjectIdentity, ObjectRef, parse_batch
from courier.ledger.base import BaseLedger, ClaimStatus, FailureNote
from courier.observability import logger, metric
from courier.ports import Archive, Breaker, Landing, NiFi, ParkingLot
from courier.spool import Spools, close_quietly

RESEND_LOCK = "courier#resend"  # the ledger "bucket" of the per-bundle resend leases

# Failures that wait out an outage: parked while the circuit is open (the error classes say which).
OUTAGE_REASONS = reasons_where(lambda error: error.waits_out_outage)
# Failures not worth a note for `courier dlq list` (transient by nature, and frequent).
UNNOTED_REASONS = frozenset({"breaker_open", "claim_busy"})
DEFERRED = "deferred"  # no room in this invocation: back to the queue unclaimed, visible again soon
# A deferral is not a failure and leaves no note, unless the message is halfway to the DLQ (maxReceiveCount 20):
# then `courier dlq list` must be able to say why it got there.
DEFER_NOTE_RECEIVES = 10
# A deferred message is visible again after this long. Each receive counts toward maxReceiveCount (20), so
# not 0: a message bounced at once by a busy fleet would burn receives in seconds. Groups are admitted
# oldest first, so a deferred file is ahead of newer ones in its next batch (docs/large-files.md).
DEFER_SECONDS = 30
# What a bundle's gzip may take beyond its files' bytes (tar headers, manifest, incompressible data).
BUNDLE_OVERHEAD = 1.01
BUNDLE_OVERHEAD_BYTES = 1 << 20
# Identities per claim_many call, the calls in parallel on the pool. Not DynamoDB's 100 items per transaction: four
# transactions of 25 side by side take the time of one, a busy item cancels (and retries) a quarter as much, and
# the default per-item loop of BaseLedger.claim_many makes 25 claims in a row rather than 100.
CLAIM_BATCH = 25
MIN_BUNDLE_LIMIT = 1024  # the smallest COURIER_MAX_BUNDLE_BYTES: a 413 never shrinks bundles below it


@dataclass
class FileJob:
    ref: ObjectRef
    message_ids: set[str] = field(default_factory=set)
    assigned_sha256: str | None = None  # set when the file sits in an archived bundle to resend
    # The size to plan with: the smallest any message announced (a forged one cannot inflate another's), None when
    # unknown or implausible. Only a hint: what a file is judged by is the size S3 gives on the GET.
    hint: int | None = None

    def announced(self, message_id: str, ref: ObjectRef) -> None:
        self.message_ids.add(message_id)
        if ref.size is not None:
            self.hint = ref.size if self.hint is None else min(self.hint, ref.size)


@dataclass
class Evidence:
    """What one batch's failures say of one dependency: distinct pieces (files, refused bundles) and their reasons."""

    needed: int  # distinct pieces before it counts as an outage (the least any of its error classes asks)
    seen: set[str] = field(default_factory=set)
    reasons: Counter[str] = field(default_factory=Counter)  # reason -> files

    @property
    def enough(self) -> bool:
        return len(self.seen) >= self.needed


@dataclass
class BatchResult:
    failed: dict[str, str] = field(default_factory=dict)  # messageId -> reason
    delivered: list[ObjectIdentity] = field(default_factory=list)
    skipped: list[ObjectIdentity] = field(default_factory=list)
    bundles: list[tuple[str, Bundle]] = field(default_factory=list)  # (archive key, bundle) delivered
    failed_files: Counter[str] = field(default_factory=Counter)  # reason -> files
    details: dict[str, str] = field(default_factory=dict)  # messageId -> error text (no content)
    objects: dict[str, set[str]] = field(default_factory=dict)  # messageId -> s3://bucket/key named
    systemic: str | None = None  # the dependency that failed the whole batch, if one did
    deferred: list[ObjectIdentity] = field(default_factory=list)  # back to the queue unclaimed (no room)
    evidence: dict[str, Evidence] = field(default_factory=dict)  # dependency -> what this batch's failures say of it
    # Files failed by what is neither a dependency's outage nor the file's own fault (a busy claim, the clock): with
    # one of them in the batch, the batch says nothing of an outage.
    unexplained: int = 0
    # messageId -> every reason its records failed (or were deferred) with; ``failed`` keeps only the first.
    reasons: dict[str, set[str]] = field(default_factory=dict)

    def charge(self, error: BaseException | None, piece: str, files: int = 1) -> None:
        """Charge ``files`` failed files to what caused it: a dependency (``piece`` is its evidence), the file, or neither.

        ``files=0`` records evidence alone (a refused bundle that was split, failing no file).
        """
        known = error if isinstance(error, CourierError) else None
        if known is not None and known.dependency is not None:
            evidence = self.evidence.setdefault(known.dependency, Evidence(known.outage_evidence))
            evidence.needed = min(evidence.needed, known.outage_evidence)
            evidence.seen.add(piece)
            if files:
                evidence.reasons[known.reason] += files
        elif known is None or not known.charged_to_file:
            self.unexplained += files

    def response(self) -> dict[str, list[dict[str, str]]]:
        """The partial batch response of ``ReportBatchItemFailures``."""
        return {"batchItemFailures": [{"itemIdentifier": m} for m in sorted(self.failed)]}


class Aggregator:
    """One SQS batch in, one partial batch response out: the pipeline's policy, with no I/O of its own.

    Parameters
    ----------
    ledger
        The idempotency ledger: claims, completions, releases, failure notes.
    landing
        Reads the landed revision each event names.
    archive
        Writes bundles and their index lines, and tags the delivered ones.
    nifi
        POSTs a bundle to NiFi.
    archive_prefix
        Key prefix of archived bundles (``bundles``).
    max_bundle_bytes
        Uncompressed bytes per bundle; bigger batches are split, a bigger file is a bundle of its own.
    concurrency
        Parallel claims and fetches (a thread pool kept across warm invocations).
    clock
        Epoch seconds; injectable for tests.
    breaker
        The shared NiFi circuit; None delivers without one.
    parking_lot
        Where outage-failed messages wait; None leaves them to the queue's visibility timeout.
    post_budget_seconds
        Worst-case time to deliver one bundle (``courier.budget``): a bundle is only
        POSTed while that much plus the bookkeeping time is left of the invocation.
    max_object_bytes
        The ceiling: a file above it is refused (``object_too_large``) unread; None: no ceiling.
    spools
        Where fetched files and built bundles are held (``courier.spool``): memory up to the
        budget, then disk. None: a budget of twice the bundle limit, on ``tempfile``'s directory.
    stream_bytes_per_second
        The rate a group moves at (GET, build, archive, POST; ``courier.budget``): a group is
        admitted only while its bytes at that rate, the POST budget and the bookkeeping fit in
        the time left. None admits on room alone.
    landing_buckets
        The buckets an event may name (``COURIER_LANDING_BUCKETS``): a record naming another
        fails alone (``foreign_bucket``), unread. None reads whichever bucket an event names.

    Example
    -------
    >>> aggregator = Aggregator(ledger, landing, archive, nifi, "bundles", 64 * 2**20, 32, breaker=breaker)  # doctest: +SKIP
    >>> result = aggregator.process(event["Records"])  # doctest: +SKIP
    >>> result.response()  # doctest: +SKIP
    {'batchItemFailures': []}
    """

    def __init__(
        self,
        ledger: BaseLedger,
        landing: Landing,
        archive: Archive,
        nifi: NiFi,
        archive_prefix: str,
        max_bundle_bytes: int,
        concurrency: int,
        clock: Callable[[], float] = time.time,
        breaker: Breaker | None = None,
        parking_lot: ParkingLot | None = None,
        post_budget_seconds: float = 0.0,
        max_object_bytes: int | None = None,
        spools: Spools | None = None,
        stream_bytes_per_second: float | None = None,
        landing_buckets: Iterable[str] | None = None,
    ) -> None:
        self.ledger = ledger
        self.landing = landing
        self.archive = archive
        self.nifi = nifi
        self.breaker = breaker
        self.parking_lot = parking_lot
        self.deliver = breaker.guard(nifi.post) if breaker else nifi.post
        self.post_budget_seconds = post_budget_seconds
        self.remaining_ms: Callable[[], int] | None = None
        self.archive_prefix = archive_prefix
        self.max_bundle_bytes = max_bundle_bytes
        # What bundles are planned to: shrunk when NiFi answers 413 (its body limit is below ours), for the
        # rest of this execution environment's life, since that limit is NiFi's, not one batch's.
        self.bundle_limit = max_bundle_bytes
        self.max_object_bytes = max_object_bytes
        self.spools = spools or Spools(memory_bytes=2 * max_bundle_bytes)
        self.stream_bytes_per_second = stream_bytes_per_second
        self.landing_buckets = frozenset(landing_buckets) if landing_buckets is not None else None
        self.clock = clock
        # Bytes the current group's fetches took beyond what admission counted (sizes the events understated):
        # the fetches run side by side, so each checks the room left by the others' claims, not only by their bytes.
        self._unplanned = 0
        self._unplanned_lock = threading.Lock()
        # Reused across warm invocations: threads are created once, lazily.
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="courier")

    def process(self, records: Iterable[Mapping[str, Any]], remaining_ms: Callable[[], int] | None = None) -> BatchResult:
        """Handle one batch; ``remaining_ms`` is the Lambda context's clock of the time left, if any."""
        records = list(records)
        self.remaining_ms = remaining_ms
        result = BatchResult()
        if self.breaker is not None and not self.breaker.admits():
            return self._fail_fast(records, result)
        token = uuid.uuid4().hex
        jobs = self._collect(records, result)
        self._plausible_hints(jobs)
        # One bundle at a time, planned from the sizes the events announce; the oldest group first,
        # so a file deferred for lack of room is ahead of newer ones in its next batch.
        planned = plan_by_size(jobs.values(), lambda job: job.hint or 0, lambda job: job.ref.identity, self.bundle_limit)
        planned.sort(key=lambda group: min(job.ref.event_time for job in group))
        for position, group in enumerate(planned):
            if position and self.breaker is not None and not self.breaker.admits():
                # The circuit opened during this batch: later groups are not claimed, only deferred (not failed).
                logger.info("NiFi circuit opened mid-batch: group deferred", extra={"files": len(group)})
                self._defer(group, result)
            elif self._admits(group, first=position == 0):
                self._run_group(group, token, result)
            else:
                self._defer(group, result)
        for reason, files in sorted(result.failed_files.items()):
            metric("FilesFailed", files, reason=reason)
        self._count_systemic(result)
        self._after_failures(records, result)
        return result

    def _count_systemic(self, result: BatchResult) -> None:
        """A dependency that failed the batch, on evidence not about one object, is counted by the breaker.

        Nothing delivered or skipped, every failure either the dependency's or the file's own (those
        are never counted, whatever their number), and enough distinct evidence (``outage_evidence``).
        """
        if self.breaker is None or result.delivered or result.skipped or result.unexplained:
            return
        down = [(sum(e.reasons.values()), dependency, e) for dependency, e in sorted(result.evidence.items()) if e.enough]
        if not down:
            return
        _, dependency, evidence = max(down, key=lambda found: found[0])
        reason = evidence.reasons.most_common(1)[0][0]
        result.systemic = dependency
        logger.error("a dependency failed the whole batch", extra={"dependency": dependency, "reason": reason})
        metric("DependencyFailures", 1, dependency=dependency)
        self.breaker.record_failure(dependency, reason)

    def _fail_fast(self, records: list[Mapping[str, Any]], result: BatchResult) -> BatchResult:
        """Circuit open: no ledger, no S3, no HTTP. Every message goes back, hidden for a while."""
        for record in records:
            result.failed[str(record.get("messageId", ""))] = "breaker_open"
            result.reasons.setdefault(str(record.get("messageId", "")), set()).add("breaker_open")
        logger.info("NiFi circuit open; failing the batch fast", extra={"messages": len(records)})
        metric("BreakerFastFail", len(records))
        if self.parking_lot is not None:
            self.parking_lot.park(records)
        return result

    def _after_failures(self, records: list[Mapping[str, Any]], result: BatchResult) -> None:
        if not result.failed:
            return
        by_id = {str(r.get("messageId", "")): r for r in records}
        deferred = [by_id[m] for m, reason in result.failed.items() if reason == DEFERRED and m in by_id]
        if deferred and self.parking_lot is not None:
            self.parking_lot.defer(deferred, DEFER_SECONDS)
        notes = [
            FailureNote(
                message_id=mid,
                reason=reason,
                detail=result.details.get(mid, reason),
                receive_count=_receive_count(by_id.get(mid, {})),
                objects=tuple(sorted(result.objects.get(mid, ()))),
            )
            for mid, reason in result.failed.items()
            if reason not in UNNOTED_REASONS and (reason != DEFERRED or _receive_count(by_id.get(mid, {})) >= DEFER_NOTE_RECEIVES)
        ]
        if notes:
            try:
                self.ledger.note_failures(notes)
            except CourierError as exc:
                logger.warning("failure notes not written", extra={"error": str(exc)})
        # A failure that tripped (or re-opened) the circuit, or a dependency that failed the whole batch: park
        # those messages like fast-failed ones. The controller releases them as soon as it reads the circuit
        # CLOSED, so a passing blip costs a controller period, and a long outage burns no receives.
        if self.parking_lot is None or self.breaker is None:
            return
        if result.systemic or not self.breaker.admits():
            outage = [by_id[m] for m, reason in result.failed.items() if reason in OUTAGE_REASONS and m in by_id]
            if outage:
                self.parking_lot.park(outage)

    # --- steps ----------------------------------------------------------------

    def _collect(self, records: Iterable[Mapping[str, Any]], result: BatchResult) -> dict[ObjectIdentity, FileJob]:
        jobs: dict[ObjectIdentity, FileJob] = {}
        announced = 0
        for message in parse_batch(records):
            if message.error is not None:
                result.failed[message.message_id] = message.error.reason
                result.reasons.setdefault(message.message_id, set()).add(message.error.reason)
                result.details[message.message_id] = str(message.error)
                logger.warning(
                    "message is not an S3 event notification",
                    extra={"message_id": message.message_id, "error": str(message.error), "reason": message.error.reason},
                )
                metric("MessagesFailed", reason=message.error.reason)
            elif message.ignored is not None:
                logger.info(
                    "event acknowledged without delivery", extra={"message_id": message.message_id, "event": message.ignored}
                )
                metric("EventsIgnored")
            else:
                for ref in message.objects:
                    announced += 1
                    refused = self._refusal(ref)
                    job = jobs.get(ref.identity)
                    if refused is not None:
                        self._fail(FileJob(ref, {message.message_id}), refused, result)
                    elif job is not None and not ref.version_id and ref.etag != job.ref.etag:
                        # One write has one eTag: one of the two messages is forged, and the GET's If-Match would
                        # fail the other with it. This one waits its turn, judged on its own in a later batch.
                        logger.warning(
                            "two messages name one revision with different eTags: this one waits a later batch",
                            extra={"bucket": ref.bucket, "key": ref.key, "message_id": message.message_id},
                        )
                        self._defer([FileJob(ref, {message.message_id})], result)
                    else:
                        jobs.setdefault(ref.identity, FileJob(ref)).announced(message.message_id, ref)
        metric("FilesReceived", len(jobs))
        metric("FilesDuplicateInBatch", announced - len(jobs))
        return jobs

    def _plausible_hints(self, jobs: dict[ObjectIdentity, FileJob]) -> None:
        """A size no invocation could take (above the ceiling, or beyond the memory budget and disk) is not believed:
        anyone may write a notification. Planned as unknown, the file is judged by the size its GET gives."""
        for identity, job in jobs.items():
            size = job.hint
            above = size is not None and self.max_object_bytes is not None and size > self.max_object_bytes
            if size is not None and (above or self._never_fits(size)):
                logger.info("an event's size is not believed: planned from the GET", extra={"key": identity.key, "size": size})
                job.hint = None

    def _refusal(self, ref: ObjectRef) -> PermanentError | None:
        """Why one message's record fails alone, unclaimed and unread, judged on what that message says.

        ``foreign_bucket``: the bucket is not a landing bucket of this deployment.
        ``beyond_ledger``: the file landed longer ago than the ledger keeps records. A hand redrive
        re-sends a message as new, so one may name a file weeks after it landed; its ledger record
        (written no earlier than the landing, kept ``ttl`` from then) may be gone, and a claim would
        then deliver the file in a second bundle. Refusing keeps "at most one bundle": the operator
        finds out with ``courier trace`` and re-lands a file that never arrived. The landing time is
        this message's own, so a forged old one fails only the message that says it.
        """
        if self.landing_buckets is not None and ref.bucket not in self.landing_buckets:
            return ForeignBucketError(f"s3://{ref.bucket} is not a landing bucket of this deployment")
        age = self.clock() - ref.event_time.timestamp()
        if age > budget.ledger_window_seconds(self.ledger.ttl_seconds):
            return BeyondLedgerError(f"{ref.identity} landed {age / 86400:.1f} days ago, beyond the ledger's records")
        return None

    def _never_fits(self, size: int) -> bool:
        return size + self._bundle_estimate(size) > self.spools.capacity()

    def _too_large(self, identity: ObjectIdentity, size: int) -> ObjectTooLargeError:
        if self.max_object_bytes is not None and size > self.max_object_bytes:
            return ObjectTooLargeError(
                f"{identity} is {size} bytes, above the ceiling of {self.max_object_bytes}"
                " (what one invocation can deliver in its time)"
            )
        return ObjectTooLargeError(
            f"{identity} is {size} bytes: it and its bundle need more than an invocation's memory budget and disk"
            f" ({self.spools.capacity()} bytes)"
        )

    def _admits(self, group: list[FileJob], first: bool) -> bool:
        """Whether this invocation has the room and the time for a group, judged from the events' sizes.

        Room: the group's files and its bundle (about as many bytes again) must fit in the spools'
        memory left plus the free disk. Time: at ``stream_bytes_per_second`` its bytes must move,
        and its bundle (taken as large as its files) go out as often as a POST may be attempted,
        while the POST budget and the bookkeeping still fit: what :meth:`_check_time` asks before
        the POST. The first group is always given its time: it is below the ceiling, which is what
        a whole invocation can move.
        """
        raw = sum(job.hint or 0 for job in group)
        need = raw + self._bundle_estimate(raw)
        room = self.spools.room()
        if need > room:
            logger.info("no room for a group: deferred", extra={"files": len(group), "bytes": raw, "room": room})
            return False
        if first or self.remaining_ms is None or not self.stream_bytes_per_second:
            return True
        left = self.remaining_ms() / 1000 - self.post_budget_seconds - budget.BOOKKEEPING_SECONDS
        seconds = (1 + budget.POST_ATTEMPTS) * raw / self.stream_bytes_per_second
        if seconds > left:
            logger.info("no time for a group: deferred", extra={"files": len(group), "bytes": raw, "seconds": round(seconds, 1)})
            return False
        return True

    @staticmethod
    def _bundle_estimate(raw: int) -> int:
        return int(raw * BUNDLE_OVERHEAD) + BUNDLE_OVERHEAD_BYTES

    def _defer(self, group: list[FileJob], result: BatchResult) -> None:
        """Back to the queue unclaimed and unfetched: not a failure, no note, visible again soon."""
        for job in group:
            for message_id in job.message_ids:
                result.failed.setdefault(message_id, DEFERRED)
                result.reasons.setdefault(message_id, set()).add(DEFERRED)
            result.deferred.append(job.ref.identity)
        metric("FilesDeferred", len(group))

    def _run_group(self, group: list[FileJob], token: str, result: BatchResult) -> None:
        """Claim, resend, fetch, build, archive, assign, POST, complete: one group, its spools closed after.

        Resends go first: an archived bundle is spooled whole, and admission counted only
        the group's files, so it must not sit on the disk beside the group's new files.
        """
        jobs = {job.ref.identity: job for job in group}
        to_fetch, resends = self._claim(jobs, token, result)
        for key, assigned in sorted(resends.items()):
            self._resend(key, assigned, token, result)
        self._unplanned = 0
        fetched = self._fetch_all(to_fetch, token, result)
        try:
            # Planned again from what S3 said: an event without a size, or a wrong one, changes the plan.
            for bundle_files in plan_by_size(fetched, lambda f: f.size, lambda f: f.identity, self.bundle_limit):
                self._ship(bundle_files, {f.identity: jobs[f.identity] for f in bundle_files}, token, result)
        finally:
            close_quietly(*(f.body for f in fetched))

    def _claim(
        self, jobs: dict[ObjectIdentity, FileJob], token: str, result: BatchResult
    ) -> tuple[list[FileJob], dict[str, list[FileJob]]]:
        """Claim a group's files at once; the ones to fetch, and the ones to resend by bundle.

        The claim batches run side by side. When one fails, every batch is waited for
        before anything is given back (a batch still writing would leave claims behind
        for the whole lease): claims are released, assigned files we re-locked unlocked
        (kept assigned), and the group's files fail.
        """
        identities = list(jobs)
        batches = [identities[i : i + CLAIM_BATCH] for i in range(0, len(identities), CLAIM_BATCH)]
        futures = [self.pool.submit(self.ledger.claim_many, batch, token) for batch in batches]
        claims: dict[ObjectIdentity, tuple[ClaimStatus, Any]] = {}
        error: Exception | None = None
        unsure: list[ObjectIdentity] = []  # a failed batch may have written some of its claims
        for batch, future in zip(batches, futures, strict=True):
            try:
                claims.update(future.result())
            except Exception as exc:  # noqa: BLE001 - the group's claims failed: its files go back
                error = error or exc
                unsure.extend(batch)
        if error is not None:
            held = [i for i, (status, _) in claims.items() if status is ClaimStatus.CLAIMED]
            self._release(held + unsure, token)
            relocked = [i for i, (status, _) in claims.items() if status is ClaimStatus.ASSIGNED]
            if relocked:
                self._release(relocked, token, self.ledger.release_assigned)
            for job in jobs.values():
                self._fail(job, error, result)
            return [], {}
        to_fetch: list[FileJob] = []
        resends: dict[str, list[FileJob]] = {}
        for identity, job in jobs.items():
            status, record = claims[identity]
            if status is ClaimStatus.CLAIMED:
                to_fetch.append(job)
            elif status is ClaimStatus.ASSIGNED and record is not None:
                job.assigned_sha256 = record.bundle_sha256
                resends.setdefault(str(record.bundle_key), []).append(job)
            elif status is ClaimStatus.COMPLETE:
                result.skipped.append(identity)
                logger.info("file already delivered; skipped", extra={"key": identity.key, "bucket": identity.bucket})
                metric("FilesSkippedDuplicate")
            else:
                self._fail(job, ClaimBusyError(f"{identity} is being delivered by another invocation"), result)
        return to_fetch, resends

    def _fetch_all(self, to_fetch: list[FileJob], token: str, result: BatchResult) -> list[SpooledFile]:
        """Fetch the claimed files into spools, side by side. A fetch never raises: whatever goes wrong fails
        (or, without room, defers) that file alone, with its claim released."""

        def fetch(job: FileJob) -> SpooledFile | Exception:
            try:
                return self._fetch(job)
            except Exception as exc:  # noqa: BLE001
                self.ledger_release(job.ref.identity, token)
                return exc

        fetched = []
        for job, outcome in zip(to_fetch, self.pool.map(fetch, to_fetch), strict=True):
            if isinstance(outcome, SpooledFile):
                fetched.append(outcome)
            elif isinstance(outcome, NoRoomError):
                logger.info("no room for a file larger than its event said: deferred", extra={"key": job.ref.key})
                self._defer([job], result)
            else:
                self._fail(job, outcome, result)
        return fetched

    def _fetch(self, job: FileJob) -> SpooledFile:
        """Stream the landed revision into a spool, hashing it on the way (the manifest names each file's SHA-256)."""
        ref = job.ref
        stream = self.landing.open(ref)
        spool: IO[bytes] | None = None
        try:
            self._room_for(job, stream.size)
            with self._spooling(str(ref.identity)):
                spool = self.spools.new(stream.size)
                size, sha256 = copy_hashing(stream.body, spool, check=self._check_streaming)
        except BaseException:
            close_quietly(spool)
            raise
        finally:
            close_quietly(stream.body)
        if size != stream.size:
            spool.close()
            raise StorageUnavailableError(f"{ref.identity}: S3 sent {size} of its {stream.size} bytes")
        return SpooledFile(ref, spool, size, sha256, stream.version_id or ref.version_id, stream.etag or ref.etag)

    def _room_for(self, job: FileJob, size: int) -> None:
        """After the GET, before a byte is read: admission counted the event's size, S3 said ``size``.

        A file no invocation could hold is too large; one larger than its event said (or
        of no said size) whose extra bytes and bundle do not fit the room left is deferred.
        """
        ref = job.ref
        if self._never_fits(size):
            raise self._too_large(ref.identity, size)
        extra = size - (job.hint or 0)
        if extra > 0:
            need = extra + self._bundle_estimate(extra)
            with self._unplanned_lock:
                room = self.spools.room() - self._unplanned
                if need > room:
                    raise NoRoomError(f"{ref.identity} is {size} bytes, {extra} more than its event said: no room ({room})")
                self._unplanned += need

    @staticmethod
    @contextmanager
    def _spooling(what: str) -> Iterator[None]:
        """A spool that cannot be made or written (ENOSPC, no memory for its map) fails its own file, retryably."""
        try:
            yield
        except (OSError, MemoryError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise SpoolUnavailableError(f"{what}: its spool failed ({detail})") from None

    def _ship(self, group: list[SpooledFile], jobs: dict[ObjectIdentity, FileJob], token: str, result: BatchResult) -> None:
        """Build into a spool, archive, assign, deliver, mark complete: one new bundle, all or nothing."""
        bundle: Bundle | None = None
        assigned = False
        out: IO[bytes] | None = None
        try:
            with self._spooling(f"a bundle of {len(group)} files"):
                out = self.spools.new(self._bundle_estimate(sum(f.size for f in group)))
                bundle = write_bundle(group, out, check=self._check_streaming)
            key = archive_key(self.archive_prefix, bundle)
            self._check_time(bundle)  # before anything is written: a bundle given back leaves nothing behind
            self.archive.put(key, bundle, check=self._check_streaming)
            # The index lines only once the bundle is there (a line must never point at nothing), beside the
            # assignment; both before the POST.
            index = self.pool.submit(self.archive.put_index, index_key(bundle), index_lines(bundle, key))
            try:
                # From here on these files only ever go out in this bundle, whatever happens to this invocation.
                if not self.ledger.assign(bundle.identities, token, key, bundle.sha256):
                    raise ClaimBusyError(f"bundle {bundle.bundle_id}: a file was claimed by another invocation; not sent")
                assigned = True
            finally:
                index_error = index.exception()
            if index_error is not None:
                # Nothing was sent: the assignment goes (a resend would never write the missing line),
                # so the retry builds the same bundle again and writes its index line with it.
                self._abandon([jobs[f.identity] for f in group], token, key)
                assigned = False
                raise index_error
            metric("BundlesArchived")
            self._check_time(bundle)  # the assignment took time too
            status = self._post(bundle, key)
        except NiFiRejectedError as exc:
            # NiFi answered this first POST with a definitive refusal: it holds no copy, so the assignment
            # is dropped and the files are built afresh, instead of pinning them to a bundle NiFi refuses.
            self._abandon([jobs[f.identity] for f in group], token, key)
            assert bundle is not None  # only a POST raises it
            close_quietly(out)  # its room goes to the halves
            self._refused(bundle, exc, group, jobs, token, result)
            return
        except Exception as exc:  # noqa: BLE001 - one bundle's failure must not take the others down
            self._bundle_failed(bundle, exc, [jobs[f.identity] for f in group], token, assigned, result)
            return
        finally:
            close_quietly(out)
        self._acknowledged(bundle, key, status, [f.ref for f in group], result)

    def _refused(
        self,
        bundle: Bundle,
        exc: NiFiRejectedError,
        group: list[SpooledFile],
        jobs: dict[ObjectIdentity, FileJob],
        token: str,
        result: BatchResult,
    ) -> None:
        """A bundle NiFi refused (and so does not hold) is split before anyone is blamed.

        Halves, claimed again (the refusal's abandon gave the claims back), each shipped as a
        bundle of its own, down to one file: only a file refused alone fails, with NiFi's status.
        The invocation's clock stops the halving like any bundle (``time_budget``): the next
        receive builds the files afresh and goes on.
        """
        self._shrink_on_413(bundle, exc)
        if len(group) == 1:
            self._bundle_failed(bundle, exc, [jobs[group[0].identity]], token, False, result, evidence=bundle.sha256)
            return
        result.charge(exc, bundle.sha256, files=0)  # a refused bundle is evidence of NiFi, no file's fault yet
        logger.info(
            "NiFi refused a bundle of several files: split in two",
            extra={"bundle_id": bundle.bundle_id, "files": len(group), "status": exc.status},
        )
        metric("BundlesSplit")
        to_ship, resends = self._claim({f.identity: jobs[f.identity] for f in group}, token, result)
        for resend_key, assigned in sorted(resends.items()):  # assigned meanwhile by another invocation
            self._resend(resend_key, assigned, token, result)
        claimed = {job.ref.identity for job in to_ship}
        kept = [f for f in group if f.identity in claimed]
        half = len(kept) // 2
        for part in (kept[:half], kept[half:]):
            if part:
                self._ship(part, jobs, token, result)

    def _shrink_on_413(self, bundle: Bundle, exc: NiFiRejectedError) -> None:
        """NiFi's body limit is below our bundles: plan the next ones at half the refused one's size."""
        if exc.status != 413 or bundle.file_count < 2:
            return
        limit = max(MIN_BUNDLE_LIMIT, bundle.raw_bytes // 2)
        if limit < self.bundle_limit:
            self.bundle_limit = limit
            logger.warning("NiFi answered 413: bundles are planned smaller", extra={"bundle_limit": limit})

    def _resend(self, key: str, jobs: list[FileJob], token: str, result: BatchResult) -> None:
        """Send an archived bundle again, byte for byte: its files were assigned to it before a POST.

        One invocation at a time resends a given bundle (a lease on the bundle in the
        ledger): after an outage its files' messages come back in several batches at
        once, and each would otherwise send the same bytes again.
        """
        bundle: Bundle | None = None
        assigned = True
        lock = ObjectIdentity(RESEND_LOCK, key, "resend")
        spool: IO[bytes] | None = None
        try:
            if self.ledger.claim(lock, token) is not ClaimStatus.CLAIMED:
                raise ClaimBusyError(f"bundle {key} is being resent by another invocation")
            # Spooled and hashed first: only bytes verified against the ledger's SHA-256 go out.
            stream = self.archive.open(key)
            try:
                # The archived bundle may hold files of other batches: admission did not count all of it.
                if stream.size > self.spools.room():
                    raise NoRoomError(f"archived bundle {key} is {stream.size} bytes: no room ({self.spools.room()})")
                with self._spooling(f"archived bundle {key}"):
                    spool = self.spools.new(stream.size)
                    size, digest = copy_hashing(stream.body, spool, check=self._check_streaming)
            finally:
                close_quietly(stream.body)
            if size != stream.size:  # a short read is S3's (or the network's), not a corrupt archive
                raise ArchiveUnavailableError(f"archived bundle {key}: S3 sent {size} of its {stream.size} bytes")
            expected = jobs[0].assigned_sha256
            if digest != expected:
                raise ArchiveCorruptError(f"archived bundle {key} does not hash to {expected}")
            try:
                bundle = bundle_from_archive(Body(spool, size), digest)
            except (ValueError, OSError, tarfile.TarError) as exc:
                raise ArchiveCorruptError(f"archived bundle {key} is unreadable: {exc}") from None
            if not self.ledger.bundle_intact(bundle.identities, key):
                for job in jobs:
                    self.ledger.abandon(job.ref.identity, token, key)
                assigned = False
                raise BundleNotIntactError(f"bundle {key} was never assigned whole, so never sent: its files are built afresh")
            self._check_time(bundle)
            status = self._post(bundle, key)
        except NiFiRejectedError as exc:
            # NiFi holds no copy: the assignment goes. One file alone fails; several are built afresh on their
            # next receive (the bundle's other files find it no longer intact), where a refusal splits them.
            assert bundle is not None  # only a POST raises it
            self._abandon(jobs, token, key)
            self._shrink_on_413(bundle, exc)
            if bundle.file_count == 1:
                self._bundle_failed(bundle, exc, jobs, token, False, result, archive=key, evidence=bundle.sha256)
            else:
                result.charge(exc, bundle.sha256, files=0)
                refused = BundleRefusedError(f"NiFi refused archived bundle {key} (HTTP {exc.status}): built afresh, split")
                self._bundle_failed(bundle, refused, jobs, token, False, result, archive=key)
        except NoRoomError:
            logger.info("no room to resend an archived bundle: deferred", extra={"archive_key": key, "files": len(jobs)})
            self._release([job.ref.identity for job in jobs], token, self.ledger.release_assigned)
            self._defer(jobs, result)
        except Exception as exc:  # noqa: BLE001
            self._bundle_failed(bundle, exc, jobs, token, assigned, result, archive=key)
        else:
            metric("BundlesResent")
            self._acknowledged(bundle, key, status, [job.ref for job in jobs], result)
        finally:
            close_quietly(spool)
            # Only once its files are complete: a resend lease given up earlier lets another invocation send it again.
            self.ledger_release(lock, token)

    def _bundle_failed(
        self,
        bundle: Bundle | None,
        exc: BaseException,
        jobs: list[FileJob],
        token: str,
        assigned: bool,
        result: BatchResult,
        archive: str | None = None,
        evidence: str | None = None,
    ) -> None:
        error = exc if isinstance(exc, CourierError) else None
        reason = error.reason if error else "internal_error"
        log = logger.warning if error else logger.exception
        log(
            "bundle not delivered; its messages go back to the queue",
            extra={
                "bundle_id": bundle.bundle_id if bundle else None,
                "sha256": bundle.sha256 if bundle else None,
                "archive_key": archive,
                "files": len(jobs),
                "reason": reason,
                "error": str(exc) if error else type(exc).__name__,
                "status": getattr(exc, "status", None),
                "resend": archive is not None,
            },
        )
        for job in jobs:
            self._fail(job, exc, result, reason=reason, evidence=evidence)
        identities = [job.ref.identity for job in jobs]
        if assigned:  # the assignment stays: the retry resends this very bundle at once
            self._release(identities, token, self.ledger.release_assigned)
        else:
            self._release(identities, token)

    def _acknowledged(self, bundle: Bundle, key: str, status: int, refs: list[ObjectRef], result: BatchResult) -> None:
        acked_at = self.clock()
        self._record_delivery(bundle, key, status, acked_at, refs)
        result.delivered.extend(ref.identity for ref in refs)
        result.bundles.append((key, bundle))
        tagged = self.pool.submit(self.archive.mark_delivered, key)
        try:
            # Every file of the bundle, also those whose messages are not in this batch.
            self.ledger.complete(bundle.identities, key, bundle.sha256)
        except CourierError as exc:
            # Delivered: acknowledging is right. The assignment stays, so a retry of any of
            # these files resends this same bundle (same SHA-256), never a different one.
            logger.error("delivered but not marked complete", extra={"bundle_id": bundle.bundle_id, "error": str(exc)})
            metric("LedgerCompleteFailed")
        try:
            tagged.result()
        except CourierError as exc:
            # Only replays by time range and the archive's lifecycle look at the tag; the files themselves are safe.
            logger.warning("bundle delivered but not tagged as delivered", extra={"archive_key": key, "error": str(exc)})
        self._tag_landed(bundle)

    def _tag_landed(self, bundle: Bundle) -> None:
        """Let the landing bucket's lifecycle expire these revisions a week after landing.

        Best effort and after the acknowledgement: an untagged revision is only kept
        longer (to the lifecycle's hard cap), never lost.
        """

        def tag(identity: ObjectIdentity) -> bool:
            try:
                return self.landing.mark_delivered(identity)
            except Exception:  # noqa: BLE001
                return False

        untagged = sum(1 for done in self.pool.map(tag, bundle.identities) if not done)
        if untagged:
            metric("LandedFilesUntagged", untagged)

    # --- helpers --------------------------------------------------------------

    def _check_time(self, bundle: Bundle) -> None:
        """Give the bundle back unless a whole POST (its body's transfer included) and the bookkeeping fit."""
        if self.remaining_ms is None:
            return
        left = self.remaining_ms() / 1000
        needed = budget.post_needed_seconds(self.post_budget_seconds, bundle.size, self.stream_bytes_per_second)
        if left < needed:
            metric("BundlesDeferred")
            raise TimeBudgetError(f"{left:.1f} s left, a POST of bundle {bundle.bundle_id} may need {needed:.1f} s: given back")

    def _check_streaming(self) -> None:
        """Between chunks of a fetch, a build, an upload: stop once not even an empty POST and the bookkeeping fit.

        The error takes the normal way out: a multipart upload is aborted, the claims
        are released, the messages fail with ``time_budget`` (and a note).
        """
        if self.remaining_ms is None:
            return
        left = self.remaining_ms() / 1000
        needed = self.post_budget_seconds + budget.BOOKKEEPING_SECONDS
        if left < needed:
            metric("StreamsStopped")
            raise TimeBudgetError(f"{left:.1f} s left, a POST may need {needed:.1f} s: streaming stopped")

    def _post(self, bundle: Bundle, key: str) -> int:
        """Deliver (streamed from the spool); on a 422 send once more (the bytes are verified first), then give up loudly."""
        try:
            return self.deliver(bundle.body, bundle.sha256, bundle.bundle_id, bundle.file_count, key)
        except NiFiHashRejectedError:
            if bundle.body.sha256() != bundle.sha256:
                raise  # our spool corrupted the bytes: the retry sends the archived copy
            self._check_time(bundle)
            metric("HashRejected")
            try:
                return self.deliver(bundle.body, bundle.sha256, bundle.bundle_id, bundle.file_count, key)
            except NiFiHashRejectedError:
                # The same verified bytes were rejected twice: corruption on the network path.
                logger.error(
                    "NiFi rejected the same verified bundle twice: corruption on the path",
                    extra={"sha256": bundle.sha256, "archive_key": key},
                )
                metric("HashRejectedTwice")
                raise

    def _record_delivery(self, bundle: Bundle, key: str, status: int, acked_at: float, refs: list[ObjectRef]) -> None:
        logger.info(
            "bundle delivered",
            extra={
                "bundle_id": bundle.bundle_id,
                "sha256": bundle.sha256,
                "archive_key": key,
                "files": bundle.file_count,
                "raw_bytes": bundle.raw_bytes,
                "bytes": bundle.size,
                "status": status,
            },
        )
        metric("BundlesDelivered")
        metric("FilesDelivered", bundle.file_count)
        metric("BundleRawBytes", bundle.raw_bytes, MetricUnit.Bytes)
        metric("BundleCompressedBytes", bundle.size, MetricUnit.Bytes)
        metric("NiFiResponses", status_code=str(status))
        for ref in refs:
            latency = max(0.0, acked_at - ref.event_time.timestamp())
            metric("DeliveryLatency", latency, MetricUnit.Seconds)

    def _fail(
        self,
        job: FileJob,
        error: BaseException | None,
        result: BatchResult,
        reason: str | None = None,
        evidence: str | None = None,
    ) -> None:
        """Fail a file's messages; ``evidence`` is what its failure shows of a dependency (the file, unless told)."""
        known = error if isinstance(error, CourierError) else None
        reason = reason or (known.reason if known else "internal_error")
        # An unexpected exception's text may quote anything it touched: only its class is kept.
        detail = str(known) if known else (type(error).__name__ if error is not None else reason)
        for message_id in job.message_ids:
            if result.failed.get(message_id) == DEFERRED:  # a failure says more than a deferral of another file
                del result.failed[message_id]
            result.failed.setdefault(message_id, reason)
            result.reasons.setdefault(message_id, set()).add(reason)
            result.details.setdefault(message_id, detail)
            result.objects.setdefault(message_id, set()).add(f"s3://{job.ref.bucket}/{job.ref.key}")
        if error is not None and not isinstance(error, ClaimBusyError):
            (logger.warning if known else logger.error)(
                "file failed; its messages go back to the queue",
                extra={
                    "bucket": job.ref.bucket,
                    "key": job.ref.key,
                    "reason": reason,
                    "error": detail,
                    "message_ids": sorted(job.message_ids),
                },
            )
        result.failed_files[reason] += 1
        result.charge(error, evidence or str(job.ref.identity))

    def _abandon(self, jobs: list[FileJob], token: str, key: str) -> None:
        """Forget these files' assignment to a bundle NiFi never kept (a lease left behind lapses on its own)."""
        for job in jobs:
            self._quietly(lambda identity, token: self.ledger.abandon(identity, token, key), job.ref.identity, token)

    def ledger_release(self, identity: ObjectIdentity, token: str) -> None:
        self._quietly(self.ledger.release, identity, token)

    def _quietly(self, release: Callable[[ObjectIdentity, str], None], identity: ObjectIdentity, token: str) -> None:
        try:
            release(identity, token)
        except Exception as exc:  # noqa: BLE001
            # The lease lapses on its own; the retry waits for it.
            logger.warning(
                "claim not released",
                extra={"key": identity.key, "error": str(exc) if isinstance(exc, CourierError) else type(exc).__name__},
            )

    def _release(
        self, identities: list[ObjectIdentity], token: str, release: Callable[[ObjectIdentity, str], None] | None = None
    ) -> None:
        """Give claims back: plain claims in one batched call, assigned ones (``release``) from the pool."""
        if release is None:
            try:
                self.ledger.release_many(identities, token)
            except Exception as exc:  # noqa: BLE001 - a claim not given back lapses with its lease; never fail on it
                error = str(exc) if isinstance(exc, CourierError) else type(exc).__name__
                logger.warning("claims not released; their leases lapse", extra={"files": len(identities), "error": error})
            return
        list(self.pool.map(lambda identity: self._quietly(release, identity, token), identities))


def _receive_count(record: Mapping[str, Any]) -> int:
    try:
        return int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
    except (TypeError, ValueError):
        return 1
