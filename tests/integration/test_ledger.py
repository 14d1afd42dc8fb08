from courier.events import ObjectIdentity
from courier.ledger.base import ClaimStatus
from courier.ledger.dynamodb import DynamoDBLedger

FILE = ObjectIdentity("landing", "dir/a b.json", "v:1")


class Clock:
    def __init__(self, now: float = 1_800_000_000) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def ledger(aws, stack, clock, lease=60, ttl=7 * 86400):
    return DynamoDBLedger(aws.client("dynamodb"), stack.idempotency_table, ttl_seconds=ttl, lease_seconds=lease, clock=clock)


def test_first_claim_wins_and_a_second_is_busy(aws, stack):
    clock = Clock()
    assert ledger(aws, stack, clock).claim(FILE, "a") is ClaimStatus.CLAIMED
    assert ledger(aws, stack, clock).claim(FILE, "b") is ClaimStatus.BUSY


def test_completed_file_is_reported_complete_with_its_bundle(aws, stack):
    clock = Clock()
    one = ledger(aws, stack, clock)
    one.claim(FILE, "a")
    one.complete([FILE], "bundles/k.tar.gz", "ab" * 32)
    assert one.claim(FILE, "b") is ClaimStatus.COMPLETE
    (record,) = one.lookup("landing", "dir/a b.json")
    assert record.bundle_key == "bundles/k.tar.gz" and record.status == "COMPLETE"


def test_lapsed_lease_of_a_crashed_invocation_can_be_claimed(aws, stack):
    clock = Clock()
    ledger(aws, stack, clock, lease=60).claim(FILE, "crashed")
    clock.now += 61
    assert ledger(aws, stack, clock).claim(FILE, "retry") is ClaimStatus.CLAIMED


def test_expired_item_is_treated_as_absent_before_dynamodb_deletes_it(aws, stack):
    clock = Clock()
    one = ledger(aws, stack, clock, ttl=100)
    one.claim(FILE, "a")
    one.complete([FILE], "bundles/k.tar.gz", "ab" * 32)
    clock.now += 101
    assert one.claim(FILE, "b") is ClaimStatus.CLAIMED
    assert one.lookup("landing", "dir/a b.json")[0].status == "IN_PROGRESS"


def test_release_frees_only_our_own_claim(aws, stack):
    clock = Clock()
    one = ledger(aws, stack, clock, lease=10)
    one.claim(FILE, "first")
    clock.now += 11
    one.claim(FILE, "second")  # took over after the lease lapsed
    one.release(FILE, "first")  # late release of the stale claim: must not free 'second'
    assert one.claim(FILE, "third") is ClaimStatus.BUSY
    one.release(FILE, "second")
    assert one.claim(FILE, "third") is ClaimStatus.CLAIMED


def test_many_files_complete_in_batches(aws, stack):
    one = ledger(aws, stack, Clock())
    files = [ObjectIdentity("landing", f"k{i}", "e:x") for i in range(60)]
    for f in files:
        one.claim(f, "t")
    one.complete(files, "bundles/k.tar.gz", "cd" * 32)
    assert all(one.claim(f, "u") is ClaimStatus.COMPLETE for f in files)


OTHER = ObjectIdentity("landing", "dir/other.json", "e:abc")
KEY, SHA = "bundles/2026/11/26/10/" + "cd" * 32 + ".tar.gz", "cd" * 32


def test_an_assigned_file_is_resent_by_whoever_takes_over_its_lapsed_lease(aws, stack):
    clock = Clock()
    first = ledger(aws, stack, clock, lease=60)
    assert first.claim(FILE, "a") is ClaimStatus.CLAIMED
    assert first.assign([FILE], "a", KEY, SHA)
    assert first.claim(FILE, "b") is ClaimStatus.BUSY  # the POST may still be under way
    clock.now += 61
    status, record = first.claim_with_record(FILE, "b")
    assert status is ClaimStatus.ASSIGNED and (record.bundle_key, record.bundle_sha256, record.claim_token) == (KEY, SHA, "b")
    assert first.claim(FILE, "c") is ClaimStatus.BUSY  # b holds the lease now


def test_a_failed_post_unlocks_the_assignment_for_an_immediate_resend(aws, stack):
    clock = Clock()
    one = ledger(aws, stack, clock)
    one.claim(FILE, "a")
    one.assign([FILE], "a", KEY, SHA)
    one.unlock("a", "someone-else")  # not ours: nothing happens
    assert one.claim(FILE, "b") is ClaimStatus.BUSY
    one.unlock("a", "a")  # the group's lease to 0, its assignment kept
    assert one.claim(FILE, "b") is ClaimStatus.ASSIGNED


def test_a_group_is_not_assigned_once_a_file_of_it_was_taken_over(aws, stack):
    clock = Clock()
    one = ledger(aws, stack, clock, lease=60)
    one.claim(FILE, "a")
    one.claim(OTHER, "a")
    clock.now += 61
    assert one.claim(OTHER, "b") is ClaimStatus.CLAIMED  # a's lease lapsed: b abandoned a's group and took OTHER
    assert not one.assign([FILE, OTHER], "a", KEY, SHA)  # a's late assignment loses: never sent
    records = one.records([FILE, OTHER])
    assert records[FILE].status == "IN_PROGRESS" and records[FILE].bundle_key is None  # nothing to resend
    assert records[OTHER].status == "IN_PROGRESS" and records[OTHER].claim_token == "b"
    assert one.claim(FILE, "c") is ClaimStatus.CLAIMED  # its group abandoned: claimable at once


def test_a_bundle_is_intact_only_while_every_file_is_assigned_to_it(aws, stack):
    clock = Clock()
    one = ledger(aws, stack, clock)
    for identity in (FILE, OTHER):
        one.claim(identity, "a")
    assert one.assign([FILE, OTHER], "a", KEY, SHA)
    assert one.bundle_intact([FILE, OTHER], KEY)
    assert not one.bundle_intact([FILE, OTHER], "bundles/another.tar.gz")
    assert not one.bundle_intact([FILE, OTHER, ObjectIdentity("landing", "never", "v:1")], KEY)
    one.abandon_group("a", "a")
    assert not one.bundle_intact([FILE, OTHER], KEY)


def test_assigning_more_than_one_transaction_of_files(aws, stack):
    clock = Clock()
    one = ledger(aws, stack, clock)
    files = [ObjectIdentity("landing", f"many/{i}", "v:1") for i in range(230)]
    for identity in files:
        one.claim(identity, "a")
    assert one.assign(files, "a", KEY, SHA)
    assert {r.status for r in one.records(files).values()} == {"ASSIGNED"} and len(one.records(files)) == 230
