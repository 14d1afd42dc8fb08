"""The idempotency ledger's policy: claim, assign, complete, release (no I/O here).

Two kinds of item share the table (issue 23: one write unit per file, the rest per bundle):

* a **file record** per landed revision (key ``object_name``/``revision``), written
  once, by the claim: ``IN_PROGRESS`` with a token, a lease and the id of the *group*
  (the bundle it is planned into; unique per invocation and bundle);
* a **group item** per bundle (key ``group#<id>``), absent until the bundle is assigned:

  - absent -> ``ASSIGNED`` (archive key, SHA-256, file count, token, lease) once the
    bundle is archived, *before* its POST (one conditional put: ``attribute_not_exists``);
    from then on its files only ever go out in that bundle, byte for byte;
  - ``ASSIGNED`` -> ``COMPLETE`` only after NiFi acknowledged the bundle;
  - ``ASSIGNED`` -> ``ASSIGNED`` unlocked (lease 0) when the POST failed: the retry takes
    the group's lease over at once and resends the archived bundle;
  - ``ASSIGNED`` -> ``ABANDONED`` when the bundle was never kept by NiFi (index line not
    written, NiFi refused it): its files are claimable again at once;
  - absent -> ``ABANDONED`` when a claim finds a file whose holder died before assigning.

Invariant: a group that is ``ASSIGNED`` or ``COMPLETE`` names exactly the files whose
records point at it. So before a group is assigned, every file claimed into it that is
not in the bundle was released or re-pointed to another group.

A claim is a conditional put of the file record, granted when it is absent or expired
(DynamoDB's TTL deletes lazily, so expiry is checked here too). When a live record is
there, its group decides: ``COMPLETE`` -> done (acknowledge, skip); ``ASSIGNED`` -> resend
that bundle (the group's lease says who: taken over when lapsed or unlocked, else busy);
``ABANDONED`` -> the record is overwritten (claimed); absent -> busy while the record's
lease is live, else its holder died: the group is written ``ABANDONED`` (conditional on
absence) and the record overwritten. Assign and abandon race on that one item with the
same condition, so exactly one wins: a bundle a file was taken from is never sent, and
a sent bundle's files are never built again.

The claim lease on a timeline (``L`` = ``lease_seconds``, above the function
timeout; ``T`` = ``ttl_seconds``)::

    t0            t0 + timeout         t0 + L                    t0 + T
    |-- claimed into group G, token A --|                          |
    |   others get BUSY ----------------------------|              |
    |   A assigns G, NiFi acknowledges -> G COMPLETE (others get COMPLETE) -> expires
    |   A failed before assigning -> released (record deleted): the retry claims at once
    |   A died (timeout, OOM) before assigning ------|-> lease lapsed: the next claim
    |                                               |   (token B) writes G ABANDONED, wins;
    |                                               |   A's late assign of G is refused
    |   A died after assigning: G's lease lapses ---|-> B takes G over and resends it

Items of the previous version (a per-file ``ASSIGNED``/``COMPLETE`` record with the bundle
key, no group) are still understood for one TTL after an upgrade: complete -> skip,
assigned -> that bundle is resent and completed file by file as before.

Backends only store; this class owns the rules. The layout follows
Powertools' idempotency persistence (``base.py`` vs ``dynamodb.py``).
"""

from __future__ import annotations

import enum
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

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
# Group items share it too: one per bundle, what its files' records point at.
GROUP_PREFIX = "group#"
GROUP_SORT_KEY = "group"

IN_PROGRESS = "IN_PROGRESS"
ASSIGNED = "ASSIGNED"
COMPLETE = "COMPLETE"
ABANDONED = "ABANDONED"  # a group only: never sent, its files claimable again


class ClaimStatus(enum.Enum):
    CLAIMED = "claimed"  # ours to fetch, bundle and deliver
    ASSIGNED = "assigned"  # ours to resend: it sits in an archived bundle whose POST was attempted
    COMPLETE = "complete"  # delivered before: acknowledge, skip
    BUSY = "busy"  # another live invocation holds it: retry later


