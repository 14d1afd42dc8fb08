"""Each file reaches NiFi inside exactly one distinct bundle, whatever fails around the POST.

NiFi may receive a bundle more than once, always with the same SHA-256 (its
DetectDuplicate drops the copies); it never receives a file in two different
bundles. Every test counts, for each file, the distinct SHA-256s of the
bundles NiFi accepted that contain it: exactly one.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courier import budget
from courier.aggregator import Aggregator
from courier.bundle import Body
from courier.errors import LedgerUnavailableError, StorageUnavailableError
from courier.ledger.base import ASSIGNED, COMPLETE
from fakes import FakeArchive, FakeBreaker, FakeClock, FakeLanding, FakeNiFi, FakeParkingLot, InMemoryLedger
from support import notification, sqs_record

LEASE = 900


class Crash(BaseException):
    """A Lambda timeout or out-of-memory kill, seen from inside: nothing after it runs."""


@dataclass
class World:
    """One landing bucket, ledger, archive and NiFi, shared by every execution environment."""

    clock: FakeClock = field(default_factory=FakeClock)
    landing: FakeLanding = field(default_factory=FakeLanding)
    archive: FakeArchive = field(default_factory=FakeArchive)
    nifi: FakeNiFi = field(default_factory=FakeNiFi)
    ledger: InMemoryLedger = field(init=False)
    environments: list[Aggregator] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ledger = InMemoryLedger(lease_seconds=LEASE, clock=self.clock)

    def environment(self, max_bundle_bytes: int = 1 << 20, post_budget_seconds: float = 0.0) -> Aggregator:
        """A fresh execution environment (a new Lambda container) of the aggregator."""
        aggregator = Aggregator(
            ledger=self.ledger,
            landing=self.landing,
            archive=self.archive,
            nifi=self.nifi.client(),
            archive_prefix="bundles",
            max_bundle_bytes=max_bundle_bytes,
            post_budget_seconds=post_budget_seconds,
            concurrency=2,
            clock=self.clock,
            breaker=FakeBreaker(failure_threshold=10_000, clock=self.clock),
            parking_lot=FakeParkingLot(),
        )
        self.environments.append(aggregator)
        return aggregator

    def land(self, key: str) -> dict[str, Any]:
        return sqs_record(notification(self.landing.land(key, key.encode() * 3)), message_id=f"m-{key}")

    def distinct_bundles_per_file(self) -> dict[str, int]:
        return {key: len(shas) for (_, key), shas in self.nifi.bundles_of_files().items()}

    def close(self) -> None:
        for aggregator in self.environments:
            aggregator.pool.shutdown()
            aggregator.nifi.close()


@pytest.fixture
def world() -> Iterator[World]:
    built = World()
    yield built
    built.close()


def crash_after(method: Callable[..., Any]) -> Callable[..., Any]:
    def run_then_die(*args: Any, **kwargs: Any) -> Any:
        method(*args, **kwargs)
        raise Crash(method.__name__)

    return run_then_die


def test_a_lost_acknowledgement_resends_the_same_bundle(world):
    messages = [world.land(f"lost/{i}") for i in range(3)]
    world.nifi.mode = "ack-lost"
    first = world.environment().process(messages)
    assert set(first.failed.values()) == {"nifi_unavailable"}
    world.nifi.mode = "ok"
    retry = world.environment().process(messages)  # at once: the failed POST unlocked the assignment
    assert retry.returned == []
    assert world.distinct_bundles_per_file() == {f"lost/{i}": 1 for i in range(3)}
    assert len(world.nifi.accepted) == 2  # the same bytes twice: NiFi's DetectDuplicate drops one


def test_a_crash_after_the_post_resends_the_archived_bundle_after_the_lease(world):
    messages = [world.land(f"crash/{i}") for i in range(3)]
    doomed = world.environment()
    world.ledger.complete = crash_after(lambda *a: None)  # dies right after NiFi's 2xx
    with pytest.raises(Crash):
        doomed.process(messages)
    del world.ledger.complete
    assert world.environment().process(messages).failed == {m["messageId"]: "claim_busy" for m in messages}
    world.clock.advance(LEASE + 1)
    assert world.environment().process(messages).returned == []
    assert world.distinct_bundles_per_file() == {f"crash/{i}": 1 for i in range(3)}
    assert {world.ledger.record_of(r.identity).status for r in world.ledger.items.values()} == {COMPLETE}


def test_a_ledger_failure_after_the_2xx_acknowledges_and_a_redelivery_resends_the_same_bundle(world):
    messages = [world.land(f"ledger/{i}") for i in range(2)]
    world.ledger.fail("complete")
    assert world.environment().process(messages).returned == []  # delivered is delivered
    world.ledger.failing.clear()
    world.clock.advance(LEASE + 1)
    assert world.environment().process(messages).returned == []  # e.g. S3 announced the files again
    assert world.distinct_bundles_per_file() == {"ledger/0": 1, "ledger/1": 1}


def test_a_lease_that_lapses_during_a_slow_post_lets_the_retry_resend_only_that_bundle(world):
    messages = [world.land(f"slow/{i}") for i in range(3)]
    slow, retry = world.environment(), world.environment()
    outcomes = []

    def meanwhile() -> None:
        world.clock.advance(LEASE + 1)  # the slow POST outlives the lease; the messages reappear
        outcomes.append(retry.process(messages))

    world.nifi.during_post = meanwhile
    first = slow.process(messages)
    assert first.returned == [] and outcomes[0].returned == []
    assert world.distinct_bundles_per_file() == {f"slow/{i}": 1 for i in range(3)}


def test_a_retry_rebatched_with_a_new_file_resends_the_old_bundle_and_builds_one_for_the_new(world):
    old = [world.land(f"rebatch/{i}") for i in range(3)]
    doomed = world.environment()
    world.nifi.mode = "ack-lost"
    doomed.process(old)
    world.nifi.mode = "ok"
    new = world.land("rebatch/new")
    result = world.environment().process([*old, new])
    assert result.returned == []
    assert world.distinct_bundles_per_file() == {**{f"rebatch/{i}": 1 for i in range(3)}, "rebatch/new": 1}
    assert len({r.sha256 for r in world.nifi.accepted}) == 2


# --- a seeded random schedule of faults and batches ---------------------------------------

FAULTS = ["ok", "ok", "ok", 503, "timeout", "reset", "ack-lost", 500, "crash-after-post", "crash-before-post", "lapse"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), files=st.integers(min_value=1, max_value=12))
def test_any_schedule_of_faults_and_rebatching_delivers_every_file_in_exactly_one_bundle(seed, files):
    rng = random.Random(seed)
    world = World()
    try:
        messages = [world.land(f"chaos/{seed}/{i}") for i in range(files)]
        for _ in range(rng.randint(1, 8)):
            batch = rng.sample(messages, rng.randint(1, len(messages)))
            _run_with_fault(world, batch, rng.choice(FAULTS), rng.randint(1, 1 << 20))
        world.nifi.mode = "ok"
        for _ in range(3):  # faults cleared: every message comes back until acknowledged
            world.clock.advance(LEASE + 1)
            pending = messages
            pending = [m for m in pending if m["messageId"] in world.environment().process(pending).failed]
            if not pending:
                break
        assert pending == []
        assert world.distinct_bundles_per_file() == {f"chaos/{seed}/{i}": 1 for i in range(files)}
    finally:
        world.close()


def _run_with_fault(world: World, batch: list[dict[str, Any]], fault: str | int, max_bundle_bytes: int) -> None:
    aggregator = world.environment(max_bundle_bytes=max(64, max_bundle_bytes))
    if fault == "lapse":
        world.clock.advance(LEASE + 1)
        fault = "ok"
    world.nifi.mode = fault if fault not in ("crash-after-post", "crash-before-post") else "ok"
    if fault == "crash-after-post":
        world.ledger.complete = crash_after(lambda *a: None)
    elif fault == "crash-before-post":
        world.ledger.assign = crash_after(world.ledger.assign)
    try:
        aggregator.process(batch)
    except Crash:
        pass
    finally:
        world.ledger.__dict__.pop("complete", None)
        world.ledger.__dict__.pop("assign", None)


# --- the resend's own failure paths ----------------------------------------------------------


def test_an_archived_bundle_that_no_longer_hashes_right_is_never_resent(world):
    messages = [world.land("corrupt/0")]
    world.nifi.mode = "ack-lost"
    world.environment().process(messages)
    (key,) = world.archive.bundles
    original = world.archive.bundles[key]
    flipped = bytearray(original.data)
    flipped[len(flipped) // 2] ^= 0xFF  # a bit rot in the archive
    world.archive.bundles[key] = replace(original, body=Body.of(bytes(flipped)))
    world.nifi.mode = "ok"
    result = world.environment().process(messages)
    assert result.failed == {"m-corrupt/0": "archive_corrupt"}
    assert len(world.nifi.requests) == 1  # only the first attempt ever went out


def test_a_bundle_whose_files_do_not_all_point_at_its_group_is_abandoned_and_its_files_built_afresh(world):
    messages = [world.land(f"partial/{i}") for i in range(2)]
    world.ledger.assign = crash_after(world.ledger.assign)  # assigned, then died before the POST
    with pytest.raises(Crash):
        world.environment().process(messages)
    del world.ledger.assign
    other = next(r.identity for r in world.ledger.items.values() if r.identity.key == "partial/1")
    del world.ledger.items[(other.object_name, other.revision)]  # as if its record were gone: the bundle is not intact
    world.clock.advance(LEASE + 1)
    first = world.environment().process(messages[:1])
    assert first.failed == {"m-partial/0": "bundle_not_intact"} and world.nifi.requests == []
    assert world.environment().process(messages).returned == []
    assert world.distinct_bundles_per_file() == {"partial/0": 1, "partial/1": 1}


def test_too_little_time_left_gives_the_bundle_back_before_its_post(world):
    messages = [world.land(f"late/{i}") for i in range(2)]
    aggregator = world.environment(post_budget_seconds=20)
    result = aggregator.process(messages, remaining_ms=lambda: 25_000)  # 25 s < 20 s budget + 10 s bookkeeping
    assert set(result.failed.values()) == {"time_budget"} and world.nifi.requests == []
    assert world.ledger.items == {}  # claims released: the next attempt claims and builds at once
    assert world.environment().process(messages, remaining_ms=lambda: 60_000).returned == []


def test_messages_of_one_bundle_coming_back_in_two_batches_resend_it_once(world):
    messages = [world.land(f"split/{i}") for i in range(4)]
    world.nifi.mode = 503
    world.environment().process(messages)  # one bundle, assigned, never acknowledged
    world.nifi.mode = "ok"
    first, second = world.environment(), world.environment()
    outcomes = []
    world.nifi.during_post = lambda: outcomes.append(second.process(messages[2:]))  # the other half, at the same time
    assert first.process(messages[:2]).returned == []
    assert set(outcomes[0].failed.values()) == {"claim_busy"}  # waits while the bundle is being resent
    assert world.environment().process(messages[2:]).skipped  # and then finds its files delivered
    assert len(world.nifi.accepted) == 1 and world.distinct_bundles_per_file() == {f"split/{i}": 1 for i in range(4)}


# --- an attacker's schedule: a ledger write lost, refused or cut short at every step ----------------------------
# Each storage primitive of the ledger is where a DynamoDB call goes out. "lost": the write landed and its answer
# did not; "refused": it failed before landing; "crash-before"/"crash-after": the function died right there.

PRIMITIVES = [
    "_put_if_claimable",
    "_replace_if_grouped",
    "_regroup_if_owned",
    "_delete_if_owned",
    "_put_group_if_absent",
    "_take_over_group",
    "_set_group_if_owned",
    "_complete_group",
    "_get_group",
    "_get_many",
    # the previous version's per-file items, after an upgrade
    "_relock_assigned",
    "_unlock_if_owned",
    "_unassign_if_owned",
    "_put_many",
]
FAULT_KINDS = ["lost", "refused", "crash-before", "crash-after"]


def fault_at(world: World, primitive: str, call: int, kind: str) -> None:
    """Make the ``call``-th call of ``primitive`` (from 1) fail as ``kind``; the others run as usual."""
    method = getattr(world.ledger, primitive)
    calls = []

    def faulty(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) != call:
            return method(*args, **kwargs)
        if kind == "crash-before":
            raise Crash(primitive)
        if kind == "refused":
            raise LedgerUnavailableError(f"{primitive} failed (injected)")
        method(*args, **kwargs)
        if kind == "crash-after":
            raise Crash(primitive)
        raise LedgerUnavailableError(f"{primitive} landed, its answer lost (injected)")

    setattr(world.ledger, primitive, faulty)


def as_previous_versions_items(ledger: InMemoryLedger) -> None:
    """Rewrite each assigned group as the previous version kept it: the bundle on each file's own record, no group."""
    for key, record in list(ledger.items.items()):
        group = ledger.groups.get(record.group) if record.group else None
        if group is not None and group.status == ASSIGNED:
            ledger.items[key] = replace(
                record,
                status=ASSIGNED,
                group=None,
                bundle_key=group.bundle_key,
                bundle_sha256=group.bundle_sha256,
                claim_token=group.claim_token,
                lease_until=group.lease_until,
            )
    ledger.groups.clear()


