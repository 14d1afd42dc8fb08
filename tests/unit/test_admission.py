"""What one invocation takes on: groups admitted from the events' sizes before any claim, the rest deferred.

A deferred file is neither claimed nor fetched; its message goes back to the queue
(a batch item failure with reason ``deferred``, visible again after ``DEFER_SECONDS``)
and leaves no failure note: it is not a failure. Bytes held sit in spools that
keep to the memory budget, whatever the batch.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from courier import budget
from courier.admission import Admission, Limits, spooling
from courier.aggregator import DEFER_NOTE_RECEIVES, DEFER_SECONDS, Aggregator
from courier.bundle import read_manifest
from courier.errors import NoRoomError, ObjectTooLargeError, SpoolUnavailableError, TimeBudgetError
from courier.events import ObjectIdentity
from courier.ports import ObjectStream
from fakes import FakeArchive, FakeClock, FakeLanding, FakeNiFi, FakeParkingLot, FakeSpools, InMemoryLedger
from support import notification, sqs_record

MB = 1_000_000
RATE = 1 * MB  # bytes per second the test's invocation moves
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


class TimedLanding(FakeLanding):
    """A landing bucket whose reads take time: the clock moves by size / RATE on every open
    (``per_read``: on every read of the body instead, by what it gave; ``read_bytes`` counts them)."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.per_read = False
        self.read_bytes = 0

    def open(self, ref: Any) -> ObjectStream:
        stream = super().open(ref)
        if not self.per_read:
            self.clock.advance(stream.size / RATE)
            return stream
        return replace(stream, body=_SlowBody(stream.body, self))


class _SlowBody:
    def __init__(self, body: Any, landing: TimedLanding) -> None:
        self.body, self.landing = body, landing

    def read(self, size: int = -1) -> bytes:
        data = self.body.read(size)
        self.landing.read_bytes += len(data)
        self.landing.clock.advance(len(data) / RATE)
        return data

    def close(self) -> None:
        self.body.close()


