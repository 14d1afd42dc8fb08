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
left (``courier.admission``). A file above the bundle limit is a bundle of its own, streamed end to end;
above the ceiling (``max_object_bytes``, what one invocation can move in its
time), as its GET says, it is refused: ``object_too_large``.

A failure is charged to what caused it (the error classes say which, ``courier.errors``):
the file alone, or a dependency when the batch holds evidence not about one object.
A bundle NiFi refuses is split before anyone is blamed.

What a bundle's failure undoes, declared by each step where it makes its resource
(:class:`Undo`, run newest first; spools are closed either way):

================  ===========================  ===================================================
step              makes                        on the bundle's failure
================  ===========================  ===================================================
claim             claims, into a ledger group  released: the retry claims and builds afresh
re-plan           extra bundles' files moved   released (a group with a file not given back is
                  to groups of their own       never assigned)
build             the bundle's spool           closed (always, delivered or not)
archive           the archived bundle          kept: write-once, never sent unless assigned
assign            the group's assignment       kept, lease dropped: the retry resends it at once
index line        (failed: nothing sent)       group abandoned: the retry builds it again
POST refused      (NiFi holds no copy)         group abandoned; the bundle split
resend: claim     the group taken over         unlocked, still assigned (abandoned if the bundle
                                               is not intact or NiFi refused it)
resend: lease     a resend lease (only for     released last, once its files are complete
                  the previous version's
                  per-file items)
