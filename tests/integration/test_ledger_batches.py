"""claim_many / release_many on DynamoDB (moto in-process): a conditional put per claim (1 write unit, where a
transaction's item costs 2), releases one transaction per 100 files, the same answers as one at a time."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courier.errors import LedgerUnavailableError
from courier.events import ObjectIdentity
from courier.ledger.base import ASSIGNED, COMPLETE, IN_PROGRESS, ClaimStatus, LedgerRecord
from courier.ledger.dynamodb import DynamoDBLedger
from courier.local.provision import _create_table

NOW = 1_800_000_000
TOKEN = "ours"
_tables = itertools.count()


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Counted:
    """A DynamoDB client that counts its calls by operation (and can cancel the first transactions like a conflict would)."""

    def __init__(
        self,
        client: Any,
        conflicts: int = 0,
        conflicting: str = "",
        fail_call: int = 0,
        fail_code: str = "",
        operation: str = "transact_write_items",
    ) -> None:
        self.client = client
        self.operation = operation  # the call the failures below are injected into
        self.calls: Counter[str] = Counter()
        self.fail_call = fail_call  # the nth transaction fails as DynamoDB failing would (0: none)
        self.fail_code = fail_code  # every transaction fails with this code ("": none)
        self.conflicts = conflicts  # how many transactions to cancel
        self.conflicting = conflicting  # the object name whose action is reported as conflicting

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if name == self.operation and self.fail_code:
                raise ClientError({"Error": {"Code": self.fail_code, "Message": "injected"}}, name)
            if name == self.operation and self.calls[name] == self.fail_call:
                raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, name)
            if name == "put_item" and self.conflicts and self.conflicting in str(kwargs.get("Item")):
                self.conflicts -= 1  # a single write meeting an item inside another writer's transaction
                raise ClientError({"Error": {"Code": "TransactionConflictException", "Message": "conflict"}}, "PutItem")
            items = kwargs.get("TransactItems", [])
            names = [str(next(iter(item.values())).get("Key") or next(iter(item.values())).get("Item")) for item in items]
            if name == "transact_write_items" and self.conflicts and any(self.conflicting in n for n in names):
                self.conflicts -= 1
                reasons = [{"Code": "TransactionConflict" if self.conflicting in n else "None"} for n in names]
                raise ClientError(
                    {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}, "CancellationReasons": reasons},
                    "TransactWriteItems",
                )
            return method(*args, **kwargs)

        return call


def fresh_ledger(aws: Any, clock: Clock, client: Any = None, lease: int = 60, ttl: int = 7 * 86400) -> DynamoDBLedger:
    """A ledger on a table of its own, so examples never see each other's items."""
    name = f"ledger-{next(_tables)}"
    raw = aws.client("dynamodb")
    _create_table(raw, name, keys=[("object_name", "HASH"), ("revision", "RANGE")], ttl_attribute="expires_at")
    return DynamoDBLedger(client or raw, name, ttl_seconds=ttl, lease_seconds=lease, clock=clock)


def files(n: int, prefix: str = "f") -> list[ObjectIdentity]:
    return [ObjectIdentity("landing", f"{prefix}/{i:04d}.json", "v:1") for i in range(n)]


# What an item can look like when a claim meets it (None: no item).
STATES: dict[str, Any] = {
    "absent": None,
    "busy": lambda i: LedgerRecord(i, IN_PROGRESS, NOW + 900, NOW + 60, "other"),
    "ours": lambda i: LedgerRecord(i, IN_PROGRESS, NOW + 900, NOW + 60, TOKEN),  # our own claim, retried
    "lapsed": lambda i: LedgerRecord(i, IN_PROGRESS, NOW + 900, NOW - 1, "dead"),
    "complete": lambda i: LedgerRecord(i, COMPLETE, NOW + 900, 0, None, "bundles/k", "ab" * 32, NOW - 5),
    "expired": lambda i: LedgerRecord(i, COMPLETE, NOW - 1, 0, None, "bundles/k", "ab" * 32, NOW - 99),
    "assigned": lambda i: LedgerRecord(i, ASSIGNED, NOW + 900, NOW + 60, "other", "bundles/k", "ab" * 32),
    "assigned_lapsed": lambda i: LedgerRecord(i, ASSIGNED, NOW + 900, 0, "other", "bundles/k", "ab" * 32),
    "assigned_ours": lambda i: LedgerRecord(i, ASSIGNED, NOW + 900, NOW + 60, TOKEN, "bundles/k", "ab" * 32),
}


def seed(ledger: DynamoDBLedger, states: dict[ObjectIdentity, str]) -> None:
    records = [STATES[state](identity) for identity, state in states.items() if STATES[state] is not None]
    if records:
        ledger._put_many(records)  # unconditional writes, the backend's own


