"""The ledger's groups on DynamoDB (moto in-process): one write per file (the claim), the rest per bundle.

A file record points at its bundle's group; the group item decides what a claim that meets the record gets.
Assign and abandon both write the absent group item with ``attribute_not_exists``: exactly one wins.
"""

from __future__ import annotations

from typing import Any

import pytest

from courier.events import ObjectIdentity
from courier.ledger.base import ABANDONED, ASSIGNED, COMPLETE, GROUP_PREFIX, GROUP_SORT_KEY, ClaimStatus
from courier.ledger.dynamodb import DynamoDBLedger

A = ObjectIdentity("landing", "g/a.json", "v:1")
B = ObjectIdentity("landing", "g/b.json", "v:1")
KEY, SHA = "bundles/2026/12/07/01/" + "ef" * 32 + ".tar.gz", "ef" * 32
LEASE, NOW = 60, 1_800_000_000


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(aws: Any, stack: Any, clock: Clock) -> DynamoDBLedger:
    return DynamoDBLedger(
        aws.client("dynamodb"), stack.idempotency_table, ttl_seconds=7 * 86400, lease_seconds=LEASE, clock=clock
    )


def group_item(aws: Any, stack: Any, group: str) -> dict[str, Any] | None:
    key = {"object_name": {"S": GROUP_PREFIX + group}, "revision": {"S": GROUP_SORT_KEY}}
    return aws.client("dynamodb").get_item(TableName=stack.idempotency_table, Key=key, ConsistentRead=True).get("Item")


def test_a_claim_writes_one_file_record_naming_its_group_and_no_group_item(aws, stack, ledger):
    claims = ledger.claim_many([A, B], "a", "a.1")
    assert {status for status, _ in claims.values()} == {ClaimStatus.CLAIMED}
    assert {record.group for record in ledger.records([A, B]).values()} == {"a.1"}
    assert group_item(aws, stack, "a.1") is None  # absent until the bundle is assigned


def test_assign_and_complete_are_one_write_each_to_the_group_item(aws, stack, ledger):
    ledger.claim_many([A, B], "a", "a.1")
    assert ledger.assign([A, B], "a", KEY, SHA, "a.1")
    item = group_item(aws, stack, "a.1")
    assert item["status"]["S"] == ASSIGNED and item["files"]["N"] == "2" and item["bundle_key"]["S"] == KEY
    ledger.complete([A, B], KEY, SHA, "a.1")
    assert group_item(aws, stack, "a.1")["status"]["S"] == COMPLETE
    assert {(r.status, r.bundle_key, r.bundle_sha256) for r in ledger.records([A, B]).values()} == {(COMPLETE, KEY, SHA)}
    assert {r.status for r in ledger.lookup("landing", "g/a.json")} == {COMPLETE}


def test_a_claim_meeting_a_complete_group_is_complete(ledger):
    ledger.claim_many([A], "a", "a.1")
    ledger.assign([A], "a", KEY, SHA, "a.1")
    ledger.complete([A], KEY, SHA, "a.1")
    status, record = ledger.claim_with_record(A, "b", "b.1")
    assert status is ClaimStatus.COMPLETE and record.bundle_key == KEY


def test_a_claim_meeting_an_assigned_group_resends_it_once_its_lease_lapsed(ledger, clock):
    ledger.claim_many([A, B], "a", "a.1")
    ledger.assign([A, B], "a", KEY, SHA, "a.1")
    assert ledger.claim(A, "b", "b.1") is ClaimStatus.BUSY  # a's POST may be under way
    clock.now += LEASE + 1
    claims = ledger.claim_many([A, B], "b", "b.1")
    assert {status for status, _ in claims.values()} == {ClaimStatus.ASSIGNED}
    assert {(r.bundle_key, r.bundle_sha256, r.group, r.claim_token) for _, r in claims.values()} == {(KEY, SHA, "a.1", "b")}
    assert ledger.claim(A, "c", "c.1") is ClaimStatus.BUSY  # b holds the group's lease now


