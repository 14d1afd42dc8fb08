"""The idempotency ledger's policy: claim, complete, release (no I/O here).

One item per landed file revision. Its life:

* absent -> ``IN_PROGRESS`` (claimed with a token and a lease) when an
  invocation starts working on the file;
* ``IN_PROGRESS`` -> ``ASSIGNED`` (with the archive key and SHA-256 of the
  bundle it was placed in) once that bundle is archived, *before* it is POSTed;
  from then on the file only ever goes out in that bundle, byte for byte;
* ``IN_PROGRESS`` or ``ASSIGNED`` -> ``COMPLETE`` only after NiFi acknowledged
  the bundle;
* ``IN_PROGRESS`` -> absent (released) when the file failed before its bundle
  was assigned, so the retry claims it again and builds afresh;
* ``ASSIGNED`` -> ``ASSIGNED`` unlocked (lease 0) when the POST failed, so the
  retry takes the lease over at once and resends the archived bundle.

A claim is granted when the item is absent, expired (DynamoDB's TTL deletes
lazily, so expiry is checked here too) or ``IN_PROGRESS`` with a lapsed lease
(its holder died). An ``ASSIGNED`` item with a lapsed lease is taken over as
``ASSIGNED``: resend that bundle, do not rebuild. Otherwise the file is either
done (``COMPLETE``: acknowledge and skip) or busy (another live invocation:
retry later, never deliver twice concurrently).

The claim lease on a timeline (``L`` = ``lease_seconds``, above the function
timeout; ``T`` = ``ttl_seconds``)::

    t0            t0 + timeout         t0 + L                    t0 + T
    |-- claimed: IN_PROGRESS, token A --|                          |
    |   others get BUSY ----------------------------|              |
    |   A acknowledged by NiFi -> COMPLETE (others get COMPLETE) ------> expires
    |   A failed -> released (item deleted): the retry claims at once
    |   A died (timeout, OOM): nothing released ----|-> lease lapsed:
    |                                               |   the next claim (token B) wins
    |                                               |   A's late release is ignored
    |                                               |   (it no longer owns the item)

Backends only store; this class owns the rules. The layout follows
Powertools' idempotency persistence (``base.py`` vs ``dynamodb.py``).
"""

from __future__ import annotations

import enum
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from courier.events import ObjectIdentity

# Shared with the Terraform (TTL attribute) and the local provisioning.
PARTITION_KEY = "object_name"
SORT_KEY = "revision"
EXPIRY_ATTRIBUTE = "expires_at"

# Failure notes share the table: why a message failed last, for `courier dlq list`.
# They outlive the DLQ's retention (4 days in the queue + 14 in the DLQ).
NOTE_PREFIX = "message#"
NOTE_SORT_KEY = "last-error"
NOTE_TTL_SECONDS = 18 * 86400

IN_PROGRESS = "IN_PROGRESS"
ASSIGNED = "ASSIGNED"
COMPLETE = "COMPLETE"


class ClaimStatus(enum.Enum):
    CLAIMED = "claimed"  # ours to fetch, bundle and deliver
    ASSIGNED = "assigned"  # ours to resend: it sits in an archived bundle whose POST was attempted
    COMPLETE = "complete"  # delivered before: acknowledge, skip
    BUSY = "busy"  # another live invocation holds it: retry later


@dataclass(frozen=True)
class LedgerRecord:
    identity: ObjectIdentity
    status: str
    expires_at: int
    lease_until: int = 0
    claim_token: str | None = None
    bundle_key: str | None = None
    bundle_sha256: str | None = None
    completed_at: int | None = None


@dataclass(frozen=True)
class FailureNote:
    """Why a message failed last: metadata only (object identity, reason, error text)."""

    message_id: str
    reason: str
    detail: str
    receive_count: int
    objects: tuple[str, ...] = ()  # s3://bucket/key of the files the message names
    at: int = 0