@dataclass(frozen=True)
class LedgerRecord:
    """A file's record; from :meth:`BaseLedger.records` and a claim's answer, with its group's state resolved
    into ``status``/``bundle_key``/``bundle_sha256`` (``group`` None: an item of the previous version)."""

    identity: ObjectIdentity
    status: str
    expires_at: int
    lease_until: int = 0
    claim_token: str | None = None
    bundle_key: str | None = None
    bundle_sha256: str | None = None
    completed_at: int | None = None
    group: str | None = None


@dataclass(frozen=True)
class GroupRecord:
    """One bundle's item: what its files' records point at (absent until assigned)."""

    group: str
    status: str  # ASSIGNED, COMPLETE or ABANDONED
    expires_at: int
    lease_until: int = 0
    claim_token: str | None = None
    bundle_key: str | None = None
    bundle_sha256: str | None = None
    files: int = 0
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
    >>> if ledger.claim(identity, token, group) is ClaimStatus.CLAIMED:  # doctest: +SKIP
    ...     archive(); ledger.assign([identity], token, archive_key, sha256, group)
    ...     deliver(); ledger.complete([identity], archive_key, sha256, group)
    """

    def __init__(self, ttl_seconds: int, lease_seconds: int, clock: Callable[[], float] = time.time) -> None:
        self.ttl_seconds = ttl_seconds
        self.lease_seconds = lease_seconds
        self.clock = clock

    def now(self) -> int:
        return int(self.clock())

    # --- policy -------------------------------------------------------------

    def claim(self, identity: ObjectIdentity, token: str, group: str | None = None) -> ClaimStatus:
        return self.claim_with_record(identity, token, group)[0]

    def claim_with_record(
        self, identity: ObjectIdentity, token: str, group: str | None = None
    ) -> tuple[ClaimStatus, LedgerRecord | None]:
        """Claim a file into ``group`` (default: the token); for ``ASSIGNED`` also the record naming the bundle to resend."""
        now = self.now()
        record = self._claim_record(identity, token, token if group is None else group, now)
        existing = self._put_if_claimable(record, now)
        if existing is None:
            return ClaimStatus.CLAIMED, record
        return self._settle(record, existing, now, {})

    def claim_many(
        self, identities: Sequence[ObjectIdentity], token: str, group: str | None = None
    ) -> dict[ObjectIdentity, tuple[ClaimStatus, LedgerRecord | None]]:
        """Claim several files at once into ``group``: for each, what :meth:`claim_with_record` would answer.

        Duplicates are claimed once. Backends write the claims as cheaply as they
        can (DynamoDB: a conditional put each, side by side); the rules for a file
        someone else holds are the same as for a single claim.
        """
        now = self.now()
        group = token if group is None else group
        records = {identity: self._claim_record(identity, token, group, now) for identity in dict.fromkeys(identities)}
        existing = self._put_many_if_claimable(list(records.values()), now)
        seen: dict[str, GroupRecord | None] = {}  # groups met in this call: one read (and take-over) each
        out: dict[ObjectIdentity, tuple[ClaimStatus, LedgerRecord | None]] = {}
        for identity, record in records.items():
            found = existing.get(identity)
            out[identity] = (ClaimStatus.CLAIMED, record) if found is None else self._settle(record, found, now, seen)
        return out

    def hold(self, identity: ObjectIdentity, token: str) -> bool:
        """A plain lease on ``identity`` (no group: free again once released or lapsed), e.g. the legacy resend lease."""
        now = self.now()
        record = LedgerRecord(identity, IN_PROGRESS, now + self.ttl_seconds, now + self.lease_seconds, token)
        existing = self._put_if_claimable(record, now)
        return existing is None or self._settle_legacy(identity, token, existing, now)[0] is ClaimStatus.CLAIMED

    def _claim_record(self, identity: ObjectIdentity, token: str, group: str, now: int) -> LedgerRecord:
        return LedgerRecord(
            identity=identity,
            status=IN_PROGRESS,
            claim_token=token,
            lease_until=now + self.lease_seconds,
            expires_at=now + self.ttl_seconds,
            group=group,
        )

    def _settle(
        self, record: LedgerRecord, existing: LedgerRecord, now: int, seen: dict[str, GroupRecord | None]
    ) -> tuple[ClaimStatus, LedgerRecord | None]:
        """The answer to a claim whose write was refused because the live record ``existing`` is there: its group decides."""
        token = str(record.claim_token)
        if existing.group is None:  # written by the previous version
            return self._settle_legacy(record.identity, token, existing, now)
        if existing.claim_token == token and existing.group == record.group and existing.lease_until > now:
            # Our own write: botocore retried a claim whose first answer was lost, and the retry met it.
            return ClaimStatus.CLAIMED, existing
        old = existing.group
        group = seen[old] if old in seen else self._get_group(old)
        if group is None:
            if existing.lease_until > now:
                return ClaimStatus.BUSY, existing  # its holder is still building the bundle
            group = self._abandon_unassigned(old, now)  # its holder died: its bundle must never be sent
            if group is None:
                return ClaimStatus.BUSY, existing
        seen[old] = group
        if group.status == COMPLETE:
            return ClaimStatus.COMPLETE, resolved(existing, group)
        if group.status == ASSIGNED:
            ours = group.claim_token == token and group.lease_until > now
            taken = group if ours else self._take_over_group(old, token, now + self.lease_seconds, now)
            if taken is None:
                return ClaimStatus.BUSY, resolved(existing, group)  # another invocation is resending it
            seen[old] = taken
            return ClaimStatus.ASSIGNED, resolved(existing, taken)
        # ABANDONED: never sent; the file is ours if nobody re-claimed it first.
        if group.status == ABANDONED and self._replace_if_grouped(record, old):
            return ClaimStatus.CLAIMED, record
        return ClaimStatus.BUSY, existing

    def _abandon_unassigned(self, group: str, now: int) -> GroupRecord | None:
        """Write an absent group ``ABANDONED``; if its holder assigned it first, that assignment wins (returned)."""
        abandoned = GroupRecord(group, ABANDONED, expires_at=now + self.ttl_seconds)
        existing = self._put_group_if_absent(abandoned)
        return abandoned if existing is None else existing

    def _settle_legacy(
        self, identity: ObjectIdentity, token: str, existing: LedgerRecord, now: int
    ) -> tuple[ClaimStatus, LedgerRecord | None]:
        """The previous version's per-file states (no group): understood for one TTL after an upgrade."""
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

    def assign(
        self, identities: Iterable[ObjectIdentity], token: str, bundle_key: str, bundle_sha256: str, group: str | None = None
    ) -> bool:
        """Place the files claimed into ``group`` (default: the token) in an archived bundle: one conditional put of
        the group's item. Call before the bundle's first POST.

        Every file claimed into the group that is not in the bundle must have been released or
        re-pointed (:meth:`regroup`) first. False when the group was abandoned meanwhile (a
        file's claim lapsed and another invocation took it): then the bundle must not be
        sent, or a file could go out in two different bundles.
        """
        group = token if group is None else group
        now = self.now()
        item = GroupRecord(
            group,
            ASSIGNED,
            expires_at=now + self.ttl_seconds,
            lease_until=now + self.lease_seconds,
            claim_token=token,
            bundle_key=bundle_key,
            bundle_sha256=bundle_sha256,
            files=len(list(identities)),
        )
        try:
            existing = self._put_group_if_absent(item)
        except Exception:
            # The put may have been written before the failure: abandon it, the bundle was never sent.
            try:
                self._set_group_if_owned(group, token, status=ABANDONED)
            except Exception:  # noqa: BLE001,S110 - its lease lapses; a resend then finds it not intact
                pass
            raise
        # Refused because it is there: our own put, retried after its answer was lost, or the abandoned group.
        return existing is None or (
            existing.status == ASSIGNED and existing.claim_token == token and existing.bundle_key == bundle_key
        )

    def regroup(self, identities: Sequence[ObjectIdentity], token: str, old: str, new: str) -> list[ObjectIdentity]:
        """Re-point claimed files from group ``old`` to ``new`` (a re-planned or split group's other bundles).

        A conditional update each (still ours, still in ``old``); returns the files that were not
        (taken over: ``old`` was abandoned, so its bundle is never sent either).
        """
        return [identity for identity in dict.fromkeys(identities) if not self._regroup_if_owned(identity, token, old, new)]

    def complete(
        self, identities: Iterable[ObjectIdentity], bundle_key: str, bundle_sha256: str, group: str | None = None
    ) -> None:
        """Mark a delivered bundle complete: one write to its group's item; with ``group`` None, one per file (the
        previous version's per-file records, resent after an upgrade)."""
        now = self.now()
        if group is not None:
            self._complete_group(group, now, now + self.ttl_seconds)
            return
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

    def unlock(self, group: str, token: str) -> None:
        """After a failed POST: keep the group assigned, drop our lease, so the retry resends at once."""
        self._set_group_if_owned(group, token, lease_until=0)

    def abandon_group(self, group: str, token: str) -> None:
        """Forget the assignment of a bundle NiFi never kept: its files are claimable again at once."""
        self._set_group_if_owned(group, token, status=ABANDONED)

    def release_assigned(self, identity: ObjectIdentity, token: str) -> None:
        """:meth:`unlock` for a previous version's per-file assignment."""
        self._unlock_if_owned(identity, token)

    def abandon(self, identity: ObjectIdentity, token: str, bundle_key: str) -> None:
        """:meth:`abandon_group` for a previous version's per-file assignment."""
        self._unassign_if_owned(identity, token, bundle_key)

    def records(self, identities: Iterable[ObjectIdentity]) -> dict[ObjectIdentity, LedgerRecord]:
        """The live records of these files (consistent reads), their groups resolved; absent or expired ones are left out."""
        now = self.now()
        return {r.identity: r for r in self._resolved(self._get_many(list(identities))) if r.expires_at > now}

    def bundle_intact(self, identities: Iterable[ObjectIdentity], bundle_key: str) -> bool:
        """True when every file of a bundle is assigned to it (or completed through it).

        A bundle is POSTed only after its group was assigned, and a group's files are exactly
        the records pointing at it, so a bundle that is not intact was never sent: it can be
        abandoned and its files built afresh.
        """
        identities = list(identities)
        found = self.records(identities)
        return all(
            i in found and found[i].bundle_key == bundle_key and found[i].status in (ASSIGNED, COMPLETE) for i in identities
        )

    def lookup(self, bucket: str, key: str) -> list[LedgerRecord]:
        """Every live record of ``bucket/key`` (all revisions), their groups resolved, for replay and support."""
        now = self.now()
        return [r for r in self._resolved(self._records_of(f"{bucket}/{key}")) if r.expires_at > now]

    def _resolved(self, records: list[LedgerRecord]) -> list[LedgerRecord]:
        names = sorted({r.group for r in records if r.group is not None})
        groups = {g.group: g for g in self._get_groups(names)} if names else {}
        return [resolved(r, groups.get(r.group)) if r.group is not None else r for r in records]

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
        """Write ``record`` if no item exists, or it expired (``expires_at <= now``), or it is IN_PROGRESS with
        ``lease_until <= now`` and no group (a plain lease, or the previous version's claim). Return None when
        written, else the existing item (as stored: its group unresolved)."""

    def _put_many_if_claimable(self, records: list[LedgerRecord], now: int) -> dict[ObjectIdentity, LedgerRecord | None]:
        """:meth:`_put_if_claimable` for each record (distinct identities): None for each written, else the
        existing item. Backends that can write several conditionally in one call override this."""
        return {record.identity: self._put_if_claimable(record, now) for record in records}

    @abstractmethod
    def _replace_if_grouped(self, record: LedgerRecord, group: str) -> bool:
        """Write ``record`` over the existing item if that item's group is ``group``; True when written."""

    @abstractmethod
    def _regroup_if_owned(self, identity: ObjectIdentity, token: str, old: str, new: str) -> bool:
        """Set the item's group to ``new`` if it is ``old`` and ``claim_token == token``; True when written."""

    def _delete_many_if_owned(self, identities: list[ObjectIdentity], token: str) -> None:
        """:meth:`_delete_if_owned` for each identity (distinct); backends override it to batch."""
        for identity in identities:
            self._delete_if_owned(identity, token)

    @abstractmethod
    def _put_many(self, records: list[LedgerRecord]) -> None:
        """Write records unconditionally."""

    @abstractmethod
    def _get_group(self, group: str) -> GroupRecord | None:
        """The group's item, if any (a consistent read)."""

    def _get_groups(self, groups: list[str]) -> list[GroupRecord]:
        """The items of these groups that exist; backends override it to batch."""
        return [found for found in map(self._get_group, groups) if found is not None]

    @abstractmethod
    def _put_group_if_absent(self, group: GroupRecord) -> GroupRecord | None:
        """Write the group's item if there is none; None when written, else the existing item."""

    @abstractmethod
    def _take_over_group(self, group: str, token: str, lease_until: int, now: int) -> GroupRecord | None:
        """If the group is ASSIGNED with ``lease_until <= now`` or ``claim_token == token``, set its token and
        lease; return it, else None."""

    @abstractmethod
    def _set_group_if_owned(self, group: str, token: str, *, status: str | None = None, lease_until: int | None = None) -> None:
        """If the group is ASSIGNED with ``claim_token == token``, set its status and/or lease; else do nothing."""

    @abstractmethod
    def _complete_group(self, group: str, completed_at: int, expires_at: int) -> None:
        """Set the group's item COMPLETE (its other attributes kept)."""

    @abstractmethod
    def _relock_assigned(self, identity: ObjectIdentity, token: str, lease_until: int, now: int) -> LedgerRecord | None:
        """(Previous version's items) If the item is ASSIGNED with ``lease_until <= now``, set its token and lease;
        return it, else None."""

    @abstractmethod
    def _unassign_if_owned(self, identity: ObjectIdentity, token: str, bundle_key: str) -> None:
        """(Previous version's items) Delete the item if it is ASSIGNED to ``bundle_key`` with ``claim_token == token``."""

    @abstractmethod
    def _unlock_if_owned(self, identity: ObjectIdentity, token: str) -> None:
        """(Previous version's items) Set ``lease_until`` to 0 if the item is ASSIGNED with ``claim_token == token``."""

    @abstractmethod
    def _get_many(self, identities: list[ObjectIdentity]) -> list[LedgerRecord]:
        """The items of these identities that exist (consistent reads)."""

    @abstractmethod
    def _delete_if_owned(self, identity: ObjectIdentity, token: str) -> None:
        """Delete the item if it is IN_PROGRESS with ``claim_token == token``; else do nothing."""

    @abstractmethod
    def _records_of(self, object_name: str) -> list[LedgerRecord]:
        """All items whose partition key is ``object_name``."""


def resolved(record: LedgerRecord, group: GroupRecord | None) -> LedgerRecord:
    """A file record with its group's state: assigned or complete with its bundle, else in progress (an
    abandoned group's files are claimable at once: lease 0)."""
    if group is None:
        return record
    if group.status == ABANDONED:
        return replace(record, lease_until=0)
    return replace(
        record,
        status=group.status,
        lease_until=group.lease_until,
        claim_token=group.claim_token,
        bundle_key=group.bundle_key,
        bundle_sha256=group.bundle_sha256,
        completed_at=group.completed_at,
    )