resend: read      the archived bundle's spool  closed (always)
================  ===========================  ===================================================
"""

from __future__ import annotations

import tarfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar

from aws_lambda_powertools.metrics import MetricUnit

from courier import budget
from courier.admission import Admission, Limits, bundle_estimate, spooling
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
    BreakerOpenError,
    BundleNotIntactError,
    BundleRefusedError,
    ClaimBusyError,
    CourierError,
    ForeignBucketError,
    LedgerUnavailableError,
    NiFiHashRejectedError,
    NiFiRejectedError,
    NoRoomError,
    PermanentError,
    StorageUnavailableError,
    reasons_where,
)
from courier.events import ObjectIdentity, ObjectRef, parse_batch
from courier.ledger.base import BaseLedger, ClaimStatus, FailureNote, LedgerRecord
from courier.observability import logger, metric
from courier.ports import Archive, Breaker, Delivery, Landing, NiFi, ParkingLot
from courier.spool import Spools, close_quietly

# Failures that wait out an outage: parked while the circuit is open (the error classes say which).
OUTAGE_REASONS = reasons_where(lambda error: error.waits_out_outage)
# Failures not worth a note for `courier dlq list` (transient by nature, and frequent).
UNNOTED_REASONS = reasons_where(lambda error: not error.leaves_note)
DEFERRED = NoRoomError.reason  # no room in this invocation: back to the queue unclaimed, visible again soon
# A deferral is not a failure and leaves no note, unless the message is halfway to the DLQ (maxReceiveCount 20):
# then `courier dlq list` must be able to say why it got there.
DEFER_NOTE_RECEIVES = 10
# A deferred message is visible again after this long. Each receive counts toward maxReceiveCount (20), so
# not 0: a message bounced at once by a busy fleet would burn receives in seconds. Groups are admitted
# oldest first, so a deferred file is ahead of newer ones in its next batch (docs/large-files.md).
DEFER_SECONDS = 30
# Identities per claim_many call, the calls in parallel on the pool: the DynamoDB ledger writes each claim as a
# conditional put of its own, side by side (issue 23), and the default per-item loop of BaseLedger.claim_many
# makes 25 claims in a row rather than 100.
CLAIM_BATCH = 25
MIN_BUNDLE_LIMIT = 1024  # the smallest COURIER_MAX_BUNDLE_BYTES: a 413 never shrinks bundles below it


@dataclass
class FileJob:
    ref: ObjectRef
    message_ids: set[str] = field(default_factory=set)
    assigned_sha256: str | None = None  # set when the file sits in an archived bundle to resend
    assigned_group: str | None = None  # that bundle's group in the ledger (None: a previous version's per-file item)
    # The size to plan with: the smallest any message announced (a forged one cannot inflate another's), None when
    # unknown or implausible. Only a hint: what a file is judged by is the size S3 gives on the GET.
    hint: int | None = None

    def announced(self, message_id: str, ref: ObjectRef) -> None:
        self.message_ids.add(message_id)
        if ref.size is not None:
            self.hint = ref.size if self.hint is None else min(self.hint, ref.size)


@dataclass(frozen=True)
class ResendLease:
    """The lease one invocation holds while it resends the archived bundle ``bundle_key`` of a previous version's
    per-file items: one resender at a time (a group's own lease does that for the bundles of this version).

    Not a landed file: the ledger keeps it as a record of its own (in a "bucket" no S3 bucket
    can be named, ``courier#resend``), so that its claim and release make it exclusive and let it lapse.
    """

    bundle_key: str
    LEDGER_BUCKET: ClassVar[str] = "courier#resend"

    @property
    def ledger_item(self) -> ObjectIdentity:
        """Where the ledger keeps it (its claim and release take a file's identity)."""
        return ObjectIdentity(self.LEDGER_BUCKET, self.bundle_key, "resend")


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
    """What became of one batch. ``failed`` and ``deferred`` both go back to SQS (``batchItemFailures``), but a
    deferral is not a failure: no room in this invocation, visible again soon, no note (until halfway to the DLQ)."""

    failed: dict[str, str] = field(default_factory=dict)  # messageId -> reason
    deferred: set[str] = field(default_factory=set)  # messageIds back to the queue unclaimed, failing nothing
    delivered: list[ObjectIdentity] = field(default_factory=list)
    skipped: list[ObjectIdentity] = field(default_factory=list)
    bundles: list[tuple[str, Bundle]] = field(default_factory=list)  # (archive key, bundle) delivered
    failed_files: Counter[str] = field(default_factory=Counter)  # reason -> files
    details: dict[str, str] = field(default_factory=dict)  # messageId -> error text (no content)
    objects: dict[str, set[str]] = field(default_factory=dict)  # messageId -> s3://bucket/key named
    systemic: str | None = None  # the dependency that failed the whole batch, if one did
    deferred_files: list[ObjectIdentity] = field(default_factory=list)  # back to the queue unclaimed (no room)
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

    @property
    def returned(self) -> list[str]:
        """Every message that goes back to the queue: failed or deferred."""
        return sorted(self.failed.keys() | self.deferred)

    def response(self) -> dict[str, list[dict[str, str]]]:
        """The partial batch response of ``ReportBatchItemFailures``."""
        return {"batchItemFailures": [{"itemIdentifier": m} for m in self.returned]}


@dataclass
class Invocation:
    """One call of :meth:`Aggregator.process`: everything that must not outlive it or be seen by another.

    The local stack runs two invocations side by side on one warm aggregator; in AWS there is
    one per execution environment. Either way nothing of one batch lives on the aggregator.
    """

    token: str  # the lease token of this invocation's claims
    admission: Admission  # its room and its time left
    result: BatchResult = field(default_factory=BatchResult)
    groups: int = 0  # ledger groups opened so far (a group: the files of one planned bundle)
    # Groups with a claimed file that was neither given back nor re-pointed: never assigned (BaseLedger's invariant).
    loose: set[str] = field(default_factory=set)

    def new_group(self) -> str:
        """A ledger group id no other invocation or bundle uses: the token and a counter."""
        self.groups += 1
        return f"{self.token}.{self.groups}"


class Undo:
    """What a bundle's failure gives back, declared by each step where it makes its resource.

    As s3transfer's ``add_failure_cleanup``: run newest first when the bundle fails, dropped
    when it is delivered. The module's table says what each step declares.
    """

    def __init__(self, first: Callable[[], object]) -> None:
        self._steps = [first]

    def supersede(self, step: Callable[[], object]) -> None:
        """The newest resource is what the last one turned into (claims into an assignment): only its undo runs."""
        self._steps[-1] = step

    def run(self) -> None:
        while self._steps:
            self._steps.pop()()


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
        self.archive_prefix = archive_prefix
        self.max_bundle_bytes = max_bundle_bytes
        # What bundles are planned to: shrunk when NiFi answers 413 (its body limit is below ours), for the
        # rest of this execution environment's life: that limit is NiFi's, not one batch's, so it is warm state.
        self.bundle_limit = max_bundle_bytes
        self.spools = spools or Spools(memory_bytes=2 * max_bundle_bytes)
        self.limits = Limits(post_budget_seconds, stream_bytes_per_second, max_object_bytes)
        self.landing_buckets = frozenset(landing_buckets) if landing_buckets is not None else None
        self.clock = clock
        # Reused across warm invocations: threads are created once, lazily.
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="courier")

    def process(self, records: Iterable[Mapping[str, Any]], remaining_ms: Callable[[], int] | None = None) -> BatchResult:
        """Handle one batch; ``remaining_ms`` is the Lambda context's clock of the time left, if any."""
        records = list(records)
        call = Invocation(uuid.uuid4().hex, Admission(self.spools, self.limits, remaining_ms))
        if self.breaker is not None and not self.breaker.admits():
            return self._fail_fast(records, call)
        jobs = self._collect(records, call)
        self._plausible_hints(jobs, call.admission)
        # One bundle at a time, planned from the sizes the events announce; the oldest group first,
        # so a file deferred for lack of room is ahead of newer ones in its next batch.
        planned = plan_by_size(jobs.values(), lambda job: job.hint or 0, lambda job: job.ref.identity, self.bundle_limit)
        planned.sort(key=lambda group: min(job.ref.event_time for job in group))
        for position, group in enumerate(planned):
            if position and self.breaker is not None and not self.breaker.admits():
                # The circuit opened during this batch: later groups are not claimed, only deferred (not failed).
                logger.info("NiFi circuit opened mid-batch: group deferred", extra={"files": len(group)})
                self._defer(group, call)
            elif call.admission.admits([job.hint or 0 for job in group], first=position == 0):
                self._run_group(group, call)
            else:
                self._defer(group, call)
        for reason, files in sorted(call.result.failed_files.items()):
            metric("FilesFailed", files, reason=reason)
        self._count_systemic(call)
        self._after_failures(records, call)
        return call.result

    def _count_systemic(self, call: Invocation) -> None:
        """A dependency that failed the batch, on evidence not about one object, is counted by the breaker.

        Nothing delivered or skipped, every failure either the dependency's or the file's own (those
        are never counted, whatever their number), and enough distinct evidence (``outage_evidence``).
        """
        if self.breaker is None or call.result.delivered or call.result.skipped or call.result.unexplained:
            return
        down = [(sum(e.reasons.values()), dependency, e) for dependency, e in sorted(call.result.evidence.items()) if e.enough]
        if not down:
            return
        _, dependency, evidence = max(down, key=lambda found: found[0])
        reason = evidence.reasons.most_common(1)[0][0]
        call.result.systemic = dependency
        logger.error("a dependency failed the whole batch", extra={"dependency": dependency, "reason": reason})
        metric("DependencyFailures", 1, dependency=dependency)
        self.breaker.record_failure(dependency, reason)

    def _fail_fast(self, records: list[Mapping[str, Any]], call: Invocation) -> BatchResult:
        """Circuit open: no ledger, no S3, no HTTP. Every message goes back, hidden for a while."""
        for record in records:
            call.result.failed[str(record.get("messageId", ""))] = BreakerOpenError.reason
            call.result.reasons.setdefault(str(record.get("messageId", "")), set()).add(BreakerOpenError.reason)
        logger.info("NiFi circuit open; failing the batch fast", extra={"messages": len(records)})
        metric("BreakerFastFail", len(records))
        if self.parking_lot is not None:
            self.parking_lot.park(records)
        return call.result

    def _after_failures(self, records: list[Mapping[str, Any]], call: Invocation) -> None:
        result = call.result
        if not result.failed and not result.deferred:
            return
        by_id = {str(r.get("messageId", "")): r for r in records}
        deferred = [record for mid, record in by_id.items() if mid in result.deferred]
        if deferred and self.parking_lot is not None:
            self.parking_lot.defer(deferred, DEFER_SECONDS)
        noted = [(mid, reason) for mid, reason in result.failed.items() if reason not in UNNOTED_REASONS]
        # A deferral leaves a note only once its message is halfway to the DLQ, so that `courier dlq list` can say why.
        noted += [
            (mid, DEFERRED) for mid in by_id if mid in result.deferred and _receive_count(by_id[mid]) >= DEFER_NOTE_RECEIVES
        ]
        notes = [
            FailureNote(
                message_id=mid,
                reason=reason,
                detail=result.details.get(mid, reason),
                receive_count=_receive_count(by_id.get(mid, {})),
                objects=tuple(sorted(result.objects.get(mid, ()))),
            )
            for mid, reason in noted
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
        if call.result.systemic or not self.breaker.admits():
            outage = [by_id[m] for m, reason in call.result.failed.items() if reason in OUTAGE_REASONS and m in by_id]
            if outage:
                self.parking_lot.park(outage)

    # --- steps ----------------------------------------------------------------

    def _collect(self, records: Iterable[Mapping[str, Any]], call: Invocation) -> dict[ObjectIdentity, FileJob]:
        jobs: dict[ObjectIdentity, FileJob] = {}
        announced = 0
        for message in parse_batch(records):
            if message.error is not None:
                call.result.failed[message.message_id] = message.error.reason
                call.result.reasons.setdefault(message.message_id, set()).add(message.error.reason)
                call.result.details[message.message_id] = str(message.error)
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
                        self._fail(FileJob(ref, {message.message_id}), refused, call)
                    elif job is not None and not ref.version_id and ref.etag != job.ref.etag:
                        # One write has one eTag: one of the two messages is forged, and the GET's If-Match would
                        # fail the other with it. This one waits its turn, judged on its own in a later batch.
                        logger.warning(
                            "two messages name one revision with different eTags: this one waits a later batch",
                            extra={"bucket": ref.bucket, "key": ref.key, "message_id": message.message_id},
                        )
                        self._defer([FileJob(ref, {message.message_id})], call)
                    else:
                        jobs.setdefault(ref.identity, FileJob(ref)).announced(message.message_id, ref)
        metric("FilesReceived", len(jobs))
        metric("FilesDuplicateInBatch", announced - len(jobs))
        return jobs

    @staticmethod
    def _plausible_hints(jobs: dict[ObjectIdentity, FileJob], admission: Admission) -> None:
        """A size no invocation could take (above the ceiling, or beyond the memory budget and disk) is not believed:
        anyone may write a notification. Planned as unknown, the file is judged by the size its GET gives."""
        for identity, job in jobs.items():
            size = job.hint
            if size is not None and not admission.believable(size):
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

    def _defer(self, group: list[FileJob], call: Invocation) -> None:
        """Back to the queue unclaimed and unfetched: not a failure, no note, visible again soon."""
        for job in group:
            for message_id in job.message_ids:
                if message_id not in call.result.failed:  # a failure says more than a deferral of another file
                    call.result.deferred.add(message_id)
                call.result.reasons.setdefault(message_id, set()).add(DEFERRED)
            call.result.deferred_files.append(job.ref.identity)
        metric("FilesDeferred", len(group))

    def _run_group(self, group: list[FileJob], call: Invocation) -> None:
        """Claim, resend, fetch, build, archive, assign, POST, complete: one group, its spools closed after.

        Resends go first: an archived bundle is spooled whole, and admission counted only
        the group's files, so it must not sit on the disk beside the group's new files.
        """
        jobs = {job.ref.identity: job for job in group}
        ledger_group = call.new_group()
        to_fetch, resends = self._claim(jobs, call, ledger_group)
        for key, assigned in sorted(resends.items()):
            self._resend(key, assigned, call)
        call.admission.new_group()
        fetched = self._fetch_all(to_fetch, call, ledger_group)
        try:
            # Planned again from what S3 said: an event without a size, or a wrong one, changes the plan.
            planned = plan_by_size(fetched, lambda f: f.size, lambda f: f.identity, self.bundle_limit)
            for bundle_files, bundle_group in self._placed(planned, ledger_group, jobs, call):
                self._ship(bundle_files, {f.identity: jobs[f.identity] for f in bundle_files}, call, bundle_group)
        finally:
            close_quietly(*(f.body for f in fetched))

    def _placed(
        self, planned: list[list[SpooledFile]], group: str, jobs: dict[ObjectIdentity, FileJob], call: Invocation
    ) -> list[tuple[list[SpooledFile], str]]:
        """Each bundle of a claimed group with its own ledger group: the first keeps ``group``, the others' files
        are re-pointed to new ones before any is assigned (a group names exactly the files pointing at it)."""
        placed = [(planned[0], group)] if planned else []
        for files in planned[1:]:
            new = call.new_group()
            identities = [f.identity for f in files]
            try:
                lost = set(self.ledger.regroup(identities, call.token, group, new))
            except Exception as exc:  # noqa: BLE001 - some may still point at ``group``: give them back
                if not self._release_claims(identities, call):
                    call.loose.add(group)
                for identity in identities:
                    self._fail(jobs[identity], exc, call)
                continue
            for identity in lost:  # taken over after our lease lapsed: ``group`` was abandoned with it
                self._fail(jobs[identity], ClaimBusyError(f"{identity} was claimed by another invocation"), call)
            kept = [f for f in files if f.identity not in lost]
            if kept:
                placed.append((kept, new))
        return placed

    def _claim(
        self, jobs: dict[ObjectIdentity, FileJob], call: Invocation, group: str
    ) -> tuple[list[FileJob], dict[str, list[FileJob]]]:
        """Claim a group's files at once into the ledger group ``group``; the ones to fetch, and the ones to resend by bundle.

        The claim batches run side by side. When one fails, every batch is waited for
        before anything is given back (a batch still writing would leave claims behind
        for the whole lease): claims are released, assigned files we took over unlocked
        (kept assigned), and the group's files fail.
        """
        identities = list(jobs)
        batches = [identities[i : i + CLAIM_BATCH] for i in range(0, len(identities), CLAIM_BATCH)]
        futures = [self.pool.submit(self.ledger.claim_many, batch, call.token, group) for batch in batches]
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
            self._release_claims(held + unsure, call)
            taken_over = [record for status, record in claims.values() if status is ClaimStatus.ASSIGNED and record]
            for resend_group, files in _by_group(taken_over).items():
                self._unlock_assigned(files, call, resend_group)
            for job in jobs.values():
                self._fail(job, error, call)
            return [], {}
        to_fetch: list[FileJob] = []
        resends: dict[str, list[FileJob]] = {}
        for identity, job in jobs.items():
            status, record = claims[identity]
            if status is ClaimStatus.CLAIMED:
                to_fetch.append(job)
            elif status is ClaimStatus.ASSIGNED and record is not None:
                job.assigned_sha256 = record.bundle_sha256
                job.assigned_group = record.group
                resends.setdefault(str(record.bundle_key), []).append(job)
            elif status is ClaimStatus.COMPLETE:
                call.result.skipped.append(identity)
                logger.info("file already delivered; skipped", extra={"key": identity.key, "bucket": identity.bucket})
                metric("FilesSkippedDuplicate")
            else:
                self._fail(job, ClaimBusyError(f"{identity} is being delivered by another invocation"), call)
        return to_fetch, resends

    def _fetch_all(self, to_fetch: list[FileJob], call: Invocation, group: str) -> list[SpooledFile]:
        """Fetch the claimed files into spools, side by side. A fetch never raises: whatever goes wrong fails
        (or, without room, defers) that file alone, with its claim released (if that fails, ``group`` is loose:
        never assigned, as its item would not name exactly its files)."""

        def fetch(job: FileJob) -> SpooledFile | Exception:
            try:
                return self._fetch(job, call)
            except Exception as exc:  # noqa: BLE001
                if not self._release_claim(job.ref.identity, call):
                    call.loose.add(group)
                return exc

        fetched = []
        for job, outcome in zip(to_fetch, self.pool.map(fetch, to_fetch), strict=True):
            if isinstance(outcome, SpooledFile):
                fetched.append(outcome)
            elif isinstance(outcome, NoRoomError):
                logger.info("no room for a file larger than its event said: deferred", extra={"key": job.ref.key})
                self._defer([job], call)
            else:
                self._fail(job, outcome, call)
        return fetched

    def _fetch(self, job: FileJob, call: Invocation) -> SpooledFile:
        """Stream the landed revision into a spool, hashing it on the way (the manifest names each file's SHA-256)."""
        ref = job.ref
        stream = self.landing.open(ref)
        spool: IO[bytes] | None = None
        try:
            call.admission.room_for(ref.identity, job.hint, stream.size)
            with spooling(str(ref.identity)):
                spool = self.spools.new(stream.size)
                size, sha256 = copy_hashing(stream.body, spool, check=call.admission.check_streaming)
        except BaseException:
            close_quietly(spool)
            raise
        finally:
            close_quietly(stream.body)
        if size != stream.size:
            spool.close()
            raise StorageUnavailableError(f"{ref.identity}: S3 sent {size} of its {stream.size} bytes")
        return SpooledFile(ref, spool, size, sha256, stream.version_id or ref.version_id, stream.etag or ref.etag)

    def _ship(self, group: list[SpooledFile], jobs: dict[ObjectIdentity, FileJob], call: Invocation, ledger_group: str) -> None:
        """Build into a spool, archive, assign, deliver, mark complete: one new bundle (ledger group ``ledger_group``),
        all or nothing.

        What a failure undoes: the module's table (each step declares its :class:`Undo`).
        """
        identities = [f.identity for f in group]
        undo = Undo(lambda: self._release_claims(identities, call))
        bundle: Bundle | None = None
        try:
            with ExitStack() as spool:
                bundle = self._build(group, call.admission, spool)
                key = archive_key(self.archive_prefix, bundle)
                call.admission.check_time(bundle)  # before anything is written: a bundle given back leaves nothing
                self.archive.put(key, bundle, check=call.admission.check_streaming)
                self._assign(bundle, key, call, undo, ledger_group)
                metric("BundlesArchived")
                call.admission.check_time(bundle)  # the assignment took time too
                status = self._post(call, bundle, key)
        except NiFiRejectedError as exc:
            assert bundle is not None  # only a POST raises it
            # NiFi answered this first POST with a definitive refusal: it holds no copy, so the assignment
            # is dropped and the files are built afresh, instead of pinning them to a bundle NiFi refuses.
            undo.supersede(lambda: self._abandon(identities, call, key, ledger_group))
            self._refused(bundle, exc, group, jobs, call, undo)
        except Exception as exc:  # noqa: BLE001 - one bundle's failure must not take the others down
            self._bundle_failed(bundle, exc, [jobs[i] for i in identities], call, undo)
        else:
            self._acknowledged(bundle, key, status, [f.ref for f in group], call, ledger_group)

    def _build(self, group: list[SpooledFile], admission: Admission, spool: ExitStack) -> Bundle:
        """The bundle of ``group`` in a spool of its own, closed with ``spool``."""
        with spooling(f"a bundle of {len(group)} files"):
            out = self.spools.new(bundle_estimate(sum(f.size for f in group)))
            spool.callback(close_quietly, out)
            return write_bundle(group, out, check=admission.check_streaming)

    def _assign(self, bundle: Bundle, key: str, call: Invocation, undo: Undo, group: str) -> None:
        """Write the index lines beside the assignment (one write: the group's item), both before the POST.

        The index lines only once the bundle is archived (a line must never point at nothing).
        From the assignment on, these files only ever go out in this bundle, whatever happens.
        """
        if group in call.loose:
            raise LedgerUnavailableError(f"bundle {bundle.bundle_id}: a file of its group was not given back; not sent")
        index = self.pool.submit(self.archive.put_index, index_key(bundle), index_lines(bundle, key))
        try:
            assigned = self.ledger.assign(bundle.identities, call.token, key, bundle.sha256, group)
        finally:
            index_error = index.exception()  # waited for either way: nothing is given back while it writes
        if not assigned:
            raise ClaimBusyError(f"bundle {bundle.bundle_id}: a file was claimed by another invocation; not sent")
        undo.supersede(lambda: self._unlock_assigned(bundle.identities, call, group))
        if index_error is not None:
            # Nothing was sent: the assignment goes (a resend would never write the missing line),
            # so the retry builds the same bundle again and writes its index line with it.
            undo.supersede(lambda: self._abandon(bundle.identities, call, key, group))
            raise index_error

    def _refused(
        self,
        bundle: Bundle,
        exc: NiFiRejectedError,
        group: list[SpooledFile],
        jobs: dict[ObjectIdentity, FileJob],
        call: Invocation,
        undo: Undo,
    ) -> None:
        """A bundle NiFi refused (and so does not hold) is split before anyone is blamed.

        Halves, claimed again (the refusal's abandon gave the claims back), each shipped as a
        bundle of its own, down to one file: only a file refused alone fails, with NiFi's status.
        The invocation's clock stops the halving like any bundle (``time_budget``): the next
        receive builds the files afresh and goes on.
        """
        self._shrink_on_413(bundle, exc)
        if len(group) == 1:
            self._bundle_failed(bundle, exc, [jobs[group[0].identity]], call, undo, evidence=bundle.sha256)
            return
        undo.run()
        call.result.charge(exc, bundle.sha256, files=0)  # a refused bundle is evidence of NiFi, no file's fault yet
        logger.info(
            "NiFi refused a bundle of several files: split in two",
            extra={"bundle_id": bundle.bundle_id, "files": len(group), "status": exc.status},
        )
        metric("BundlesSplit")
        ledger_group = call.new_group()
        to_ship, resends = self._claim({f.identity: jobs[f.identity] for f in group}, call, ledger_group)
        for resend_key, assigned in sorted(resends.items()):  # assigned meanwhile by another invocation
            self._resend(resend_key, assigned, call)
        claimed = {job.ref.identity for job in to_ship}
        kept = [f for f in group if f.identity in claimed]
        half = len(kept) // 2
        halves = [part for part in (kept[:half], kept[half:]) if part]
        for part, part_group in self._placed(halves, ledger_group, jobs, call):
            self._ship(part, jobs, call, part_group)

    def _shrink_on_413(self, bundle: Bundle, exc: NiFiRejectedError) -> None:
        """NiFi's body limit is below our bundles: plan the next ones at half the refused one's size."""
        if exc.status != 413 or bundle.file_count < 2:
            return
        limit = max(MIN_BUNDLE_LIMIT, bundle.raw_bytes // 2)
        if limit < self.bundle_limit:
            self.bundle_limit = limit
            logger.warning("NiFi answered 413: bundles are planned smaller", extra={"bundle_limit": limit})

    def _resend(self, key: str, jobs: list[FileJob], call: Invocation) -> None:
        """Send an archived bundle again, byte for byte: its files were assigned to it before a POST.

        One invocation at a time resends a given bundle (a lease on the bundle in the
        ledger): after an outage its files' messages come back in several batches at
        once, and each would otherwise send the same bytes again. On failure: the files,
        taken over by the claim, are unlocked and stay assigned (the retry resends at once),
        unless the bundle is not intact or NiFi refused it (then the assignment is abandoned);
        the lease is given up last, once the files are complete or given back.
        """
        identities = [job.ref.identity for job in jobs]
        group = jobs[0].assigned_group  # its lease, taken over by the claim, keeps other resenders out
        undo = Undo(lambda: self._unlock_assigned(identities, call, group))
        bundle: Bundle | None = None
        with ExitStack() as held:
            try:
                if group is None:
                    self._take_resend_lease(key, call, held)
                bundle = self._read_archived(key, jobs[0].assigned_sha256, call.admission, held)
                if not self.ledger.bundle_intact(bundle.identities, key):
                    undo.supersede(lambda: self._abandon(identities, call, key, group))
                    never_sent = f"bundle {key} was never assigned whole, so never sent: its files are built afresh"
                    raise BundleNotIntactError(never_sent)
                call.admission.check_time(bundle)
                status = self._post(call, bundle, key)
            except NiFiRejectedError as exc:
                # NiFi holds no copy: the assignment goes. One file alone fails; several are built afresh on their
                # next receive (the bundle's other files find it no longer intact), where a refusal splits them.
                assert bundle is not None  # only a POST raises it
                undo.supersede(lambda: self._abandon(identities, call, key, group))
                self._shrink_on_413(bundle, exc)
                if bundle.file_count == 1:
                    self._bundle_failed(bundle, exc, jobs, call, undo, archive=key, evidence=bundle.sha256)
                else:
                    call.result.charge(exc, bundle.sha256, files=0)
                    refused = BundleRefusedError(f"NiFi refused archived bundle {key} (HTTP {exc.status}): built afresh, split")
                    self._bundle_failed(bundle, refused, jobs, call, undo, archive=key)
            except NoRoomError:
                logger.info("no room to resend an archived bundle: deferred", extra={"archive_key": key, "files": len(jobs)})
                undo.run()
                self._defer(jobs, call)
            except Exception as exc:  # noqa: BLE001
                self._bundle_failed(bundle, exc, jobs, call, undo, archive=key)
            else:
                metric("BundlesResent")
                self._acknowledged(bundle, key, status, [job.ref for job in jobs], call, group)

    def _take_resend_lease(self, key: str, call: Invocation, held: ExitStack) -> None:
        """The lease on resending bundle ``key``, given up when ``held`` closes: once its files are complete."""
        lease = ResendLease(key).ledger_item
        if not self.ledger.hold(lease, call.token):
            raise ClaimBusyError(f"bundle {key} is being resent by another invocation")
        held.callback(self._release_claim, lease, call)

    def _read_archived(self, key: str, expected: str | None, admission: Admission, held: ExitStack) -> Bundle:
        """The archived bundle spooled and hashed (closed with ``held``): only bytes the ledger's SHA-256 vouches for go out."""
        stream = self.archive.open(key)
        try:
            admission.room_for_archived(key, stream.size)
            with spooling(f"archived bundle {key}"):
                spool = self.spools.new(stream.size)
                held.callback(close_quietly, spool)
                size, digest = copy_hashing(stream.body, spool, check=admission.check_streaming)
        finally:
            close_quietly(stream.body)
        if size != stream.size:  # a short read is S3's (or the network's), not a corrupt archive
            raise ArchiveUnavailableError(f"archived bundle {key}: S3 sent {size} of its {stream.size} bytes")
        if digest != expected:
            raise ArchiveCorruptError(f"archived bundle {key} does not hash to {expected}")
        try:
            return bundle_from_archive(Body(spool, size), digest)
        except (ValueError, OSError, tarfile.TarError) as exc:
            raise ArchiveCorruptError(f"archived bundle {key} is unreadable: {exc}") from None

    def _bundle_failed(
        self,
        bundle: Bundle | None,
        exc: BaseException,
        jobs: list[FileJob],
        call: Invocation,
        undo: Undo,
        *,
        archive: str | None = None,
        evidence: str | None = None,
    ) -> None:
        """Fail a bundle's files (their messages go back to the queue) and undo what its steps made."""
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
            self._fail(job, exc, call, reason=reason, evidence=evidence)
        undo.run()

    def _acknowledged(
        self, bundle: Bundle, key: str, status: int, refs: list[ObjectRef], call: Invocation, group: str | None
    ) -> None:
        acked_at = self.clock()
        self._record_delivery(bundle, key, status, acked_at, refs)
        call.result.delivered.extend(ref.identity for ref in refs)
        call.result.bundles.append((key, bundle))
        tagged = self.pool.submit(self.archive.mark_delivered, key)
        try:
            # Every file of the bundle, also those whose messages are not in this batch: one write, the group's.
            self.ledger.complete(bundle.identities, key, bundle.sha256, group)
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

    # --- helpers --------------------------------------------------------------

    def _post(self, call: Invocation, bundle: Bundle, key: str) -> int:
        """Deliver (streamed from the spool); on a 422 send once more (the bytes are verified first), then give up loudly."""
        try:
            return self.deliver(Delivery.of(bundle, key))
        except NiFiHashRejectedError:
            if bundle.body.sha256() != bundle.sha256:
                raise  # our spool corrupted the bytes: the retry sends the archived copy
            call.admission.check_time(bundle)
            metric("HashRejected")
            try:
                return self.deliver(Delivery.of(bundle, key))
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
        call: Invocation,
        reason: str | None = None,
        evidence: str | None = None,
    ) -> None:
        """Fail a file's messages; ``evidence`` is what its failure shows of a dependency (the file, unless told)."""
        known = error if isinstance(error, CourierError) else None
        reason = reason or (known.reason if known else "internal_error")
        # An unexpected exception's text may quote anything it touched: only its class is kept.
        detail = str(known) if known else (type(error).__name__ if error is not None else reason)
        for message_id in job.message_ids:
            call.result.deferred.discard(message_id)  # a failure says more than a deferral of another file
            call.result.failed.setdefault(message_id, reason)
            call.result.reasons.setdefault(message_id, set()).add(reason)
            call.result.details.setdefault(message_id, detail)
            call.result.objects.setdefault(message_id, set()).add(f"s3://{job.ref.bucket}/{job.ref.key}")
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
        call.result.failed_files[reason] += 1
        call.result.charge(error, evidence or str(job.ref.identity))

    # --- giving back what the ledger holds for us: one name per way -------------------------
    # release: delete a plain claim (the file is claimed afresh); unlock: drop our lease on an assigned file, the
    # assignment kept (the same bundle is resent); abandon: forget an assignment to a bundle never kept by NiFi.
    # "Take over": a claim of an assigned file whose lease lapsed (ClaimStatus.ASSIGNED).

    def _release_claims(self, identities: list[ObjectIdentity], call: Invocation) -> bool:
        """Release plain claims (in progress, not assigned) in one batched call: the retry claims them afresh.
        False when they may not have been released."""
        try:
            self.ledger.release_many(identities, call.token)
        except Exception as exc:  # noqa: BLE001 - a claim not given back lapses with its lease; never fail on it
            error = str(exc) if isinstance(exc, CourierError) else type(exc).__name__
            logger.warning("claims not released; their leases lapse", extra={"files": len(identities), "error": error})
            return False
        return True

    def _release_claim(self, identity: ObjectIdentity, call: Invocation) -> bool:
        """Release one plain claim (a file whose fetch failed, the resend lease); False when it may not have been."""
        return self._quietly(self.ledger.release, identity, call.token)

    def _unlock_assigned(self, identities: Sequence[ObjectIdentity], call: Invocation, group: str | None) -> None:
        """Drop our lease on an assigned group (a previous version's items: on each file), keeping the assignment:
        the retry resends that very bundle at once."""
        if group is not None:
            self._quietly(lambda _, token: self.ledger.unlock(group, token), identities[0], call.token)
            return
        list(self.pool.map(lambda identity: self._quietly(self.ledger.release_assigned, identity, call.token), identities))

    def _abandon(self, identities: Sequence[ObjectIdentity], call: Invocation, key: str, group: str | None) -> None:
        """Forget the assignment to a bundle NiFi never kept (a lease left behind lapses on its own): the group's
        (a previous version's items: each file's)."""
        if group is not None:
            self._quietly(lambda _, token: self.ledger.abandon_group(group, token), identities[0], call.token)
            return
        for identity in identities:
            self._quietly(lambda identity, token: self.ledger.abandon(identity, token, key), identity, call.token)

    @staticmethod
    def _quietly(give_back: Callable[[ObjectIdentity, str], None], identity: ObjectIdentity, token: str) -> bool:
        try:
            give_back(identity, token)
        except Exception as exc:  # noqa: BLE001
            # The lease lapses on its own; the retry waits for it.
            logger.warning(
                "claim not released",
                extra={"key": identity.key, "error": str(exc) if isinstance(exc, CourierError) else type(exc).__name__},
            )
            return False
        return True


def _by_group(records: Iterable[LedgerRecord]) -> dict[str | None, list[ObjectIdentity]]:
    """Files taken over for a resend, by their group (None: a previous version's per-file items, unlocked one by one)."""
    groups: dict[str | None, list[ObjectIdentity]] = {}
    for record in records:
        groups.setdefault(record.group, []).append(record.identity)
    return groups


def _receive_count(record: Mapping[str, Any]) -> int:
    try:
        return int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
    except (TypeError, ValueError):
        return 1