class BaseLedger(ABC):
    """The idempotency ledger's policy over a storage backend: claim, complete, release, look up, notes.

    Subclasses implement only the storage primitives (the ``_``-methods); the
    rules of who may deliver a file live here, so every backend applies the
    same ones.

    Parameters
    ----------
    ttl_seconds
        How long an item lives (7 days by default in courier's settings).
    lease_seconds
        How long a claim keeps others out if its holder dies; above the function timeout.
    clock
        Epoch seconds; injectable for tests.

    Example
    -------
    >>> ledger = DynamoDBLedger(boto3.client("dynamodb"), "courier-idempotency", 7 * 86400, 960)  # doctest: +SKIP
    >>> if ledger.claim(identity, token) is ClaimStatus.CLAIMED:  # doctest: +SKIP
    ...     deliver(); ledger.complete([identity], archive_key, sha256)
    """

    def __init__(self, ttl_seconds: int, lease_seconds: int, clock: Callable[[], float] = time.time) -> None:
        self.ttl_seconds = ttl_seconds
        self.lease_seconds = lease_seconds
        self.clock = clock

    def now(self) -> int:
        return int(self.clock())

    # --- policy -------------------------------------------------------------

    def claim(self, identity: ObjectIdentity, token: str) -> ClaimStatus:
        return self.claim_with_record(identity, token)[0]

    def claim_with_record(self, identity: ObjectIdentity, token: str) -> tuple[ClaimStatus, LedgerRecord | None]:
        """Claim a file; for ``ASSIGNED`` also the record naming the bundle to resend."""
        now = self.now()
        record = LedgerRecord(
            identity=identity,
            status=IN_PROGRESS,
            claim_token=token,
            lease_until=now + self.lease_seconds,
            expires_at=now + self.ttl_seconds,
        )
        existing = self._put_if_claimable(record, now)
        if existing is None:
            return ClaimStatus.CLAIMED, record
        return self._settle(identity, token, existing, now)

    def claim_many(
        self, identities: Sequence[ObjectIdentity], token: str
    ) -> dict[ObjectIdentity, tuple[ClaimStatus, LedgerRecord | None]]:
        """Claim several files at once: for each, what :meth:`claim_with_record` would answer.

        Duplicates are claimed once. Backends write the claims as cheaply as they
        can (DynamoDB: a conditional put each, side by side); the rules for a file
        someone else holds are the same as for a single claim.
        """
        now = self.now()
        records = {
            identity: LedgerRecord(
                identity=identity,
                status=IN_PROGRESS,
                claim_token=token,
                lease_until=now + self.lease_seconds,
                expires_at=now + self.ttl_seconds,
            )
            for identity in dict.fromkeys(identities)
        }
        existing = self._put_many_if_claimable(list(records.values()), now)
        out: dict[ObjectIdentity, tuple[ClaimStatus, LedgerRecord | None]] = {}
        for identity, record in records.items():
            found = existing.get(identity)
            out[identity] = (ClaimStatus.CLAIMED, record) if found is None else self._settle(identity, token, found, now)
        return out

    def _settle(
        self, identity: ObjectIdentity, token: str, existing: LedgerRecord, now: int
    ) -> tuple[ClaimStatus, LedgerRecord | None]:
        """The answer to a claim whose write was refused because ``existing`` is there."""
        if existing.claim_token == token and existing.lease_until > now:
            # Our own write: botocore retried a claim whose first answer was lost, and the retry met it.
            return (ClaimStatus.ASSIGNED if existing.status == ASSIGNED else ClaimStatus.CLAIMED), existing
        if existing.status == ASSIGNED and existing.expires_at > now and existing.lease_until <= now:
            taken = self._relock_assigned(identity, token, now + self.lease_seconds, now)
            if taken is not None:
                return ClaimStatus.ASSIGNED, taken
        return self.status_of(existing, now), existing

    def status_of(self, existing: LedgerRecord, now: int) -> ClaimStatus:
        if existing.expires_at > now and existing.status == COMPLETE:
            return ClaimStatus.COMPLETE
        # A live lease, or a record that lapsed between our write and our read:
        # either way someone else is on it right now; the retry will sort it out.
        return ClaimStatus.BUSY

    def complete(self, identities: Iterable[ObjectIdentity], bundle_key: str, bundle_sha256: str) -> None:
        now = self.now()
        records = [
            LedgerRecord(
                identity=i,
                status=COMPLETE,
                expires_at=now + self.ttl_seconds,
                bundle_key=bundle_key,
                bundle_sha256=bundle_sha256,
                completed_at=now,
            )
            for i in identities
        ]
        self._put_many(records)

    def release(self, identity: ObjectIdentity, token: str) -> None:
        """Give a claim back. A claim someone else took over after our lease lapsed is left alone."""
        self._delete_if_owned(identity, token)

    def release_many(self, identities: Sequence[ObjectIdentity], token: str) -> None:
        """:meth:`release` for several files, in as few calls as the backend can (DynamoDB: one per 100)."""
        self._delete_many_if_owned(list(dict.fromkeys(identities)), token)

    def assign(self, identities: Iterable[ObjectIdentity], token: str, bundle_key: str, bundle_sha256: str) -> bool:
        """Place claimed files in an archived bundle, all or none; call before the bundle's first POST.

        False when any of them is no longer ours (our lease lapsed and another
        invocation claimed it): then none stays assigned and the bundle must not
        be sent, or a file could go out in two different bundles.
        """
        identities = list(identities)
        try:
            lost = set(self._assign_if_owned(identities, token, bundle_key, bundle_sha256))
        except Exception:
            # Some chunks may have committed before the failure: undo them, the bundle was never sent.
            self._undo_assignment(identities, set(), token, bundle_key)
            raise
        if not lost:
            return True
        self._undo_assignment(identities, lost, token, bundle_key)
        return False

    def _undo_assignment(self, identities: list[ObjectIdentity], lost: set[ObjectIdentity], token: str, key: str) -> None:
        for identity in identities:
            if identity not in lost:
                try:
                    self._unassign_if_owned(identity, token, key)
                except Exception:  # noqa: BLE001 - left assigned, it is abandoned on its next attempt (bundle not intact)
                    continue

    def release_assigned(self, identity: ObjectIdentity, token: str) -> None:
        """After a failed POST: keep the assignment, drop our lease, so the retry resends at once."""
        self._unlock_if_owned(identity, token)

    def abandon(self, identity: ObjectIdentity, token: str, bundle_key: str) -> None:
        """Forget an assignment to a bundle that was never sent (it was not assigned whole)."""
        self._unassign_if_owned(identity, token, bundle_key)

    def records(self, identities: Iterable[ObjectIdentity]) -> dict[ObjectIdentity, LedgerRecord]:
        """The live records of these files (consistent reads); absent or expired ones are left out."""
        now = self.now()
        return {r.identity: r for r in self._get_many(list(identities)) if r.expires_at > now}

    def bundle_intact(self, identities: Iterable[ObjectIdentity], bundle_key: str) -> bool:
        """True when every file of a bundle is assigned to it (or completed through it).

        A bundle is POSTed only after all its files were assigned, and an
        assignment only ever turns into COMPLETE, so a bundle that is not intact
        was never sent: it can be abandoned and its files built afresh.
        """
        identities = list(identities)
        found = self.records(identities)
        return all(
            i in found and found[i].bundle_key == bundle_key and found[i].status in (ASSIGNED, COMPLETE) for i in identities
        )

    def lookup(self, bucket: str, key: str) -> list[LedgerRecord]:
        """Every live record of ``bucket/key`` (all revisions), for replay and support."""
        now = self.now()
        return [r for r in self._records_of(f"{bucket}/{key}") if r.expires_at > now]

    def note_failures(self, notes: Iterable[FailureNote]) -> None:
        now = self.now()
        self._put_notes(
            [FailureNote(n.message_id, n.reason, n.detail, n.receive_count, n.objects, now) for n in notes],
            now + NOTE_TTL_SECONDS,
        )

    def failure_note(self, message_id: str) -> FailureNote | None:
        return self._get_note(message_id)

    # --- storage (backends) -------------------------------------------------

    @abstractmethod
    def _put_notes(self, notes: list[FailureNote], expires_at: int) -> None:
        """Write failure notes (overwriting older notes of the same messages)."""

    @abstractmethod
    def _get_note(self, message_id: str) -> FailureNote | None:
        """The failure note of a message, if any."""

    @abstractmethod
    def _put_if_claimable(self, record: LedgerRecord, now: int) -> LedgerRecord | None:
        """Write ``record`` if no item exists, or it expired (``expires_at <= now``), or it is
        IN_PROGRESS with ``lease_until <= now``. Return None when written, else the existing item."""

    def _put_many_if_claimable(self, records: list[LedgerRecord], now: int) -> dict[ObjectIdentity, LedgerRecord | None]:
        """:meth:`_put_if_claimable` for each record (distinct identities): None for each written, else the
        existing item. Backends that can write several conditionally in one call override this."""
        return {record.identity: self._put_if_claimable(record, now) for record in records}

    def _delete_many_if_owned(self, identities: list[ObjectIdentity], token: str) -> None:
        """:meth:`_delete_if_owned` for each identity (distinct); backends override it to batch."""
        for identity in identities:
            self._delete_if_owned(identity, token)

    @abstractmethod
    def _put_many(self, records: list[LedgerRecord]) -> None:
        """Write records unconditionally."""

    @abstractmethod
    def _relock_assigned(self, identity: ObjectIdentity, token: str, lease_until: int, now: int) -> LedgerRecord | None:
        """If the item is ASSIGNED with ``lease_until <= now``, set its token and lease; return it, else None."""

    @abstractmethod
    def _assign_if_owned(
        self, identities: list[ObjectIdentity], token: str, bundle_key: str, bundle_sha256: str
    ) -> list[ObjectIdentity]:
        """Turn each item that is IN_PROGRESS with ``claim_token == token`` into ASSIGNED with the bundle's key
        and SHA-256. Return the identities whose condition failed (nothing written for those)."""

    @abstractmethod
    def _unassign_if_owned(self, identity: ObjectIdentity, token: str, bundle_key: str) -> None:
        """Delete the item if it is ASSIGNED to ``bundle_key`` with ``claim_token == token``; else do nothing."""

    @abstractmethod
    def _unlock_if_owned(self, identity: ObjectIdentity, token: str) -> None:
        """Set ``lease_until`` to 0 if the item is ASSIGNED with ``claim_token == token``; else do nothing."""

    @abstractmethod
    def _get_many(self, identities: list[ObjectIdentity]) -> list[LedgerRecord]:
        """The items of these identities that exist (consistent reads)."""

    @abstractmethod
    def _delete_if_owned(self, identity: ObjectIdentity, token: str) -> None:
        """Delete the item if it is IN_PROGRESS with ``claim_token == token``; else do nothing."""

    @abstractmethod
    def _records_of(self, object_name: str) -> list[LedgerRecord]:
        """All items whose partition key is ``object_name``."""
