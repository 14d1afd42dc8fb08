"""In-memory fakes of courier's own ports (``courier.ports``), for unit tests of the core without moto.

Each fake keeps to its port's contract and no more: it stores what it is given,
answers the way the real adapter answers (including the errors the adapter
translates to), and records the calls a test wants to assert on. Failures are
injected by naming them, never by patching the object under test.

NiFi is not faked as a port: :class:`FakeNiFi` is an ``httpx.MockTransport``
behind a real :class:`~courier.adapters.nifi.NiFiClient`, so headers, the
401 re-read and the status mapping are the production ones.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import io
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import httpx

from courier.adapters.breaker import COUNTED_FAILURES
from courier.adapters.nifi import NiFiClient
from courier.bundle import Body, Bundle, read_manifest
from courier.delivery import SHA256_HEADER, Credentials
from courier.errors import (
    ArchiveCorruptError,
    ArchiveUnavailableError,
    AwsCallError,
    BreakerOpenError,
    CourierError,
    Dependency,
    DependencyUnavailableError,
    LedgerUnavailableError,
    ObjectMissingError,
    ObjectSupersededError,
    ObjectTooLargeError,
)
from courier.events import ObjectIdentity, ObjectRef, decode_key
from courier.ledger.base import (
    ASSIGNED,
    COMPLETE,
    IN_PROGRESS,
    BaseLedger,
    FailureNote,
    GroupRecord,
    LedgerRecord,
    resolved,
)
from courier.ports import BreakerReading, BreakerState, ObjectStream, VersionDeleteFailure
from courier.spool import Spools
from support import s3_record

LANDING_BUCKET = "courier-landing"
NIFI_URL = "https://nifi.test/contentListener"
USERNAME, PASSWORD = "courier", "s3cr3t"


class FakeClock:
    """Epoch seconds that only move when a test says so (ledger leases, TTLs, the breaker's recovery).

    It starts at the wall clock's whole second: events made with ``datetime.now`` landed "now" for
    the aggregator too, which refuses files that landed longer ago than the ledger keeps records.
    """

    def __init__(self, now: float | None = None) -> None:
        self.now = float(int(time.time())) if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- ledger ------------------------------------------------------------------------


class InMemoryLedger(BaseLedger):
    """The ledger's storage primitives over a dict; the policy is the real one in ``BaseLedger``.

    Like DynamoDB it deletes nothing on expiry (TTL is lazy, the policy checks
    ``expires_at``), and the conditional claim is atomic: the aggregator claims
    from a thread pool. ``fail("complete")`` (or claim, release, lookup, note)
    makes that operation raise ``LedgerUnavailableError``, as the DynamoDB
    backend does when DynamoDB fails. ``hooks["claim"]`` (or ``"release"``) is
    called with the identity before each claim (release) of one file, outside
    the lock: a test makes one file's claim fail, or wait, with it.
    """

    def __init__(self, ttl_seconds: int = 7 * 86400, lease_seconds: int = 900, clock: Callable[[], float] = time.time) -> None:
        super().__init__(ttl_seconds=ttl_seconds, lease_seconds=lease_seconds, clock=clock)
        self.items: dict[tuple[str, str], LedgerRecord] = {}  # (object_name, revision) -> record
        self.groups: dict[str, GroupRecord] = {}  # group id -> its item
        self.notes: dict[str, tuple[FailureNote, int]] = {}  # message id -> (note, expires_at)
        self.calls: list[str] = []  # operations, in order
        self.failing: set[str] = set()
        self.lock = threading.Lock()
        self.hooks: dict[str, Callable[[ObjectIdentity], None]] = {}

    def fail(self, *operations: str) -> None:
        self.failing.update(operations)

    def _hook(self, operation: str, identity: ObjectIdentity) -> None:
        hook = self.hooks.get(operation)
        if hook is not None:
            hook(identity)

    def _enter(self, operation: str) -> None:
        self.calls.append(operation)
        if operation in self.failing:
            raise LedgerUnavailableError(f"idempotency ledger {operation} failed (injected)")

    @staticmethod
    def _key(identity: ObjectIdentity) -> tuple[str, str]:
        return identity.object_name, identity.revision

    def _put_if_claimable(self, record: LedgerRecord, now: int) -> LedgerRecord | None:
        self._hook("claim", record.identity)
        with self.lock:
            self._enter("claim")
            existing = self.items.get(self._key(record.identity))
            claimable = (
                existing is None
                or existing.expires_at <= now
                or (existing.status == IN_PROGRESS and existing.lease_until <= now and existing.group is None)
            )
            if not claimable:
                return existing
            self.items[self._key(record.identity)] = record
            return None

    def _put_many(self, records: list[LedgerRecord]) -> None:
        with self.lock:
            self._enter("complete")
            for record in records:
                self.items[self._key(record.identity)] = record

    def _delete_if_owned(self, identity: ObjectIdentity, token: str) -> None:
        self._hook("release", identity)
        with self.lock:
            self._enter("release")
            existing = self.items.get(self._key(identity))
            if existing is not None and existing.status == IN_PROGRESS and existing.claim_token == token:
                del self.items[self._key(identity)]

    def _relock_assigned(self, identity: ObjectIdentity, token: str, lease_until: int, now: int) -> LedgerRecord | None:
        with self.lock:
            self._enter("take over")
            existing = self.items.get(self._key(identity))
            if existing is None or existing.status != ASSIGNED or existing.lease_until > now:
                return None
            taken = replace(existing, claim_token=token, lease_until=lease_until)
            self.items[self._key(identity)] = taken
            return taken

    def _replace_if_grouped(self, record: LedgerRecord, group: str) -> bool:
        self._hook("claim", record.identity)
        with self.lock:
            self._enter("claim")
            existing = self.items.get(self._key(record.identity))
            if existing is None or existing.group != group:
                return False
            self.items[self._key(record.identity)] = record
            return True

    def _regroup_if_owned(self, identity: ObjectIdentity, token: str, old: str, new: str) -> bool:
        with self.lock:
            self._enter("regroup")
            existing = self.items.get(self._key(identity))
            if existing is None or existing.group != old or existing.claim_token != token:
                return False
            self.items[self._key(identity)] = replace(existing, group=new)
            return True

    def _get_group(self, group: str) -> GroupRecord | None:
        with self.lock:
            self._enter("read")
            return self.groups.get(group)

    def _put_group_if_absent(self, group: GroupRecord) -> GroupRecord | None:
        with self.lock:
            self._enter("assign" if group.status == ASSIGNED else "abandon")
            existing = self.groups.get(group.group)
            if existing is not None:
                return existing
            self.groups[group.group] = group
            return None

    def _take_over_group(self, group: str, token: str, lease_until: int, now: int) -> GroupRecord | None:
        with self.lock:
            self._enter("take over")
            existing = self.groups.get(group)
            if existing is None or existing.status != ASSIGNED or (existing.lease_until > now and existing.claim_token != token):
                return None
            taken = replace(existing, claim_token=token, lease_until=lease_until)
            self.groups[group] = taken
            return taken

    def _set_group_if_owned(self, group: str, token: str, *, status: str | None = None, lease_until: int | None = None) -> None:
        with self.lock:
            self._enter("unlock" if status is None else "abandon")
            existing = self.groups.get(group)
            if existing is None or existing.status != ASSIGNED or existing.claim_token != token:
                return
            changed = replace(existing, status=status or existing.status)
            self.groups[group] = changed if lease_until is None else replace(changed, lease_until=lease_until)

    def _complete_group(self, group: str, completed_at: int, expires_at: int) -> None:
        with self.lock:
            self._enter("complete")
            existing = self.groups.get(group) or GroupRecord(group, COMPLETE, expires_at)
            self.groups[group] = replace(
                existing, status=COMPLETE, completed_at=completed_at, expires_at=expires_at, lease_until=0
            )

    def _unassign_if_owned(self, identity: ObjectIdentity, token: str, bundle_key: str) -> None:
        with self.lock:
            self._enter("abandon")
            existing = self.items.get(self._key(identity))
            if existing and existing.status == ASSIGNED and existing.claim_token == token and existing.bundle_key == bundle_key:
                del self.items[self._key(identity)]

    def _unlock_if_owned(self, identity: ObjectIdentity, token: str) -> None:
        with self.lock:
            self._enter("unlock")
            existing = self.items.get(self._key(identity))
            if existing and existing.status == ASSIGNED and existing.claim_token == token:
                self.items[self._key(identity)] = replace(existing, lease_until=0)

    def _get_many(self, identities: list[ObjectIdentity]) -> list[LedgerRecord]:
        with self.lock:
            self._enter("read")
            return [self.items[self._key(i)] for i in dict.fromkeys(identities) if self._key(i) in self.items]

    def _records_of(self, object_name: str) -> list[LedgerRecord]:
        with self.lock:
            self._enter("lookup")
            return [r for (name, _), r in self.items.items() if name == object_name]

    def _put_notes(self, notes: list[FailureNote], expires_at: int) -> None:
        with self.lock:
            self._enter("note")
            for note in notes:
                # The DynamoDB backend keeps the first 1000 characters of the detail.
                kept = FailureNote(note.message_id, note.reason, note.detail[:1000], note.receive_count, note.objects, note.at)
                self.notes[note.message_id] = (kept, expires_at)

    def _get_note(self, message_id: str) -> FailureNote | None:
        with self.lock:
            self._enter("read note")
            found = self.notes.get(message_id)
            return found[0] if found else None

    # --- for assertions ---------------------------------------------------------

    def record_of(self, identity: ObjectIdentity) -> LedgerRecord | None:
        """The stored item, expired or not (what a scan of the table would show), its group resolved."""
        record = self.items.get(self._key(identity))
        if record is None or record.group is None:
            return record
        return resolved(record, self.groups.get(record.group))

    def resolved_items(self) -> list[LedgerRecord]:
        """Every stored file record, its group resolved."""
        return [r for r in map(self.record_of, [i.identity for i in list(self.items.values())]) if r is not None]


# --- S3 ------------------------------------------------------------------------------


class FakeLanding:
    """A versioned landing bucket in a dict, read the way ``S3Landing.fetch`` reads it.

    ``land`` stores a file and returns the S3 event record that announces it.
    ``open`` hands its body out as a stream, as ``S3Landing.open`` does; ``opened_sizes``
    keeps the length of each opened body (what a test of admission asserts on).
    ``fail(key, error)`` makes every fetch of that key raise ``error``
    (``ObjectMissingError``, ``StorageUnavailableError``: what ``S3Landing`` translates to);
    """

    def __init__(self, max_object_bytes: int | None = None) -> None:
        self.max_object_bytes = max_object_bytes
        self.objects: dict[tuple[str, str, str], bytes] = {}  # (bucket, key, version id) -> content
        self.errors: dict[tuple[str, str], CourierError] = {}
        self.fetched: list[ObjectIdentity] = []
        self.opened_sizes: list[int] = []
        self.versions = 0
        self.journal: list[str] | None = None  # shared with FakeNiFi.journal: the order of fetches and POSTs

    def land(
        self, key: str, content: bytes, bucket: str = LANDING_BUCKET, size: int | None = None, event_time: datetime | None = None
    ) -> dict[str, Any]:
        self.versions += 1
        version_id = f"v{self.versions}"
        self.objects[(bucket, key, version_id)] = content
        etag = hashlib.md5(content).hexdigest()  # noqa: S324 - S3's ETag of a single-part upload
        size = len(content) if size is None else size
        return s3_record(bucket, key, version_id=version_id, etag=etag, size=size, event_time=event_time)

    def delete(self, record: Mapping[str, Any]) -> None:
        """Delete the revision an event record announced (a later fetch: ObjectMissingError)."""
        s3 = record["s3"]
        self.objects.pop((s3["bucket"]["name"], decode_key(s3["object"]["key"]), s3["object"]["versionId"]), None)

    def fail(self, key: str, error: CourierError, bucket: str = LANDING_BUCKET) -> None:
        self.errors[(bucket, key)] = error

    def open(self, ref: ObjectRef) -> ObjectStream:
        if self.journal is not None:
            self.journal.append("fetch")
        self.fetched.append(ref.identity)
        if (ref.bucket, ref.key) in self.errors:
            raise self.errors[(ref.bucket, ref.key)]
        content = self.objects.get((ref.bucket, ref.key, ref.version_id or ""))
        if content is None:
            raise ObjectMissingError(f"{ref.identity} no longer exists in the landing bucket")
        etag = hashlib.md5(content).hexdigest()  # noqa: S324 - S3's ETag of a single-part upload
        if not ref.version_id and ref.etag and ref.etag != etag:  # S3LandingStore's If-Match: 412 PreconditionFailed
            raise ObjectSupersededError(f"{ref.identity} was overwritten before it was fetched: that revision is gone")
        if self.max_object_bytes is not None and len(content) > self.max_object_bytes:
            raise ObjectTooLargeError(f"{ref.identity} is {len(content)} bytes, above the ceiling")
        self.opened_sizes.append(len(content))
        return ObjectStream(len(content), io.BytesIO(content), ref.version_id, etag)


class FakeArchive:
    """The archive bucket in dicts: bundles by key, index lines by key, the keys tagged delivered.

    ``fail("put")`` (or ``put_index``, ``mark_delivered``) makes that call raise
    ``ArchiveUnavailableError``, as ``S3Archive`` does when S3 fails. ``short_by = n``
    makes ``open`` announce a bundle's whole length and send ``n`` bytes less (a
    connection dropped mid-body that the reader did not notice).
    """

    def __init__(self) -> None:
        self.bundles: dict[str, Bundle] = {}
        self.index: dict[str, bytes] = {}
        self.delivered: set[str] = set()
        self.calls: list[str] = []
        self.failing: set[str] = set()
        self.short_by = 0
        self.lock = threading.Lock()  # put_index runs on the aggregator's pool

    def fail(self, *operations: str) -> None:
        self.failing.update(operations)

    def _enter(self, operation: str, key: str) -> None:
        with self.lock:
            self.calls.append(operation)
        if operation in self.failing:
            raise ArchiveUnavailableError(f"archive {operation} of {key} failed (injected)")

    def put(self, key: str, bundle: Bundle, check: Callable[[], None] | None = None) -> None:
        """Keeps a copy of the bytes, as S3 does: the aggregator closes the bundle's spool after. ``check`` is
        called once, before the bytes are stored (one part)."""
        self._enter("put", key)
        if check is not None:
            check()
        self.bundles[key] = replace(bundle, body=Body.of(bundle.body.read()))

    def open(self, key: str) -> ObjectStream:
        self._enter("get", key)
        if key not in self.bundles:
            raise ArchiveCorruptError(f"archived bundle {key} is missing")
        data = self.bundles[key].data
        return ObjectStream(len(data), io.BytesIO(data[: len(data) - self.short_by]))

    def put_index(self, key: str, lines: bytes) -> None:
        self._enter("put_index", key)
        self.index[key] = lines

    def mark_delivered(self, key: str) -> None:
        self._enter("mark_delivered", key)
        if key not in self.bundles:  # S3 cannot tag an object that does not exist
            raise ArchiveUnavailableError(f"tagging {key}: no such key")
        self.delivered.add(key)


class FakeArchiveIndex:
    """The archive as the sweep reads it: index files by key, the bundle keys tagged delivered.

    ``fail("keys")`` (or ``read``, ``was_delivered``) makes every such call raise ``AwsCallError``
    until ``heal()``, as ``S3ArchiveReader`` does when S3 fails.
    """

    def __init__(self) -> None:
        self.index: dict[str, bytes] = {}
        self.delivered: set[str] = set()
        self.failing: set[str] = set()
        self.calls: list[tuple[str, str]] = []

    def fail(self, *operations: str) -> None:
        self.failing.update(operations)

    def heal(self) -> None:
        self.failing.clear()

    def _enter(self, operation: str, key: str) -> None:
        self.calls.append((operation, key))
        if operation in self.failing:
            raise AwsCallError(f"{operation} of {key} failed (injected)", "SlowDown")

    def keys(self, prefix: str) -> list[str]:
        self._enter("keys", prefix)
        return sorted(k for k in self.index if k.startswith(prefix))

    def read(self, key: str) -> bytes:
        self._enter("read", key)
        return self.index[key]

    def was_delivered(self, key: str) -> bool:
        self._enter("was_delivered", key)
        return key in self.delivered


class FakeLandingVersions:
    """Versioned landing buckets in dicts: bucket -> key -> version ids still stored.

    Deleting a version that is gone succeeds, as S3's DeleteObjects does. ``refuse[(key, version)] = code``
    makes S3 refuse that version in its answer; ``fail()`` makes the whole request raise ``AwsCallError``.
    """

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, list[str]]] = {}
        self.refuse: dict[tuple[str, str], str] = {}
        self.failing = False
        self.requests: list[tuple[str, list[tuple[str, str]]]] = []

    def put(self, bucket: str, key: str, version_id: str) -> None:
        self.stored.setdefault(bucket, {}).setdefault(key, []).append(version_id)

    def versions(self, bucket: str, key: str) -> list[str]:
        return list(self.stored.get(bucket, {}).get(key, []))

    def delete_versions(self, bucket: str, versions: Iterable[tuple[str, str]]) -> list[VersionDeleteFailure]:
        versions = list(versions)
        if len(versions) > 1000:
            raise AssertionError("DeleteObjects takes at most 1000 keys")
        self.requests.append((bucket, versions))
        if self.failing:
            raise AwsCallError(f"DeleteObjects in s3://{bucket} failed (injected)", "InternalError")
        refused = []
        for key, version_id in versions:
            code = self.refuse.get((key, version_id))
            if code is not None:
                refused.append(VersionDeleteFailure(key, version_id, code))
                continue
            stored = self.stored.get(bucket, {}).get(key, [])
            if version_id in stored:
                stored.remove(version_id)
        return refused


# --- NiFi ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SentRequest:
    """One request as it went over the wire: body, headers, and (for FakeNiFi) the status answered."""

    body: bytes
    headers: httpx.Headers
    status: int | None = None

    @property
    def sha256(self) -> str:
        return self.headers[SHA256_HEADER]


class FakeCredentialsSource:
    """The secret as ``CredentialsSource`` serves it: cached until ``get(refresh=True)``.

    Rotate by setting ``stored``: the cached credentials stay in use until a 401 makes the client refresh.
    """

    def __init__(self, credentials: Credentials | None = None) -> None:
        self.stored = credentials or Credentials(username=USERNAME, password=PASSWORD)
        self.cached = self.stored
        self.reads: list[bool] = []  # the refresh flag of every read

    def get(self, refresh: bool = False) -> Credentials:
        self.reads.append(refresh)
        if refresh:
            self.cached = self.stored
        return self.cached


class FakeNiFi:
    """NiFi's side of the delivery contract, as an ``httpx.MockTransport``.

    ``mode`` says how it answers: ``"ok"`` is the contract (401 on credentials
    other than ``credentials``, 422 when the body's SHA-256 is not the header's,
    200 otherwise); an int answers that status; ``"timeout"`` and ``"reset"``
    raise the httpx errors of a hung or dropped connection; ``"ack-lost"``
    accepts the bundle as ``"ok"`` would, then drops the answer (NiFi committed,
    the client never heard it). ``during_post`` (a callable) runs inside the
    request, while the client waits: a slow POST. ``script(...)``
    queues answers for the next requests, then ``mode`` applies again. ``judge``, when
    set, sees each body that passes the contract and may refuse it with a status
    (NiFi's body limit, a flow that rejects one file's content).
    Every request is kept in ``requests`` (body, headers, status answered).
    """

    def __init__(self, credentials: Credentials | None = None) -> None:
        self.credentials = credentials or Credentials(username=USERNAME, password=PASSWORD)
        self.mode: str | int = "ok"
        self.queued: deque[str | int] = deque()
        self.requests: list[SentRequest] = []
        self.lock = threading.Lock()
        self.during_post: Callable[[], None] | None = None
        self.journal: list[str] | None = None  # shared with FakeLanding.journal: the order of fetches and POSTs
        self.judge: Callable[[bytes], int | None] | None = None

    def script(self, *answers: str | int) -> None:
        self.queued.extend(answers)

    def client(self, credentials: FakeCredentialsSource | None = None) -> NiFiClient:
        """A real NiFiClient sending to this fake."""
        source = credentials or FakeCredentialsSource(self.credentials)
        transport = httpx.MockTransport(self.handle)
        return NiFiClient(NIFI_URL, source, ca_bundle=None, connect_timeout=1, read_timeout=1, transport=transport)

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        if self.journal is not None:
            self.journal.append("post")
        with self.lock:
            answer = self.queued.popleft() if self.queued else self.mode
        if answer == "timeout":
            self._keep(request, body, None)
            raise httpx.ReadTimeout("NiFi did not answer (injected)", request=request)
        if answer == "reset":
            self._keep(request, body, None)
            raise httpx.RemoteProtocolError("connection reset (injected)", request=request)
        if self.during_post is not None:
            slow, self.during_post = self.during_post, None
            slow()
        status = answer if isinstance(answer, int) else self._contract(request, body)
        self._keep(request, body, status)
        if answer == "ack-lost" and status == 200:
            raise httpx.ReadTimeout("NiFi committed but the answer was lost (injected)", request=request)
        return httpx.Response(status)

    def bundles_of_files(self) -> dict[tuple[str, str], set[str]]:
        """(bucket, key) -> the distinct SHA-256s of the accepted, non-replay bundles that contained it."""
        found: dict[tuple[str, str], set[str]] = {}
        for request in self.accepted:
            for entry in read_manifest(request.body)["files"]:
                found.setdefault((entry["bucket"], entry["key"]), set()).add(request.sha256)
        return found

    def _contract(self, request: httpx.Request, body: bytes) -> int:
        if not hmac.compare_digest(request.headers.get("Authorization", ""), self.credentials.authorization()):
            return 401
        if hashlib.sha256(body).hexdigest() != request.headers.get(SHA256_HEADER):
            return 422
        return (self.judge(body) if self.judge is not None else None) or 200

    def _keep(self, request: httpx.Request, body: bytes, status: int | None) -> None:
        with self.lock:
            self.requests.append(SentRequest(body, httpx.Headers(request.headers), status))

    @property
    def accepted(self) -> list[SentRequest]:
        return [r for r in self.requests if r.status is not None and 200 <= r.status < 300]


class RecordingTransport(httpx.BaseTransport):
    """Passes every request on to ``inner`` (a real ``httpx.HTTPTransport``) and keeps what was sent: a spy at the wire."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[SentRequest] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        response = self.inner.handle_request(request)
        self.requests.append(SentRequest(body, httpx.Headers(request.headers), response.status_code))
        return response

    def close(self) -> None:
        self.inner.close()