def test_claim_many_claims_every_free_file_with_one_conditional_put_each(aws):
    client = Counted(aws.client("dynamodb"))
    ledger = fresh_ledger(aws, Clock(), client)
    batch = files(100)
    claims = ledger.claim_many(batch, TOKEN)
    assert {status for status, _ in claims.values()} == {ClaimStatus.CLAIMED} and list(claims) == batch
    # 1 write unit a claim: no transaction (2 units an item) where no claim depends on another (issue 23)
    assert client.calls == Counter(put_item=100)
    assert {r.claim_token for r in ledger.records(batch).values()} == {TOKEN}


def test_claim_many_settles_busy_and_complete_files_from_their_refusals_without_another_call(aws):
    client = Counted(aws.client("dynamodb"))
    ledger = fresh_ledger(aws, Clock(), client)
    batch = files(10)
    seed(ledger, {batch[1]: "busy", batch[4]: "complete", batch[7]: "assigned"})
    client.calls.clear()
    claims = ledger.claim_many(batch, TOKEN)
    assert claims[batch[1]][0] is ClaimStatus.BUSY and claims[batch[1]][1].claim_token == "other"
    assert claims[batch[4]][0] is ClaimStatus.COMPLETE and claims[batch[4]][1].bundle_key == "bundles/k"
    assert claims[batch[7]][0] is ClaimStatus.BUSY
    claimed = [i for i, (status, _) in claims.items() if status is ClaimStatus.CLAIMED]
    assert claimed == [i for n, i in enumerate(batch) if n not in (1, 4, 7)]
    # Each refusal carries the existing item (ReturnValuesOnConditionCheckFailure): no read after it.
    assert client.calls == Counter(put_item=10)
    assert ledger.records([batch[1]])[batch[1]].claim_token == "other"  # left alone


def test_claim_many_gives_back_the_claims_it_wrote_when_another_fails(aws):
    client = Counted(aws.client("dynamodb"), fail_call=120, operation="put_item")
    ledger = fresh_ledger(aws, Clock(), client)
    batch = files(150)
    with pytest.raises(LedgerUnavailableError, match="InternalServerError"):
        ledger.claim_many(batch, TOKEN)
    assert ledger.records(batch) == {}  # the 149 written were released: nobody waits for their leases


def test_claim_many_recognises_its_own_retried_claim_as_still_its_own(aws):
    ledger = fresh_ledger(aws, Clock())
    batch = files(3)
    first = ledger.claim_many(batch, TOKEN)
    again = ledger.claim_many(batch, TOKEN)  # the answer to the first was lost; botocore sent it again
    assert {status for status, _ in again.values()} == {ClaimStatus.CLAIMED}
    assert {i: r for i, (_, r) in again.items()} == {i: r for i, (_, r) in first.items()}


def test_claim_many_takes_over_a_lapsed_assignment_to_resend_it(aws):
    ledger = fresh_ledger(aws, Clock())
    (one,) = files(1)
    seed(ledger, {one: "assigned_lapsed"})
    status, record = ledger.claim_many([one], TOKEN)[one]
    assert status is ClaimStatus.ASSIGNED and record.claim_token == TOKEN and record.bundle_key == "bundles/k"


def test_claim_many_claims_a_file_named_twice_once(aws):
    client = Counted(aws.client("dynamodb"))
    ledger = fresh_ledger(aws, Clock(), client)
    a, b = files(2)
    claims = ledger.claim_many([a, b, a], TOKEN)
    assert list(claims) == [a, b] and {s for s, _ in claims.values()} == {ClaimStatus.CLAIMED}
    assert client.calls == Counter(put_item=2)


def test_claim_many_reports_a_file_another_transaction_is_writing_as_busy_and_claims_the_rest(aws):
    client = Counted(aws.client("dynamodb"), conflicts=1, conflicting="f/0002")
    ledger = fresh_ledger(aws, Clock(), client)
    batch = files(5)
    claims = ledger.claim_many(batch, TOKEN)
    assert claims[batch[2]][0] is ClaimStatus.BUSY  # its message comes back; the next receive claims it
    assert all(claims[i][0] is ClaimStatus.CLAIMED for i in batch if i != batch[2])
    assert batch[2] not in ledger.records(batch)