def assert_groups_name_only_their_bundles_files(world: World) -> None:
    """No record points at an assigned or complete group whose bundle lacks its file (that would acknowledge a loss)."""
    for record in world.ledger.items.values():
        group = world.ledger.groups.get(record.group) if record.group else None
        if group is not None and group.status in (ASSIGNED, COMPLETE):
            bundle = world.archive.bundles[str(group.bundle_key)]
            assert record.identity in bundle.identities, f"{record.identity} points at {group} without being in it"


def deliver_everything(world: World, messages: list[dict[str, Any]]) -> None:
    world.nifi.mode = "ok"
    pending = messages
    for _ in range(4):  # faults cleared: every message comes back until acknowledged
        world.clock.advance(LEASE + 1)
        pending = [m for m in pending if m["messageId"] in world.environment(max_bundle_bytes=60).process(pending).failed]
        assert_groups_name_only_their_bundles_files(world)
    assert pending == []
    keys = [m["messageId"].removeprefix("m-") for m in messages]
    assert world.distinct_bundles_per_file() == dict.fromkeys(keys, 1)
    for record in world.ledger.resolved_items():  # complete only through a bundle NiFi accepted with that file in it
        if record.status == COMPLETE:
            assert str(record.bundle_sha256) in world.nifi.bundles_of_files()[(record.identity.bucket, record.identity.key)]