@dataclass
class Invocation:
    clock: FakeClock
    ledger: InMemoryLedger
    landing: TimedLanding
    archive: FakeArchive
    nifi: FakeNiFi
    parking_lot: FakeParkingLot
    spools: FakeSpools
    aggregator: Aggregator
    deadline: float = 0.0

    def record(self, key: str, size: int, age_seconds: float) -> dict[str, Any]:
        """Land a file of ``size`` bytes whose event is ``age_seconds`` old; the S3 event record announcing it."""
        content = hashlib.sha256(key.encode()).digest() * (size // 32) + b"x" * (size % 32)
        return self.landing.land(key, content, event_time=T0 - timedelta(seconds=age_seconds))

    def land(self, key: str, size: int, age_seconds: float) -> dict[str, Any]:
        """Land a file; the SQS message announcing it, whose id is the key."""
        return sqs_record(notification(self.record(key, size, age_seconds)), message_id=key)

    def remaining_ms(self) -> int:
        return int((self.deadline - self.clock()) * 1000)

    def process(self, messages: list[dict[str, Any]], seconds: float) -> Any:
        """One invocation with ``seconds`` of work time besides the bookkeeping."""
        self.deadline = self.clock() + seconds + budget.BOOKKEEPING_SECONDS
        return self.aggregator.process(messages, remaining_ms=self.remaining_ms)

    def claimed(self) -> set[str]:
        return {identity[0].split("/", 1)[1] for identity in self.ledger.items}

    def delivered_keys(self) -> list[str]:
        return sorted(e["key"] for r in self.nifi.accepted for e in read_manifest(r.body)["files"])


@pytest.fixture
def make() -> Iterator[Any]:
    built: list[Aggregator] = []

    def build(
        memory_bytes: int = 64 * MB, disk_bytes: int = 1 << 40, max_bundle_bytes: int = 1 * MB, disk_total_bytes: int = 1 << 40
    ) -> Invocation:
        clock = FakeClock(T0.timestamp())
        ledger = InMemoryLedger(clock=clock)
        landing = TimedLanding(clock)
        archive = FakeArchive()
        nifi = FakeNiFi()
        parking_lot = FakeParkingLot()
        spools = FakeSpools(memory_bytes, disk_bytes, disk_total_bytes=disk_total_bytes)
        aggregator = Aggregator(
            ledger,
            landing,
            archive,
            nifi.client(),
            "bundles",
            max_bundle_bytes,
            concurrency=4,
            clock=clock,
            parking_lot=parking_lot,
            max_object_bytes=100 * MB,
            spools=spools,
            stream_bytes_per_second=RATE,
        )
        built.append(aggregator)
        return Invocation(clock, ledger, landing, archive, nifi, parking_lot, spools, aggregator)

    yield build
    for aggregator in built:
        aggregator.pool.shutdown()
        aggregator.nifi.close()


def test_a_batch_of_big_files_claims_only_what_fits_and_returns_the_rest_unclaimed_while_small_files_ship(make):
    run = make()
    big = [run.land(f"big-{i}.bin", 2 * MB, age_seconds=100 - i) for i in range(4)]  # oldest first
    small = [run.land(f"small-{i}.json", 1000, age_seconds=10) for i in range(3)]
    # 9 s of work at 1 MB/s; a 2 MB file is admitted with 6 s left (2 s to move it, 2 x 2 s for its POST's attempts):
    # big-0 and big-1 fit (each read takes 2 s), big-2 and big-3 do not; the small ones do.
    result = run.process(big + small, seconds=9)
    assert run.delivered_keys() == ["big-0.bin", "big-1.bin", "small-0.json", "small-1.json", "small-2.json"]
    assert result.failed == {} and result.deferred == {"big-2.bin", "big-3.bin"}
    assert run.claimed() == {"big-0.bin", "big-1.bin", "small-0.json", "small-1.json", "small-2.json"}
    assert {i.key for i in run.landing.fetched} == run.claimed()  # the deferred ones were never fetched
    assert {r["messageId"] for r in run.parking_lot.deferred} == {"big-2.bin", "big-3.bin"}
    assert run.parking_lot.defer_seconds == DEFER_SECONDS and run.parking_lot.parked == []
    assert run.ledger.notes == {} and sum(result.failed_files.values()) == 0  # not a failure: no note, not counted


def test_the_deferred_files_are_delivered_by_the_next_invocation(make):
    run = make()
    messages = [run.land(f"big-{i}.bin", 2 * MB, age_seconds=100 - i) for i in range(3)]
    first = run.process(messages, seconds=3)
    assert first.failed == {} and first.deferred == {"big-1.bin", "big-2.bin"}
    second = run.process([m for m in messages if m["messageId"] in first.deferred], seconds=10)
    assert second.returned == []
    assert run.delivered_keys() == ["big-0.bin", "big-1.bin", "big-2.bin"]


def test_the_oldest_group_is_always_admitted_even_when_its_estimate_exceeds_the_time_left(make):
    run = make()
    run.landing.clock = FakeClock(T0.timestamp())  # reads faster than the estimate: the invocation's clock stands still
    messages = [run.land("old.bin", 3 * MB, age_seconds=9), run.land("new.bin", 3 * MB, age_seconds=1)]
    result = run.process(messages, seconds=1)  # 3 s estimated for each, 1 s left
    assert result.deferred == {"new.bin"} and result.failed == {} and run.delivered_keys() == ["old.bin"]


def test_a_group_without_room_in_memory_and_on_disk_is_deferred_unclaimed(make):
    run = make(memory_bytes=1 * MB, disk_bytes=3 * MB)  # a 2 MB file and its bundle need ~5 MB
    messages = [run.land("big.bin", 2 * MB, age_seconds=50), run.land("small.json", 100, age_seconds=1)]
    result = run.process(messages, seconds=60)
    assert result.failed == {} and result.deferred == {"big.bin"}
    assert run.delivered_keys() == ["small.json"] and run.claimed() == {"small.json"}


def test_memory_held_stays_within_the_budget_and_what_does_not_fit_goes_to_disk(make):
    run = make(memory_bytes=3 * MB, max_bundle_bytes=2 * MB)
    messages = [run.land(f"f-{i}.bin", 900_000, age_seconds=i) for i in range(8)]
    result = run.process(messages, seconds=600)
    assert result.returned == [] and len(run.delivered_keys()) == 8
    assert run.spools.peak_in_memory <= 3 * MB
    assert run.spools.on_disk > 0  # the bundles' spools did not fit beside their files: they went to disk
    assert run.spools.in_memory == 0  # every spool closed


def test_a_file_larger_than_the_memory_budget_is_streamed_through_disk_and_delivered_whole(make):
    run = make(memory_bytes=1 * MB)
    message = run.land("large.bin", 5 * MB, age_seconds=1)
    content = run.landing.objects[next(iter(run.landing.objects))]
    result = run.process([message], seconds=600)
    assert result.returned == [] and run.spools.peak_in_memory <= 1 * MB
    ((_, bundle),) = run.archive.bundles.items()
    (entry,) = bundle.manifest["files"]
    assert entry["sha256"] == hashlib.sha256(content).hexdigest() and entry["size"] == 5 * MB
    assert run.nifi.accepted[0].sha256 == bundle.sha256 == hashlib.sha256(bundle.data).hexdigest()


def test_a_message_with_a_failed_file_reports_the_failure_not_the_deferral(make):
    run = make()
    ok = run.land("a-ok.json", 100, age_seconds=100)
    big, gone = run.record("big.bin", 2 * MB, age_seconds=50), run.record("gone.json", 10, age_seconds=10)
    run.landing.delete(gone)
    both = sqs_record(notification(big, gone), message_id="both")
    # a-ok first (the oldest); big.bin has no time left: deferred; gone.json fits, and fails
    result = run.process([ok, both], seconds=1)
    assert result.failed == {"both": "object_missing"}
    assert run.ledger.failure_note("both").reason == "object_missing"


def test_a_message_deferred_again_and_again_leaves_a_note_halfway_to_the_dlq(make):
    run = make()
    messages = [run.land("big-0.bin", 2 * MB, age_seconds=9), run.land("big-1.bin", 2 * MB, age_seconds=1)]
    messages[1]["attributes"]["ApproximateReceiveCount"] = str(DEFER_NOTE_RECEIVES)
    result = run.process(messages, seconds=3)  # big-0 takes 2 s; big-1 would need 2 more
    assert result.failed == {} and result.deferred == {"big-1.bin"}
    assert run.ledger.failure_note("big-1.bin").reason == "deferred"


def test_a_fetch_that_runs_into_the_deadline_stops_mid_stream_releases_its_claim_and_leaves_a_note(make):
    run = make()
    run.landing.per_read = True
    message = run.land("large.bin", 3 * MB, age_seconds=1)
    result = run.process([message], seconds=1)  # the first group is admitted; its 3 s read would eat the bookkeeping
    assert result.failed == {"large.bin": "time_budget"}
    assert run.landing.read_bytes < 3 * MB  # stopped once the bookkeeping's time was reached, not at the end
    assert run.claimed() == set() and run.archive.calls == [] and run.nifi.requests == []
    assert run.ledger.failure_note("large.bin").reason == "time_budget"


def test_a_file_larger_than_its_event_said_without_room_is_deferred_and_the_groups_other_files_ship(make):
    run = make(memory_bytes=1 * MB, disk_bytes=3 * MB)
    content = b"y" * (2 * MB)
    understated = run.landing.land("big.bin", content, size=100, event_time=T0)  # the event says 100 bytes
    messages = [sqs_record(notification(understated), message_id="big.bin"), run.land("small.json", 100, age_seconds=1)]
    result = run.process(messages, seconds=600)
    assert result.failed == {} and result.deferred == {"big.bin"}
    assert run.delivered_keys() == ["small.json"] and run.claimed() == {"small.json"}  # big.bin's claim given back
    assert run.ledger.notes == {}


def test_a_file_whose_spool_runs_out_of_disk_fails_alone_and_retryably(make):
    run = make(max_bundle_bytes=4 * MB)
    run.spools.full_from = 3 * MB // 2  # the big file's spool (not the bundles'): no space left on the device
    messages = [run.land("big.bin", 2 * MB, age_seconds=2), run.land("small.json", 100, age_seconds=1)]
    result = run.process(messages, seconds=600)
    assert result.failed == {"big.bin": "spool_unavailable"}
    assert run.delivered_keys() == ["small.json"] and run.claimed() == {"small.json"}


def test_a_file_no_invocation_has_the_room_for_fails_as_too_large_instead_of_being_deferred_forever(make):
    run = make(memory_bytes=1 * MB, disk_bytes=3 * MB, disk_total_bytes=3 * MB)  # 2 MB and its bundle need ~5 MB
    messages = [run.land("big.bin", 2 * MB, age_seconds=50), run.land("small.json", 100, age_seconds=1)]
    result = run.process(messages, seconds=60)
    assert result.failed == {"big.bin": "object_too_large"}
    assert run.ledger.failure_note("big.bin").reason == "object_too_large"
    assert run.delivered_keys() == ["small.json"] and run.claimed() == {"small.json"}


def test_files_of_no_announced_size_fetched_side_by_side_take_only_the_room_there_is(make):
    run = make(memory_bytes=1 * MB, disk_bytes=8 * MB)  # room for one 2 MB file and its bundle, not for two
    unsized = [run.landing.land(f"u-{i}.bin", bytes([i]) * (2 * MB), event_time=T0) for i in range(2)]
    for record in unsized:
        del record["s3"]["object"]["size"]  # the events say no size: admission counted nothing
    messages = [sqs_record(notification(r), message_id=f"u-{i}.bin") for i, r in enumerate(unsized)]
    result = run.process(messages, seconds=600)
    assert result.failed == {} and len(result.deferred) == 1  # one of them, whichever was opened second
    assert len(run.delivered_keys()) == 1


# --- the rules on their own (courier.admission): no pipeline, a spool budget and a clock -------------


IDENTITY = ObjectIdentity("landing", "in/a.bin", "v1")


@dataclass
class _Bundle:
    """What the time checks read of a bundle."""

    size: int
    bundle_id: str = "b-1"


def _admission(memory: int = 4 * MB, total_disk: int = 0, left_ms: int | None = None, **limits: Any) -> Admission:
    """Room: ``memory`` and no free disk (of ``total_disk``); ``left_ms``: the time left, None for no deadline."""
    clock = None if left_ms is None else (lambda: left_ms)
    return Admission(FakeSpools(memory, disk_bytes=0, disk_total_bytes=total_disk), Limits(**limits), clock)


def test_a_group_whose_files_and_bundle_exceed_the_room_left_is_not_admitted():
    admission = _admission(memory=6 * MB)
    assert admission.admits([MB, MB], first=True)  # 2 MB of files and ~3 MB of bundle estimate
    assert admission.admits([500_000], first=False)
    assert not admission.admits([2 * MB, 2 * MB], first=True)


def test_a_later_group_is_admitted_only_while_its_bytes_and_the_post_fit_the_time_left():
    # 20 s of POST budget + 10 s of bookkeeping + 3 moves of 2 MB at 1 MB/s = 36 s
    admission = _admission(memory=64 * MB, left_ms=35_000, post_budget_seconds=20, stream_bytes_per_second=RATE)
    assert not admission.admits([2 * MB], first=False)
    assert admission.admits([2 * MB], first=True)  # the first group is below the ceiling: always its time
    assert _admission(memory=64 * MB, left_ms=37_000, post_budget_seconds=20, stream_bytes_per_second=RATE).admits(
        [2 * MB], first=False
    )


def test_an_events_size_above_the_ceiling_or_beyond_memory_and_disk_is_not_believed():
    admission = _admission(memory=4 * MB, max_object_bytes=2 * MB)
    assert admission.believable(MB)
    assert not admission.believable(3 * MB)  # above the ceiling
    assert not _admission(memory=4 * MB).believable(4 * MB)  # it and its bundle never fit


def test_a_file_no_invocation_could_hold_is_too_large_one_bigger_than_announced_without_room_is_deferred():
    with pytest.raises(ObjectTooLargeError, match="memory budget and disk"):
        _admission(memory=4 * MB).room_for(IDENTITY, hint=None, size=3 * MB)  # 3 MB and ~4 MB of bundle
    admission = _admission(memory=4 * MB, total_disk=1 << 40)  # a disk that could hold it, but full now
    admission.room_for(IDENTITY, hint=MB, size=MB)  # as announced: already counted
    with pytest.raises(NoRoomError, match="more than its event said"):
        admission.room_for(IDENTITY, hint=0, size=1_600_000)  # 1.6 MB + ~2.6 MB of bundle > 4 MB


def test_the_extra_bytes_of_one_groups_fetches_count_against_each_other_until_the_next_group():
    admission = _admission(memory=6 * MB)
    admission.room_for(IDENTITY, hint=0, size=MB)  # ~3 MB of the 6 taken beyond the plan
    with pytest.raises(NoRoomError):
        admission.room_for(IDENTITY, hint=0, size=MB)
    admission.new_group()
    admission.room_for(IDENTITY, hint=0, size=MB)


def test_two_invocations_admissions_count_their_unplanned_bytes_apart():
    spools, limits = FakeSpools(6 * MB, disk_bytes=0, disk_total_bytes=0), Limits()
    first, second = Admission(spools, limits, None), Admission(spools, limits, None)
    first.room_for(IDENTITY, hint=0, size=MB)
    second.room_for(IDENTITY, hint=0, size=MB)  # the first invocation's plan is not this one's


def test_a_bundle_is_given_back_before_its_post_when_the_post_and_the_bookkeeping_do_not_fit():
    limits = {"post_budget_seconds": 20, "stream_bytes_per_second": RATE}
    with pytest.raises(TimeBudgetError, match="given back"):
        _admission(left_ms=33_000, **limits).check_time(_Bundle(2 * MB))  # 20 + 10 + 2 x 2 s = 34 s
    _admission(left_ms=35_000, **limits).check_time(_Bundle(2 * MB))
    _admission(left_ms=None, **limits).check_time(_Bundle(2 * MB))  # no deadline: never given back


def test_streaming_stops_once_not_even_an_empty_post_and_the_bookkeeping_fit():
    with pytest.raises(TimeBudgetError, match="streaming stopped"):
        _admission(left_ms=29_000, post_budget_seconds=20).check_streaming()
    _admission(left_ms=31_000, post_budget_seconds=20).check_streaming()


def test_a_spool_that_cannot_be_made_or_written_is_a_retryable_spool_error_naming_its_file():
    with pytest.raises(SpoolUnavailableError, match="in/a.bin: its spool failed"), spooling("in/a.bin"):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