# --- breaker, parking lot, event source mapping ------------------------------------


class FakeBreaker:
    """The Breaker port's state machine in memory, as Powertools runs it for one execution environment.

    CLOSED: calls go through; ``failure_threshold`` consecutive counted failures
    (``NiFiUnavailableError``, ``NiFiAuthError``: the production ``COUNTED_FAILURES``)
    open it, and a success resets the count. OPEN: ``admits()`` is False and a
    guarded call raises ``BreakerOpenError`` without calling NiFi until
    ``recovery_seconds`` passed; then the next call becomes the HALF_OPEN probe
    (holding the probe lease for ``recovery_seconds``): a success closes the
    circuit, a counted failure re-opens it. Other errors (a 422) pass through
    and move nothing.
    """

    def __init__(self, failure_threshold: int = 3, recovery_seconds: int = 60, clock: Callable[[], float] = time.time) -> None:
        self.failure_threshold = failure_threshold
        self.recovery_seconds = recovery_seconds
        self.clock = clock
        self.state = BreakerState.CLOSED
        self.opened_at: int | None = None
        self.probe_until = 0.0
        self.failures = 0
        self.transitions: list[str] = []
        self.dependency: str | None = None
        self.unreadable = False  # read() raises, as a throttled GetItem makes the real one raise

    def open(self) -> None:
        """Open the circuit now (what the threshold-th counted failure does)."""
        self._move(BreakerState.OPEN)
        self.opened_at = int(self.clock())
        self.failures = 0

    def admits(self) -> bool:
        if self.state == BreakerState.CLOSED:
            return True
        if self.state == BreakerState.OPEN:
            return self.clock() >= (self.opened_at or 0) + self.recovery_seconds
        return self.clock() >= self.probe_until  # HALF_OPEN: only a lapsed probe is replaced

    def read(self) -> BreakerReading:
        if self.unreadable:
            raise AwsCallError("reading the circuit failed: ThrottlingException (injected)", "ThrottlingException")
        lease = int(self.probe_until) if self.state == BreakerState.HALF_OPEN else None
        return BreakerReading(self.state, self.opened_at, self.dependency, lease)

    def record_failure(self, dependency: str, reason: str) -> None:
        self.dependency = dependency

        def failed() -> int:
            raise DependencyUnavailableError(f"{dependency} failed the whole batch ({reason})", Dependency(dependency))

        try:
            self.guard(failed)()
        except (DependencyUnavailableError, BreakerOpenError):
            pass

    def mark_closed(self) -> None:
        self._move(BreakerState.CLOSED)
        self.opened_at = None

    def trip(self, dependency: str, reason: str) -> None:
        self.dependency = dependency
        self.open()

    def guard(self, deliver: Callable[..., int]) -> Callable[..., int]:
        def call(*args: Any, **kwargs: Any) -> int:
            if self.state == BreakerState.OPEN:
                if not self.admits():
                    raise BreakerOpenError("NiFi circuit is open; not calling it")
                self._move(BreakerState.HALF_OPEN)  # this call is the probe
                self.probe_until = self.clock() + self.recovery_seconds
            try:
                status = deliver(*args, **kwargs)
            except COUNTED_FAILURES:
                self.failures += 1
                if self.state == BreakerState.HALF_OPEN or self.failures >= self.failure_threshold:
                    self.open()
                raise
            self.failures = 0
            if self.state == BreakerState.HALF_OPEN:
                self._move(BreakerState.CLOSED)
                self.opened_at = None
            return status

        return call

    def _move(self, state: BreakerState) -> None:
        if state != self.state:
            self.transitions.append(f"{self.state}->{state}")
        self.state = state