def test_claim_many_fails_as_ledger_unavailable_when_dynamodb_refuses_the_call(aws):
    ledger = fresh_ledger(aws, Clock())
    ledger.table_name = "no-such-table"
    with pytest.raises(LedgerUnavailableError, match="idempotency ledger claim failed"):
        ledger.claim_many(files(2), TOKEN)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.sampled_from(sorted(STATES)), min_size=1, max_size=12),
    st.lists(st.integers(min_value=0, max_value=11), max_size=3),
)
def test_claim_many_answers_what_one_claim_at_a_time_answers_whatever_the_files_states(aws, states, repeats):
    batch = files(len(states))
    named = batch + [batch[r % len(batch)] for r in repeats]  # some files named twice
    one_by_one, at_once = fresh_ledger(aws, Clock()), fresh_ledger(aws, Clock())
    for ledger in (one_by_one, at_once):
        seed(ledger, dict(zip(batch, states, strict=True)))
    expected = {i: one_by_one.claim_with_record(i, TOKEN) for i in dict.fromkeys(named)}
    assert at_once.claim_many(named, TOKEN) == expected
    assert at_once.records(batch) == one_by_one.records(batch)


def test_release_many_gives_back_only_our_own_claims_in_one_transaction(aws):
    client = Counted(aws.client("dynamodb"))
    clock = Clock()
    ledger = fresh_ledger(aws, clock, client)
    batch = files(6)
    seed(ledger, {batch[0]: "busy", batch[1]: "complete", batch[2]: "assigned_ours"})
    ledger.claim_many(batch[3:], TOKEN)
    client.calls.clear()
    ledger.release_many(batch, TOKEN)
    assert client.calls == Counter(transact_write_items=2)  # one refused three, the next deleted ours
    left = ledger.records(batch)
    assert set(left) == set(batch[:3])  # ours released; another's claim, a completion and an assignment stay
    assert left[batch[0]].claim_token == "other" and left[batch[2]].status == ASSIGNED


def test_release_many_of_more_than_100_files_takes_a_transaction_per_100(aws):
    client = Counted(aws.client("dynamodb"))
    ledger = fresh_ledger(aws, Clock(), client)
    batch = files(150)
    ledger.claim_many(batch, TOKEN)
    client.calls.clear()
    ledger.release_many(batch, TOKEN)
    assert client.calls == Counter(transact_write_items=2)
    assert ledger.records(batch) == {}


def test_the_emulator_checks_a_transaction_without_copying_the_tables_it_touches(aws, monkeypatch):
    from moto.dynamodb.models.table import Table

    ledger = fresh_ledger(aws, Clock())
    ledger.complete(files(300, "done"), "bundles/k", "ab" * 32)

    def refuse(*_: Any) -> None:
        raise AssertionError("the whole table was copied")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)  # moto's own version copies it to roll back
    batch = files(3) + files(1, "done")
    claims = ledger.claim_many(batch, TOKEN)  # one refused (complete), then the rest written
    assert [claims[i][0] for i in batch] == [ClaimStatus.CLAIMED] * 3 + [ClaimStatus.COMPLETE]


def test_the_emulator_puts_back_what_a_transaction_wrote_before_one_of_its_writes_failed(aws):
    ledger = fresh_ledger(aws, Clock())
    a, b = files(2)
    ledger.claim_many([b], "other")
    client = aws.client("dynamodb")
    put_a = {"Put": {"TableName": ledger.table_name, "Item": {"object_name": {"S": a.object_name}, "revision": {"S": "v:1"}}}}
    # Adding a number to a string attribute fails only when the write runs, after the put of `a` succeeded.
    bad_b = {
        "Update": {
            "TableName": ledger.table_name,
            "Key": {"object_name": {"S": b.object_name}, "revision": {"S": "v:1"}},
            "UpdateExpression": "ADD #s :one",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=[put_a, bad_b])
    assert set(ledger.records([a, b])) == {b}  # `a` was taken out again: all or nothing


def test_claim_many_fails_as_ledger_unavailable_when_still_throttled_after_botocores_retries(aws):
    # A claim is a plain PutItem: botocore's standard retry mode backs off throttling inside the call (3 attempts).
    client = Counted(aws.client("dynamodb"), fail_code="ThrottlingException", operation="put_item")
    ledger = fresh_ledger(aws, Clock(), client)
    with pytest.raises(LedgerUnavailableError, match="ThrottlingException"):
        ledger.claim_many(files(3), TOKEN)
    assert client.calls["put_item"] == 3


def test_claim_many_fails_at_once_on_an_error_that_retrying_cannot_fix(aws, monkeypatch):
    client = Counted(aws.client("dynamodb"), fail_code="ValidationException", operation="put_item")
    ledger = fresh_ledger(aws, Clock(), client)
    monkeypatch.setattr("courier.adapters.aws.backoff", lambda _: pytest.fail("no backoff for a validation error"))
    with pytest.raises(LedgerUnavailableError, match="ValidationException"):
        ledger.claim_many(files(1), TOKEN)
    assert client.calls["put_item"] == 1