FAULT = st.tuples(st.sampled_from(PRIMITIVES), st.integers(min_value=1, max_value=3), st.sampled_from(FAULT_KINDS))
ATTACK_EXAMPLES = int(os.environ.get("LEDGER_ATTACK_EXAMPLES", "150"))  # raise it to hunt longer


@settings(max_examples=ATTACK_EXAMPLES, deadline=None)
@given(
    faults=st.lists(FAULT, min_size=1, max_size=2, unique_by=lambda fault: fault[0]),
    nifi=st.sampled_from(["ok", 503, "refused-once", "ack-lost"]),
    before=st.sampled_from(["fresh", "assigned", "one-unreadable", "assigned-by-the-previous-version"]),
)
def test_ledger_writes_lost_refused_or_cut_short_anywhere_never_send_a_file_in_two_bundles(faults, nifi, before):
    world = World()
    try:
        # Five files, two to a bundle (60 bytes): every batch re-plans its group into several bundles.
        messages = [world.land(f"attack/{i}") for i in range(5)]
        if before.startswith("assigned"):  # bundles archived and assigned, their POST failed: the next batch resends them
            world.nifi.mode = 503
            world.environment(max_bundle_bytes=60).process(messages)
        if before == "assigned-by-the-previous-version":
            as_previous_versions_items(world.ledger)
        if before == "one-unreadable":  # its claim is given back (or not) while the others are bundled
            world.landing.fail("attack/2", StorageUnavailableError("S3 failed (injected)"))
        world.nifi.mode = "ok" if nifi == "refused-once" else nifi
        if nifi == "refused-once":
            world.nifi.script(413)
        for primitive, call, kind in faults:
            fault_at(world, primitive, call, kind)
        try:
            world.environment(max_bundle_bytes=60).process(messages)
        except Crash:
            pass
        for primitive, _, _ in faults:
            world.ledger.__dict__.pop(primitive, None)
        world.landing.errors.clear()
        assert_groups_name_only_their_bundles_files(world)
        deliver_everything(world, messages)
    finally:
        world.close()