class FakeParkingLot:
    """Parked records in a list; ``unpark_all`` empties it and says how many came back; deferred ones in ``deferred``."""

    def __init__(self) -> None:
        self.parked: list[Mapping[str, Any]] = []
        self.deferred: list[Mapping[str, Any]] = []  # made visible again soon: no room in the invocation
        self.defer_seconds: int | None = None
        self.released = 0

    def park(self, records: Iterable[Mapping[str, Any]]) -> None:
        self.parked.extend(records)

    def defer(self, records: Iterable[Mapping[str, Any]], seconds: int) -> None:
        self.deferred.extend(records)
        self.defer_seconds = seconds

    def unpark_all(self) -> int:
        count = len(self.parked)
        self.parked.clear()
        self.released += count
        return count

    def has_parked(self) -> bool:
        return bool(self.parked)

    def oldest_age_seconds(self) -> float | None:
        sent = [int(r.get("attributes", {}).get("SentTimestamp", 0)) / 1000 for r in self.parked]
        return (time.time() - min(sent)) if sent else None

    @property
    def parked_ids(self) -> set[str]:
        return {str(r["messageId"]) for r in self.parked}


class FakeDeadLetters:
    """The DLQ as the handler moves messages to it: ``moved`` holds (record, attributes); ``failing`` makes a move raise."""

    def __init__(self) -> None:
        self.moved: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []
        self.failing = False

    def move(self, record: Mapping[str, Any], attributes: Mapping[str, Any]) -> None:
        if self.failing:
            raise AwsCallError("sending to the DLQ failed (injected)", "InternalError")
        self.moved.append((record, dict(attributes)))

    @property
    def moved_ids(self) -> list[str]:
        return [str(record["messageId"]) for record, _ in self.moved]


