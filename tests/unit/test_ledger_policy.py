"""The ledger's claim policy (``ledger/base.py``) on the in-memory backend: every rule, no DynamoDB.

``tests/integration/test_ledger.py`` runs the same rules against moto's DynamoDB.
"""

from __future__ import annotations

import pytest

from courier.events import ObjectIdentity
from courier.ledger.base import COMPLETE, IN_PROGRESS, NOTE_TTL_SECONDS, ClaimStatus, FailureNote
from fakes import FakeClock, InMemoryLedger

FILE = ObjectIdentity("landing", "dir/a b.json", "v:1")
SHA = "ab" * 32
LEASE, TTL = 60, 7 * 86400


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(clock: FakeClock) -> InMemoryLedger:
    return InMemoryLedger(ttl_seconds=TTL, lease_seconds=LEASE, clock=clock)


def test_claiming_an_absent_file_grants_it_with_a_lease_and_a_ttl(ledger, clock):
    assert ledger.claim(FILE, "a") is ClaimStatus.CLAIMED
    record = ledger.record_of(FILE)
    assert record.status == IN_PROGRESS and record.claim_token == "a"
    assert record.lease_until == clock.now + LEASE and record.expires_at == clock.now + TTL


def test_claiming_a_completed_file_says_complete_and_changes_nothing(ledger):
    ledger.claim(FILE, "a")
    ledger.complete([FILE], "bundles/k.tar.gz", SHA)
    before = ledger.record_of(FILE)
    assert ledger.claim(FILE, "b") is ClaimStatus.COMPLETE
    assert ledger.record_of(FILE) == before


def test_a_live_claim_of_another_token_is_busy(ledger, clock):
    ledger.claim(FILE, "a")
    clock.advance(LEASE - 1)
    assert ledger.claim(FILE, "b") is ClaimStatus.BUSY
    assert ledger.record_of(FILE).claim_token == "a"


def test_a_claim_that_meets_its_own_write_is_ours(ledger):
    # A token is one invocation's, which claims each file once: meeting it again means botocore retried
    # a claim whose first answer was lost after DynamoDB wrote it. Reading BUSY there burnt a receive.
    ledger.claim(FILE, "a")
    assert ledger.claim(FILE, "a") is ClaimStatus.CLAIMED
    assert ledger.claim(FILE, "b") is ClaimStatus.BUSY


def test_a_lapsed_lease_of_a_crashed_invocation_can_be_claimed(ledger, clock):
    ledger.claim(FILE, "crashed")
    clock.advance(LEASE)  # lease_until <= now
    assert ledger.claim(FILE, "retry") is ClaimStatus.CLAIMED
    assert ledger.record_of(FILE).claim_token == "retry"


def test_an_expired_item_is_claimable_before_the_ttl_deletes_it(ledger, clock):
    ledger.claim(FILE, "a")
    ledger.complete([FILE], "bundles/k.tar.gz", SHA)
    clock.advance(TTL)  # expires_at <= now; still stored, as DynamoDB's lazy TTL leaves it
    assert ledger.record_of(FILE).status == COMPLETE
    assert ledger.claim(FILE, "b") is ClaimStatus.CLAIMED
    assert ledger.record_of(FILE).status == IN_PROGRESS


def test_release_frees_only_the_owners_claim(ledger, clock):
    ledger.claim(FILE, "first")
    clock.advance(LEASE + 1)
    ledger.claim(FILE, "second")  # took over after the lease lapsed
    ledger.release(FILE, "first")  # late release of the stale claim: must not free 'second'
    assert ledger.claim(FILE, "third") is ClaimStatus.BUSY
    ledger.release(FILE, "second")
    assert ledger.claim(FILE, "third") is ClaimStatus.CLAIMED


def test_release_never_removes_a_completed_file(ledger):
    ledger.claim(FILE, "a")
    ledger.complete([FILE], "bundles/k.tar.gz", SHA)
    ledger.release(FILE, "a")
    assert ledger.claim(FILE, "b") is ClaimStatus.COMPLETE


def test_complete_records_the_bundle_key_and_sha256_of_every_file(ledger, clock):
    files = [FILE, ObjectIdentity("landing", "other.json", "e:x")]
    for f in files:
        ledger.claim(f, "a")
    clock.advance(5)
    ledger.complete(files, "bundles/k.tar.gz", SHA)
    for f in files:
        record = ledger.record_of(f)
        assert (record.status, record.bundle_key, record.bundle_sha256) == (COMPLETE, "bundles/k.tar.gz", SHA)
        assert record.completed_at == clock.now and record.expires_at == clock.now + TTL and record.claim_token is None


def test_lookup_returns_every_live_revision_and_hides_expired_ones(ledger, clock):
    old = ObjectIdentity("landing", "dir/a b.json", "v:0")
    ledger.claim(old, "a")
    ledger.complete([old], "bundles/old.tar.gz", SHA)
    clock.advance(TTL - 10)
    ledger.claim(FILE, "b")
    assert {r.identity for r in ledger.lookup("landing", "dir/a b.json")} == {old, FILE}
    clock.advance(10)  # the old revision's record expires
    assert [r.identity for r in ledger.lookup("landing", "dir/a b.json")] == [FILE]
    assert ledger.lookup("landing", "dir/a") == []  # another key, not a prefix match


def test_failure_notes_round_trip_stamped_with_the_time(ledger, clock):
    note = FailureNote("m-1", "object_missing", "s3://landing/x (v:1) no longer exists", 3, ("s3://landing/x",))
    ledger.note_failures([note])
    got = ledger.failure_note("m-1")
    assert got == FailureNote("m-1", "object_missing", note.detail, 3, ("s3://landing/x",), at=int(clock.now))
    assert ledger.notes["m-1"][1] == int(clock.now) + NOTE_TTL_SECONDS
    assert ledger.failure_note("m-2") is None


def test_a_newer_failure_note_replaces_the_older_one(ledger, clock):
    ledger.note_failures([FailureNote("m-1", "claim_busy", "busy", 1)])
    clock.advance(30)
    ledger.note_failures([FailureNote("m-1", "nifi_unavailable", "NiFi unavailable (HTTP 503)", 2)])
    got = ledger.failure_note("m-1")
    assert (got.reason, got.receive_count, got.at) == ("nifi_unavailable", 2, int(clock.now))


def test_an_assignment_whose_answer_is_lost_after_it_was_written_leaves_the_group_abandoned(clock):
    from courier.errors import LedgerUnavailableError
    from courier.events import ObjectIdentity
    from fakes import InMemoryLedger

    class LostAnswer(InMemoryLedger):
        def _put_group_if_absent(self, group):
            super()._put_group_if_absent(group)  # written, then the answer was lost
            raise LedgerUnavailableError("idempotency ledger assign failed: ThrottlingException")

    ledger = LostAnswer(lease_seconds=LEASE, clock=clock)
    files = [ObjectIdentity("landing", f"k{i}", "v:1") for i in range(3)]
    for identity in files:
        ledger.claim(identity, "a")
    with pytest.raises(LedgerUnavailableError):
        ledger.assign(files, "a", "bundles/b.tar.gz", "ab" * 32)
    # The bundle was never sent: no file is pinned to it, each is claimable by the next invocation at once.
    assert all(ledger.record_of(i).status == "IN_PROGRESS" for i in files)
    assert all(ledger.claim(i, "b") is ClaimStatus.CLAIMED for i in files)