@pytest.mark.parametrize("kind", FAULT_KINDS)
@pytest.mark.parametrize("primitive", PRIMITIVES)
def test_a_duplicate_batch_running_beside_a_faulty_one_never_sends_a_file_in_two_bundles(world, primitive, kind):
    messages = [world.land(f"twin/{i}") for i in range(5)]
    twin = world.environment(max_bundle_bytes=60)
    world.nifi.during_post = lambda: twin.process(list(reversed(messages)))  # the same messages, side by side
    fault_at(world, primitive, 2, kind)
    try:
        world.environment(max_bundle_bytes=60).process(messages)
    except Crash:
        pass
    world.ledger.__dict__.pop(primitive)
    assert_groups_name_only_their_bundles_files(world)
    deliver_everything(world, messages)


def test_a_file_delivered_after_a_days_long_outage_is_skipped_until_the_ledger_window_then_refused(world):
    # The file record expires a TTL after its claim, its group a TTL after its completion: the record goes first.
    # A claim comes no earlier than the landing, so inside the window (judged by the landing) the record is there.
    messages = [world.land("ttl/0")]
    world.nifi.mode = 503
    world.environment().process(messages)  # claimed and assigned now; NiFi down for days
    world.nifi.mode = "ok"
    world.clock.advance(3 * 86400)
    assert world.environment().process(messages).returned == []  # resent, completed three days after the claim
    world.clock.advance(budget.ledger_window_seconds(world.ledger.ttl_seconds) - 3 * 86400 - 60)
    assert world.environment().process(messages).skipped  # a duplicate at the window's edge: still delivered
    world.clock.advance(120)
    assert world.environment().process(messages).failed == {"m-ttl/0": "beyond_ledger"}  # past it: refused, alone
    assert world.distinct_bundles_per_file() == {"ttl/0": 1}