def test_a_claim_meeting_an_abandoned_group_claims_the_file_at_once(aws, stack, ledger):
    ledger.claim_many([A], "a", "a.1")
    ledger.assign([A], "a", KEY, SHA, "a.1")
    ledger.abandon_group("a.1", "a")  # NiFi refused the bundle: it holds no copy
    status, _ = ledger.claim_with_record(A, "b", "b.1")
    assert status is ClaimStatus.CLAIMED and ledger.records([A])[A].group == "b.1"
    assert group_item(aws, stack, "a.1")["status"]["S"] == ABANDONED


def test_a_claim_meeting_an_absent_group_is_busy_while_its_holder_lives_then_abandons_it(aws, stack, ledger, clock):
    ledger.claim_many([A], "a", "a.1")
    assert ledger.claim(A, "b", "b.1") is ClaimStatus.BUSY  # a is still building the bundle
    assert group_item(aws, stack, "a.1") is None
    clock.now += LEASE + 1  # a died
    assert ledger.claim(A, "b", "b.1") is ClaimStatus.CLAIMED
    assert group_item(aws, stack, "a.1")["status"]["S"] == ABANDONED


def test_a_takeover_after_a_dead_holder_wins_over_its_late_assignment(ledger, clock):
    ledger.claim_many([A, B], "a", "a.1")
    clock.now += LEASE + 1
    assert ledger.claim(B, "b", "b.1") is ClaimStatus.CLAIMED  # a's group written ABANDONED first
    assert not ledger.assign([A, B], "a", KEY, SHA, "a.1")  # so a's bundle is never sent
    assert ledger.claim(A, "c", "c.1") is ClaimStatus.CLAIMED  # and its other file is free at once


def test_an_assignment_before_the_takeover_wins_and_the_file_is_resent_not_rebuilt(ledger, clock):
    ledger.claim_many([A, B], "a", "a.1")
    clock.now += LEASE + 1
    assert ledger.assign([A, B], "a", KEY, SHA, "a.1")  # a was slow, not dead: its assignment came first
    assert ledger.claim(B, "b", "b.1") is ClaimStatus.BUSY  # the group's lease, renewed by the assignment: a POSTs
    clock.now += LEASE + 1
    status, record = ledger.claim_with_record(B, "b", "b.1")
    assert status is ClaimStatus.ASSIGNED and record.bundle_key == KEY  # resend that bundle, never a second one
    assert ledger.records([A, B])[A].group == "a.1" and ledger.records([A, B])[B].group == "a.1"


def test_our_own_claim_retried_after_its_answer_was_lost_stays_ours(ledger):
    ledger.claim_many([A], "a", "a.1")
    assert ledger.claim_many([A], "a", "a.1")[A][0] is ClaimStatus.CLAIMED


def test_regroup_moves_only_our_own_files_of_the_old_group(ledger, clock):
    ledger.claim_many([A, B], "a", "a.1")
    clock.now += LEASE + 1
    ledger.claim(B, "b", "b.1")  # taken over after a's lease lapsed
    assert ledger.regroup([A, B], "a", "a.1", "a.2") == [B]
    assert ledger.records([A])[A].group == "a.2" and ledger.records([B])[B].group == "b.1"


def test_unlock_keeps_the_assignment_and_lets_the_next_claim_resend_at_once(ledger):
    ledger.claim_many([A], "a", "a.1")
    ledger.assign([A], "a", KEY, SHA, "a.1")
    ledger.unlock("a.1", "b")  # not ours: nothing happens
    assert ledger.claim(A, "b", "b.1") is ClaimStatus.BUSY
    ledger.unlock("a.1", "a")
    assert ledger.claim(A, "b", "b.1") is ClaimStatus.ASSIGNED


# --- items of the previous version (per-file ASSIGNED/COMPLETE, no group) ---------------------------


def put_legacy(aws: Any, stack: Any, identity: ObjectIdentity, status: str, lease_until: int, token: str = "old") -> None:
    """An item as the previous version wrote it: the bundle on the file's own record, no group."""
    item = {
        "object_name": {"S": identity.object_name},
        "revision": {"S": identity.revision},
        "bucket": {"S": identity.bucket},
        "key": {"S": identity.key},
        "status": {"S": status},
        "expires_at": {"N": str(NOW + 86400)},
        "lease_until": {"N": str(lease_until)},
        "claim_token": {"S": token},
    }
    if status != "IN_PROGRESS":
        item |= {"bundle_key": {"S": KEY}, "bundle_sha256": {"S": SHA}}
    aws.client("dynamodb").put_item(TableName=stack.idempotency_table, Item=item)