class FakeEventSourceMapping:
    """An on/off switch that remembers every change the controller made."""

    def __init__(self, enabled: bool = True) -> None:
        self.is_enabled = enabled
        self.changes: list[bool] = []

    def enabled(self) -> bool:
        return self.is_enabled

    def set_enabled(self, enabled: bool) -> None:
        self.changes.append(enabled)
        self.is_enabled = enabled


# --- spools --------------------------------------------------------------------------


class FakeSpools(Spools):
    """Real spools (memory, then a temporary directory) with a disk of ``disk_bytes`` free (of ``disk_total_bytes``),
    whatever the machine has.

    ``peak_in_memory`` is the most the open in-memory spools held at once; ``on_disk``
    counts the spools made on disk from the start (they did not fit the budget).
    ``refuse_from = n``: a spool asked for ``n`` bytes or more cannot be made (``OSError``
    ENOSPC); ``full_from = n``: such a spool is made, and its first write fails so.
    """

    def __init__(
        self, memory_bytes: int, disk_bytes: int = 1 << 40, directory: str | None = None, disk_total_bytes: int = 1 << 40
    ) -> None:
        super().__init__(memory_bytes, directory)
        self.disk_bytes = disk_bytes
        self.disk_total_bytes = disk_total_bytes
        self.peak_in_memory = 0
        self.on_disk = 0
        self.refuse_from: int | None = None
        self.full_from: int | None = None

    def new(self, expected: int) -> Any:
        if self.refuse_from is not None and expected >= self.refuse_from:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        spool = super().new(expected)
        with self.lock:
            self.peak_in_memory = max(self.peak_in_memory, self.in_memory)
            self.on_disk += 0 if hasattr(spool, "on_disk") else 1
        if self.full_from is not None and expected >= self.full_from:
            return _FullSpool(spool)
        return spool

    def disk_free(self) -> int:
        return self.disk_bytes

    def disk_total(self) -> int:
        return self.disk_total_bytes


class _FullSpool:
    """A spool on a disk with no space left: every write fails with ENOSPC."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def write(self, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