def test_a_previous_versions_complete_item_is_skipped(aws, stack, ledger):
    put_legacy(aws, stack, A, COMPLETE, 0)
    assert ledger.claim(A, "b", "b.1") is ClaimStatus.COMPLETE


def test_a_previous_versions_lapsed_assigned_item_is_resent_in_its_bundle_and_completed_per_file(aws, stack, ledger):
    put_legacy(aws, stack, A, ASSIGNED, NOW - 1)
    status, record = ledger.claim_with_record(A, "b", "b.1")
    assert status is ClaimStatus.ASSIGNED and (record.bundle_key, record.group, record.claim_token) == (KEY, None, "b")
    ledger.complete([A], KEY, SHA)  # no group: the file's own record, as before
    assert ledger.claim(A, "c", "c.1") is ClaimStatus.COMPLETE


def test_a_previous_versions_in_progress_item_is_busy_while_live_and_claimed_once_lapsed(aws, stack, ledger):
    put_legacy(aws, stack, A, "IN_PROGRESS", NOW + 30)
    assert ledger.claim(A, "b", "b.1") is ClaimStatus.BUSY
    put_legacy(aws, stack, A, "IN_PROGRESS", NOW - 1)
    assert ledger.claim(A, "b", "b.1") is ClaimStatus.CLAIMED and ledger.records([A])[A].group == "b.1"


# --- a rollback to the previous version, which claims any IN_PROGRESS record whose lease lapsed ------------------

PREVIOUS_CLAIMABLE = "attribute_not_exists(#pk) OR #exp <= :now OR (#status = :in_progress AND #lease <= :now)"


def previous_version_claims(aws: Any, stack: Any, identity: ObjectIdentity, now: int) -> bool:
    """The previous version's claim (its condition, verbatim), as it runs after a rollback."""
    item = {
        "object_name": {"S": identity.object_name},
        "revision": {"S": identity.revision},
        "bucket": {"S": identity.bucket},
        "key": {"S": identity.key},
        "status": {"S": "IN_PROGRESS"},
        "expires_at": {"N": str(now + 86400)},
        "lease_until": {"N": str(now + LEASE)},
        "claim_token": {"S": "old"},
    }
    try:
        aws.client("dynamodb").put_item(
            TableName=stack.idempotency_table,
            Item=item,
            ConditionExpression=PREVIOUS_CLAIMABLE,
            ExpressionAttributeNames={"#pk": "object_name", "#exp": "expires_at", "#status": "status", "#lease": "lease_until"},
            ExpressionAttributeValues={":now": {"N": str(now)}, ":in_progress": {"S": "IN_PROGRESS"}},
        )
    except aws.client("dynamodb").exceptions.ConditionalCheckFailedException:
        return False
    return True


@pytest.mark.parametrize("state", ["complete", "assigned", "claimed"])
def test_after_a_rollback_the_previous_version_never_claims_a_file_of_a_group(aws, stack, ledger, clock, state):
    # Its file lease lapses while the group is assigned or complete; claimed again, a delivered file would go out
    # in a second bundle. The previous version reads it as busy: its messages wait, or reach the DLQ, visibly.
    ledger.claim_many([A], "a", "a.1")
    if state != "claimed":
        ledger.assign([A], "a", KEY, SHA, "a.1")
    if state == "complete":
        ledger.complete([A], KEY, SHA, "a.1")
    clock.now += LEASE + 1
    assert not previous_version_claims(aws, stack, A, int(clock.now))
    assert ledger.records([A])[A].group == "a.1"


def test_a_group_file_record_is_still_released_by_its_holder(ledger):
    ledger.claim_many([A, B], "a", "a.1")
    ledger.release(A, "b")  # not ours: left alone
    ledger.release_many([B], "a")
    ledger.release(A, "a")
    assert ledger.records([A, B]) == {}
