"""Every decision of the aggregator, on fakes of its ports (``tests/fakes.py``): no moto, no sockets.

NiFi is a real ``NiFiClient`` over ``httpx.MockTransport``; the ledger is the real
policy over an in-memory store. ``tests/integration/test_handler.py`` runs the same
pipeline against moto and an HTTPS receiver.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courier import budget
from courier.aggregator import CLAIM_BATCH, Aggregator
from courier.bundle import index_key, read_manifest
from courier.config import Settings
from courier.errors import LedgerUnavailableError, ObjectMissingError, StorageUnavailableError
from courier.events import ObjectIdentity, decode_key
from courier.ledger.base import ASSIGNED, COMPLETE, IN_PROGRESS, LedgerRecord
from fakes import (
    LANDING_BUCKET,
    FakeArchive,
    FakeBreaker,
    FakeClock,
    FakeLanding,
    FakeNiFi,
    FakeParkingLot,
    FakeSpools,
    InMemoryLedger,
    SentRequest,
)
from support import TEST_EVENT, notification, s3_record, sqs_record

MAX_BUNDLE_BYTES = 64 * 1024
MAX_OBJECT_BYTES = 4 * MAX_BUNDLE_BYTES  # the ceiling: what one invocation can deliver
RECOVERY_SECONDS = 60


@dataclass
class Pipeline:
    clock: FakeClock
    ledger: InMemoryLedger
    landing: FakeLanding
    archive: FakeArchive
    nifi: FakeNiFi
    breaker: FakeBreaker
    parking_lot: FakeParkingLot
    aggregator: Aggregator

    def land(self, key: str, content: bytes = b"{}", message_id: str | None = None, size: int | None = None) -> dict[str, Any]:
        """Land one file and return the SQS message announcing it."""
        return sqs_record(notification(self.landing.land(key, content, size=size)), message_id=message_id or f"m-{key}")

    def lease_of(self, message: dict[str, Any]) -> int | None:
        record = self.ledger.record_of(identity(message))
        return record.lease_until if record else None

    def free(self, message: dict[str, Any]) -> bool:
        """Nothing pins the file: no record left, or one in an abandoned group (claimable at once, lease 0)."""
        record = self.ledger.record_of(identity(message))
        return record is None or (record.status == IN_PROGRESS and record.lease_until <= self.clock())

    def status_of(self, message: dict[str, Any]) -> str | None:
        """The ledger status of the (single) file a message announces; None when no record is left."""
        record = self.ledger.record_of(identity(message))
        return record.status if record else None


def identity(message: dict[str, Any]) -> ObjectIdentity:
    (record,) = json.loads(message["body"])["Records"]
    s3 = record["s3"]
    return ObjectIdentity(s3["bucket"]["name"], decode_key(s3["object"]["key"]), f"v:{s3['object']['versionId']}")


def keys_in(request: SentRequest) -> set[str]:
    return {entry["key"] for entry in read_manifest(request.body)["files"]}


@pytest.fixture
def make() -> Iterator[Any]:
    built: list[Pipeline] = []

    def build(max_bundle_bytes: int = MAX_BUNDLE_BYTES, failure_threshold: int = 3, **extra: Any) -> Pipeline:
        clock = FakeClock()
        nifi = FakeNiFi()
        parts = {
            "ledger": InMemoryLedger(ttl_seconds=7 * 86400, lease_seconds=900, clock=clock),
            "landing": extra.pop("landing", None) or FakeLanding(),
            "archive": FakeArchive(),
            "breaker": FakeBreaker(failure_threshold=failure_threshold, recovery_seconds=RECOVERY_SECONDS, clock=clock),
            "parking_lot": FakeParkingLot(),
        }
        aggregator = Aggregator(
            nifi=nifi.client(),
            archive_prefix="bundles",
            max_bundle_bytes=max_bundle_bytes,
            concurrency=4,
            clock=clock,
            max_object_bytes=extra.pop("max_object_bytes", MAX_OBJECT_BYTES),
            **parts,
            **extra,
        )
        pipeline = Pipeline(clock=clock, nifi=nifi, aggregator=aggregator, **parts)
        built.append(pipeline)
        return pipeline

    yield build
    for pipeline in built:
        pipeline.aggregator.pool.shutdown()
        pipeline.aggregator.nifi.close()


# --- delivery and duplicates -------------------------------------------------------


def test_a_landed_file_is_archived_delivered_completed_and_acknowledged(make):
    p = make()
    message = p.land("in/a.json", b'{"a": 1}')
    result = p.aggregator.process([message])
    assert result.response() == {"batchItemFailures": []}
    ((key, bundle),) = result.bundles
    (sent,) = p.nifi.requests
    assert sent.status == 200 and sent.body == p.archive.bundles[key].data
    assert sent.sha256 == hashlib.sha256(sent.body).hexdigest() == bundle.sha256
    assert "Content-Encoding" not in sent.headers
    assert keys_in(sent) == {"in/a.json"}
    assert p.archive.delivered == {key} and set(p.archive.index) == {index_key(bundle)}
    (record,) = p.ledger.lookup(LANDING_BUCKET, "in/a.json")
    assert (record.status, record.bundle_key, record.bundle_sha256) == (COMPLETE, key, bundle.sha256)


def test_the_same_event_again_is_acknowledged_and_not_posted_again(make):
    p = make()
    message = p.land("once.json")
    p.aggregator.process([message])
    again = p.aggregator.process([message])
    assert again.returned == [] and again.skipped == [identity(message)]
    assert len(p.nifi.requests) == 1


def test_a_file_the_ledger_says_is_complete_is_skipped_without_a_fetch(make):
    p = make()
    message = p.land("done.json")
    p.ledger.claim(identity(message), "earlier-invocation")
    p.ledger.complete([identity(message)], "bundles/earlier.tar.gz", "ab" * 32)
    result = p.aggregator.process([message])
    assert result.response() == {"batchItemFailures": []}
    assert result.skipped == [identity(message)] and result.delivered == []
    assert p.landing.fetched == [] and p.archive.calls == [] and p.nifi.requests == []


def test_the_same_file_in_two_messages_is_bundled_once_and_both_are_acknowledged(make):
    p = make()
    message = p.land("twice.json", message_id="m1")
    result = p.aggregator.process([message, {**message, "messageId": "m2"}])
    assert result.returned == []
    (sent,) = p.nifi.requests
    assert read_manifest(sent.body)["file_count"] == 1


# --- claims -----------------------------------------------------------------------


def test_a_file_claimed_by_a_live_invocation_fails_its_message_with_claim_busy(make):
    p = make()
    message = p.land("busy.json", message_id="m")
    p.ledger.claim(identity(message), "another-invocation")
    result = p.aggregator.process([message])
    assert result.failed == {"m": "claim_busy"}
    assert p.landing.fetched == [] and p.nifi.requests == []
    assert p.ledger.record_of(identity(message)).claim_token == "another-invocation"  # not ours to release
    assert "note" not in p.ledger.calls  # busy is transient and frequent: no note for `courier dlq list`


def test_a_ledger_that_cannot_claim_fails_the_message_without_a_fetch(make):
    p = make()
    p.ledger.fail("claim")
    result = p.aggregator.process([p.land("x.json", message_id="m")])
    assert result.failed == {"m": "ledger_unavailable"}
    assert p.landing.fetched == [] and p.nifi.requests == []


# --- size -------------------------------------------------------------------------


def test_an_events_size_above_the_ceiling_is_not_believed_the_get_decides(make):
    p = make()
    message = p.land("small.json", b"x", message_id="m", size=MAX_OBJECT_BYTES + 1)  # anyone may write a notification
    assert p.aggregator.process([message]).returned == []
    assert [keys_in(r) for r in p.nifi.accepted] == [{"small.json"}]


def test_a_forged_size_for_an_honest_revision_never_fails_the_honest_message(make):
    """Two messages naming one revision are judged each on its own: the forged size is a planning hint at most."""
    p = make()
    honest = p.land("honest.json", b"{}", message_id="honest")
    forged = json.loads(honest["body"])
    forged["Records"][0]["s3"]["object"]["size"] = 53687091200
    result = p.aggregator.process([sqs_record(json.dumps(forged), message_id="forged"), honest])  # the forged one first
    assert result.returned == []
    assert p.nifi.bundles_of_files() == {(LANDING_BUCKET, "honest.json"): {p.nifi.accepted[0].sha256}}


def test_a_forged_old_event_time_for_an_honest_revision_fails_only_the_forged_message(make):
    """Two messages naming one revision are judged each on its own: a forged eventTime older than the ledger's
    window is refused (beyond_ledger) for the message that says it, never for the honest one beside it."""
    p = make()
    honest = p.land("honest.json", b"{}", message_id="honest")
    forged = json.loads(honest["body"])
    forged["Records"][0]["eventTime"] = "2020-01-01T00:00:00.000Z"
    result = p.aggregator.process([sqs_record(json.dumps(forged), message_id="forged"), honest])  # the forged one first
    assert result.failed == {"forged": "beyond_ledger"}
    assert p.nifi.bundles_of_files() == {(LANDING_BUCKET, "honest.json"): {p.nifi.accepted[0].sha256}}


def test_a_forged_etag_for_an_honest_unversioned_revision_never_fails_the_honest_message(make):
    """On an unversioned bucket the GET names the revision by If-Match on the event's eTag: a forged message with the
    honest sequencer and another eTag fails alone (superseded); the honest one waits its turn and is delivered."""
    p = make()
    p.landing.objects[(LANDING_BUCKET, "plain.csv", "")] = b"honest content"
    etag = hashlib.md5(b"honest content").hexdigest()  # noqa: S324 - S3's ETag of a single-part upload
    honest = sqs_record(notification(s3_record(LANDING_BUCKET, "plain.csv", etag=etag, size=14)), message_id="honest")
    forged = json.loads(honest["body"])
    forged["Records"][0]["s3"]["object"]["eTag"] = "0" * 32
    first = p.aggregator.process([sqs_record(json.dumps(forged), message_id="forged"), honest])  # the forged one first
    assert first.failed.get("forged") == "object_superseded"
    assert "honest" not in first.failed  # never charged to the honest file (deferred at most)
    if "honest" in first.deferred:
        assert p.aggregator.process([honest]).returned == []
    assert [keys_in(r) for r in p.nifi.accepted] == [{"plain.csv"}]


def test_a_file_s3_says_is_above_the_ceiling_fails_as_too_large_whatever_its_event_said(make):
    p = make()
    p.landing.max_object_bytes = MAX_OBJECT_BYTES  # what S3Landing checks against the GET's ContentLength
    message = p.land("huge.bin", b"x" * (MAX_OBJECT_BYTES + 1), message_id="m", size=10)
    assert p.aggregator.process([message]).failed == {"m": "object_too_large"}
    assert p.nifi.requests == [] and p.ledger.failure_note("m").reason == "object_too_large"


def test_a_file_above_the_bundle_limit_is_delivered_alone_in_its_own_bundle(make):
    p = make()
    big = bytes(range(256)) * (MAX_BUNDLE_BYTES // 256 + 10)  # above the bundle limit, below the ceiling
    messages = [p.land("small-a.json", b"a"), p.land("big.bin", big), p.land("small-b.json", b"b")]
    result = p.aggregator.process(messages)
    assert result.returned == []
    assert sorted(sorted(keys_in(r)) for r in p.nifi.requests) == [["big.bin"], ["small-a.json", "small-b.json"]]
    (alone,) = [r for r in p.nifi.requests if keys_in(r) == {"big.bin"}]
    assert read_manifest(alone.body)["files"][0]["sha256"] == hashlib.sha256(big).hexdigest()
    assert all(p.status_of(m) == COMPLETE for m in messages)


def test_a_batch_above_max_bundle_bytes_is_split_into_several_bundles(make):
    p = make(max_bundle_bytes=2048)
    messages = [p.land(f"big-{i}.json", bytes([65 + i]) * 900) for i in range(5)]
    result = p.aggregator.process(messages)
    assert result.returned == []
    assert len(p.nifi.requests) == len(p.archive.bundles) == len(p.archive.delivered) == 3
    manifests = [read_manifest(r.body) for r in p.nifi.requests]
    assert all(m["total_bytes"] <= 2048 for m in manifests)
    assert sorted(e["key"] for m in manifests for e in m["files"]) == [f"big-{i}.json" for i in range(5)]
    assert all(p.status_of(m) == COMPLETE for m in messages)


def test_a_group_re_planned_after_its_fetch_ships_each_extra_bundle_under_a_ledger_group_of_its_own(make):
    p = make(max_bundle_bytes=2048)
    # The events say 1 byte: planned as one group, claimed into one ledger group; S3 says 900, so 3 bundles.
    messages = [p.land(f"under-{i}.json", bytes([65 + i]) * 900, size=1) for i in range(5)]
    assert p.aggregator.process(messages).returned == []
    assert len(p.nifi.requests) == 3 and p.ledger.calls.count("regroup") == 3  # the 2nd and 3rd bundles' files
    records = [p.ledger.record_of(identity(m)) for m in messages]
    by_group: dict[str, set[str]] = {}
    for record in records:
        by_group.setdefault(str(record.group), set()).add(record.identity.key)
    # Each group names exactly the files of one bundle (NiFi's), and each is complete with that bundle.
    assert sorted(map(sorted, by_group.values())) == sorted(sorted(keys_in(r)) for r in p.nifi.requests)
    assert {(r.status, p.ledger.groups[str(r.group)].files) for r in records} <= {(COMPLETE, 2), (COMPLETE, 1)}


def test_a_group_whose_failed_file_was_not_given_back_is_never_assigned_and_goes_out_on_the_retry(make):
    p = make()
    messages = [p.land(f"loose/{i}.json", message_id=f"loose-{i}") for i in range(3)]
    p.landing.fail("loose/1.json", StorageUnavailableError("S3 throttled"))
    p.ledger.fail("release")  # its claim stays, pointing at the group: the group would not name exactly its files
    result = p.aggregator.process(messages)
    assert set(result.failed) == {"loose-0", "loose-1", "loose-2"} and p.nifi.requests == []
    assert p.ledger.groups == {}  # never assigned
    p.ledger.failing.clear()
    p.landing.errors.clear()
    p.clock.advance(p.ledger.lease_seconds + 1)  # the claims left behind lapse: the groups are abandoned, files taken
    assert p.aggregator.process(messages).returned == []
    assert all(len(s) == 1 for s in p.nifi.bundles_of_files().values()) and len(p.nifi.bundles_of_files()) == 3


def test_a_previous_versions_assigned_items_are_resent_in_their_bundle_and_completed_file_by_file(make):
    p = make()
    messages = [p.land(f"legacy/{i}.json", message_id=f"legacy-{i}") for i in range(2)]
    p.nifi.mode = "timeout"  # assigned, answer lost
    p.aggregator.process(messages)
    (sha,) = {r.sha256 for r in p.nifi.requests}
    # Rewrite the ledger as the previous version left it: the bundle on each file's own record, no group.
    for key, record in list(p.ledger.items.items()):
        old = p.ledger.record_of(record.identity)
        p.ledger.items[key] = replace(old, lease_until=0, group=None)
    p.ledger.groups.clear()
    p.nifi.mode = "ok"
    assert p.aggregator.process(messages).returned == []
    assert {r.sha256 for r in p.nifi.requests} == {sha}  # resent byte for byte, never rebuilt
    assert all(p.ledger.items[(identity(m).object_name, identity(m).revision)].status == COMPLETE for m in messages)
    assert p.ledger.groups == {}


# --- NiFi's answers -----------------------------------------------------------------


def test_a_422_is_sent_once_more_with_identical_bytes_then_delivered(make):
    p = make()
    message = p.land("x.json", message_id="m")
    p.nifi.script(422)
    result = p.aggregator.process([message])
    assert result.returned == []
    first, second = p.nifi.requests
    assert (first.status, second.status) == (422, 200)
    assert first.body == second.body and first.sha256 == second.sha256
    assert p.status_of(message) == COMPLETE


def test_a_second_422_fails_the_bundle_as_nifi_hash_rejected_and_releases_its_claims(make):
    p = make()
    message = p.land("x.json", message_id="m")
    p.nifi.script(422, 422)
    result = p.aggregator.process([message])
    assert result.failed == {"m": "nifi_hash_rejected"}
    assert [r.status for r in p.nifi.requests] == [422, 422]
    # Sent (twice) in this bundle: the file stays assigned to it, unlocked, so the retry resends it at once.
    assert p.status_of(message) == ASSIGNED and p.lease_of(message) == 0
    assert len(p.archive.bundles) == 1 and p.archive.delivered == set()  # archived, never tagged delivered
    assert p.breaker.state == "CLOSED"  # a data problem, not an outage
    assert p.ledger.failure_note("m").reason == "nifi_hash_rejected"


@pytest.mark.parametrize(
    ("mode", "reason"),
    [(503, "nifi_unavailable"), ("timeout", "nifi_unavailable"), ("reset", "nifi_unavailable"), (400, "nifi_rejected")],
)
def test_a_failed_post_fails_the_messages_and_marks_nothing_complete(make, mode, reason):
    p = make()
    messages = [p.land(f"f{i}.json", message_id=f"m{i}") for i in range(3)]
    p.nifi.mode = mode
    result = p.aggregator.process(messages)
    assert result.failed == {f"m{i}": reason for i in range(3)}
    if mode == 400:
        # NiFi answered a definitive refusal to the first POST: it keeps no copy, so nothing pins the files.
        assert all(p.free(m) for m in messages)
    else:
        # The answer may have been lost after NiFi stored it: the files stay assigned to that bundle (never a
        # different one), unlocked for the retry.
        assert all(p.status_of(m) == ASSIGNED and p.lease_of(m) == 0 for m in messages)
    p.nifi.mode = "ok"
    assert p.aggregator.process(messages).returned == []  # the retry claims and delivers


# --- circuit breaker and parking -----------------------------------------------------


def test_an_open_circuit_fails_the_batch_fast_touching_nothing_and_parks_it(make):
    p = make()
    records = [p.land("a.json", message_id="m1"), p.land("b.json", message_id="m2"), sqs_record("{not json", message_id="m3")]
    p.breaker.open()
    result = p.aggregator.process(records)
    assert result.failed == {"m1": "breaker_open", "m2": "breaker_open", "m3": "breaker_open"}
    assert p.ledger.calls == [] and p.landing.fetched == [] and p.archive.calls == [] and p.nifi.requests == []
    assert p.parking_lot.parked == records


def test_a_failure_that_opens_the_circuit_parks_the_outage_failed_messages(make):
    p = make(failure_threshold=1)
    p.nifi.mode = 503
    result = p.aggregator.process([p.land("a.json", message_id="down"), sqs_record("{not json", message_id="malformed")])
    assert result.failed == {"down": "nifi_unavailable", "malformed": "malformed_event"}
    assert p.breaker.state == "OPEN"
    assert p.parking_lot.parked_ids == {"down"}  # the malformed message goes its own way, to the DLQ


def test_an_outage_below_the_failure_threshold_parks_nothing(make):
    p = make(failure_threshold=3)
    p.nifi.mode = 503
    result = p.aggregator.process([p.land("a.json", message_id="m")])
    assert result.failed == {"m": "nifi_unavailable"}
    assert p.breaker.state == "CLOSED" and p.parking_lot.parked == []


def test_after_the_recovery_timeout_one_batch_probes_and_closes_the_circuit(make):
    p = make()
    p.breaker.open()
    p.clock.advance(RECOVERY_SECONDS)
    result = p.aggregator.process([p.land("a.json", message_id="probe")])
    assert result.returned == [] and len(p.nifi.accepted) == 1
    assert p.breaker.transitions[-2:] == ["OPEN->HALF_OPEN", "HALF_OPEN->CLOSED"]


# --- partial failures ----------------------------------------------------------------


def test_one_failed_bundle_among_several_fails_only_its_messages(make):
    p = make(max_bundle_bytes=2048)  # two 900-byte files per bundle, in key order: f0+f1, f2+f3, f4+f5
    messages = [p.land(f"f{i}.json", bytes([65 + i]) * 900, message_id=f"m{i}") for i in range(6)]
    p.nifi.script(200, 503)  # the second bundle meets an outage; the third is delivered
    result = p.aggregator.process(messages)
    assert [r.status for r in p.nifi.requests] == [200, 503, 200]
    assert keys_in(p.nifi.requests[1]) == {"f2.json", "f3.json"}
    assert result.failed == {"m2": "nifi_unavailable", "m3": "nifi_unavailable"}
    # the failed bundle's files stay assigned to it, unlocked for an immediate resend
    assert [p.status_of(m) for m in messages] == [COMPLETE, COMPLETE, ASSIGNED, ASSIGNED, COMPLETE, COMPLETE]
    assert p.lease_of(messages[2]) == p.lease_of(messages[3]) == 0
    assert len(p.archive.bundles) == 3 and len(p.archive.delivered) == 2
    assert sorted(i.key for i in result.delivered) == ["f0.json", "f1.json", "f4.json", "f5.json"]


def test_a_malformed_message_fails_alone(make):
    p = make()
    good = p.land("good.json", message_id="good")
    result = p.aggregator.process([good, sqs_record("{not json", message_id="bad"), sqs_record(TEST_EVENT, message_id="test")])
    assert result.failed == {"bad": "malformed_event"}
    assert p.status_of(good) == COMPLETE and len(p.nifi.accepted) == 1
    assert p.ledger.failure_note("bad").reason == "malformed_event"


@pytest.mark.parametrize(
    ("break_b", "reason"),
    [
        (lambda landing, record: landing.delete(record), "object_missing"),
        (lambda landing, _: landing.fail("b.json", StorageUnavailableError("S3 throttled")), "storage_unavailable"),
        (lambda landing, _: landing.fail("b.json", ObjectMissingError("gone")), "object_missing"),
    ],
)
def test_a_message_naming_two_files_fails_if_either_fails(make, break_b, reason):
    p = make()
    a, b = p.landing.land("a.json", b"A"), p.landing.land("b.json", b"B")
    break_b(p.landing, b)
    both = sqs_record(notification(a, b), message_id="both")
    only_a = sqs_record(notification(a), message_id="only-a")
    result = p.aggregator.process([both, only_a])
    assert result.failed == {"both": reason}
    assert {i.key for i in result.delivered} == {"a.json"}  # a's own message is acknowledged
    assert p.ledger.lookup(LANDING_BUCKET, "b.json") == []  # b's claim was given back
    assert p.ledger.failure_note("both").objects == (f"s3://{LANDING_BUCKET}/b.json",)


def test_an_archive_that_cannot_store_the_bundle_fails_it_before_any_post(make):
    p = make()
    message = p.land("x.json", message_id="m")
    p.archive.fail("put")
    result = p.aggregator.process([message])
    assert result.failed == {"m": "storage_unavailable"}
    assert p.nifi.requests == [] and p.status_of(message) is None


# --- after the 2xx ---------------------------------------------------------------------


def test_a_ledger_that_fails_to_complete_after_a_2xx_still_acknowledges(make):
    p = make()
    message = p.land("x.json", message_id="m")
    p.ledger.fail("complete")
    result = p.aggregator.process([message])
    assert result.returned == [] and len(p.nifi.accepted) == 1
    assert p.archive.delivered == set(p.archive.bundles)
    # the assignment keeps it: a duplicate event resends this same bundle, never a different one
    assert p.status_of(message) == ASSIGNED


def test_a_bundle_delivered_but_not_tagged_is_still_acknowledged_and_complete(make):
    p = make()
    message = p.land("x.json", message_id="m")
    p.archive.fail("mark_delivered")
    assert p.aggregator.process([message]).returned == []
    assert p.status_of(message) == COMPLETE and p.archive.delivered == set()


def test_a_batch_is_fetched_and_shipped_one_bundle_at_a_time_so_memory_follows_the_bundle_not_the_batch(make):
    p = make(max_bundle_bytes=1000)
    messages = [p.land(f"wave/{i}.json", b"x" * 400, message_id=f"m{i}") for i in range(6)]  # 2 files a bundle
    order: list[str] = []
    p.landing.journal = p.nifi.journal = order
    assert p.aggregator.process(messages).returned == []
    assert order == ["fetch", "fetch", "post"] * 3  # never more than one bundle's files fetched ahead of its POST


def incompressible(size: int, seed: bytes = b"seed") -> bytes:
    return hashlib.shake_256(seed).digest(size)


# --- claims in batches, time, spools, resends (review of the streaming code) ------------------


def test_a_failed_claim_batch_gives_back_the_other_batches_claims_and_unlocks_the_assigned_files_it_relocked(make):
    p = make()
    messages = [p.land(f"in/f-{i:02}.json", message_id=f"m{i}") for i in range(CLAIM_BATCH + 5)]  # two claim batches
    # f-03 sits in an archived bundle whose sender died: this invocation re-locks it (first batch).
    assigned = identity(messages[3])
    dead = LedgerRecord(assigned, ASSIGNED, 2**40, claim_token="dead", bundle_key="bundles/x.tar.gz", bundle_sha256="ab" * 32)
    p.ledger.items[(assigned.object_name, assigned.revision)] = dead

    def claim(identity: ObjectIdentity) -> None:
        if identity.key == "in/f-29.json":  # the last of the second batch: four of its claims are written first
            raise LedgerUnavailableError("claim failed (injected)")

    p.ledger.hooks["claim"] = claim
    result = p.aggregator.process(messages)
    assert set(result.failed.values()) == {"ledger_unavailable"} and p.landing.fetched == []
    assert [r for r in p.ledger.items.values() if r.status == IN_PROGRESS] == []  # every claim given back
    relocked = p.ledger.record_of(assigned)
    assert relocked.status == ASSIGNED and relocked.lease_until == 0  # still assigned, unlocked for the retry


def test_claims_a_slower_batch_writes_after_another_batch_failed_are_given_back_too(make):
    p = make()
    messages = [p.land(f"in/f-{i:02}.json", message_id=f"m{i}") for i in range(CLAIM_BATCH + 5)]
    second_started, released = threading.Event(), threading.Event()

    def claim(identity: ObjectIdentity) -> None:
        if identity.key == "in/f-00.json":  # the first batch fails once the second one is under way
            second_started.wait(timeout=1)
            raise LedgerUnavailableError("claim failed (injected)")
        if identity.key == "in/f-25.json":  # the second batch writes once the release reached its files (or 1 s passed)
            second_started.set()
            released.wait(timeout=1)

    def release(identity: ObjectIdentity) -> None:
        if identity.key == "in/f-29.json":
            released.set()

    p.ledger.hooks["claim"] = claim
    p.ledger.hooks["release"] = release
    result = p.aggregator.process(messages)
    p.aggregator.pool.shutdown(wait=True)  # whatever a batch was still writing has landed
    assert set(result.failed.values()) == {"ledger_unavailable"}
    assert [r for r in p.ledger.items.values() if r.status == IN_PROGRESS] == []


def test_a_bundle_whose_body_cannot_be_posted_twice_in_the_time_left_is_given_back_before_the_archive(make):
    p = make(max_object_bytes=None, stream_bytes_per_second=100_000)
    message = p.land("slow.bin", incompressible(200_000), message_id="m")
    # 13 s left: enough for the bookkeeping (10 s), not for two attempts at 200 kB over 100 kB/s (4 s).
    result = p.aggregator.process([message], remaining_ms=lambda: 13_000)
    assert result.failed == {"m": "time_budget"}
    assert p.archive.calls == [] and p.nifi.requests == [] and p.status_of(message) is None


def test_the_post_check_counts_the_body_transfer_for_every_attempt():
    assert budget.post_needed_seconds(20.0, 4_000_000, 1_000_000) == 20 + budget.BOOKKEEPING_SECONDS + 2 * 4
    assert budget.post_needed_seconds(20.0, 4_000_000, None) == 20 + budget.BOOKKEEPING_SECONDS


def test_a_bundle_spool_that_cannot_be_made_fails_its_bundle_retryably_and_releases_the_claims(make):
    spools = FakeSpools(memory_bytes=1 << 30)
    spools.refuse_from = 1 << 20  # the files' spools are made; the bundle's (its estimate is above 1 MiB) is not
    p = make(spools=spools)
    messages = [p.land("a.json", message_id="m1"), p.land("b.json", message_id="m2")]
    result = p.aggregator.process(messages)
    assert result.failed == {"m1": "spool_unavailable", "m2": "spool_unavailable"}
    assert all(p.status_of(m) is None for m in messages) and p.archive.calls == []
    assert spools.in_memory == 0  # the files' spools were closed


def test_an_assigned_bundle_is_resent_before_the_groups_new_files_are_fetched(make):
    p = make()
    old = p.land("old.json", message_id="old")
    p.nifi.mode = 503
    assert p.aggregator.process([old]).failed == {"old": "nifi_unavailable"}
    p.nifi.mode = "ok"
    new = p.land("new.json", message_id="new")
    order: list[str] = []
    p.landing.journal = p.nifi.journal = order
    assert p.aggregator.process([old, new]).returned == []
    assert order == ["post", "fetch", "post"]  # the archived bundle went out (and its spool closed) first


def test_an_archived_bundle_larger_than_the_room_left_is_deferred_still_assigned(make):
    p = make(max_bundle_bytes=4 << 20, max_object_bytes=None)
    small, large = p.land("small.json", message_id="small"), p.land("large.bin", incompressible(3 << 20), message_id="l")
    p.nifi.mode = 503
    p.aggregator.process([small, large])  # one bundle of both, archived, assigned, not delivered
    p.nifi.mode = "ok"
    posts = len(p.nifi.requests)
    p.aggregator.spools = FakeSpools(memory_bytes=0, disk_bytes=2 << 20)  # room for small.json's group, not the bundle
    result = p.aggregator.process([small])
    assert result.failed == {} and result.deferred == {"small"} and len(p.nifi.requests) == posts
    assert p.status_of(small) == ASSIGNED and p.lease_of(small) == 0  # unlocked: the next try resends at once
    assert p.ledger.failure_note("small").reason == "nifi_unavailable"  # the first attempt's note: a deferral adds none


def test_a_short_read_of_an_archived_bundle_is_a_storage_error_not_a_corrupt_archive(make):
    p = make()
    message = p.land("x.json", message_id="m")
    p.nifi.mode = 503
    p.aggregator.process([message])
    p.nifi.mode = "ok"
    p.archive.short_by = 10
    result = p.aggregator.process([message])
    assert result.failed == {"m": "storage_unavailable"}
    assert p.status_of(message) == ASSIGNED and p.lease_of(message) == 0  # resent as soon as S3 sends it whole


def test_groups_after_the_circuit_opened_mid_batch_are_deferred_unclaimed_not_failed(make):
    p = make(max_bundle_bytes=1000, failure_threshold=1)
    messages = [p.land(f"{name}.json", b"x" * 600, message_id=name) for name in ("a", "b")]  # a bundle each
    p.nifi.mode = 503
    result = p.aggregator.process(messages)
    assert p.breaker.state == "OPEN"
    assert result.failed == {"a": "nifi_unavailable"} and result.deferred == {"b"}
    assert [i.key for i in p.landing.fetched] == ["a.json"] and p.status_of(messages[1]) is None


def test_no_index_line_is_written_for_a_bundle_the_archive_did_not_store(make):
    p = make()
    p.archive.fail("put")
    result = p.aggregator.process([p.land("a.json", message_id="m")])
    assert result.failed == {"m": "storage_unavailable"}
    assert p.archive.index == {}  # `courier replay --file` never finds a line that points at nothing


def test_an_index_line_that_cannot_be_written_fails_the_bundle_before_its_post_and_unassigns_nothing_sent(make):
    p = make()
    p.archive.fail("put_index")
    message = p.land("a.json", message_id="m")
    result = p.aggregator.process([message])
    assert result.failed == {"m": "storage_unavailable"} and p.nifi.requests == []
    p.archive.failing.clear()
    assert p.aggregator.process([message]).returned == []  # the retry sends the same bundle, its index line written
    assert len(p.archive.index) == 1


def test_a_resend_whose_body_cannot_be_posted_twice_in_the_time_left_is_given_back_still_assigned(make):
    p = make(max_object_bytes=None, stream_bytes_per_second=100_000)
    message = p.land("slow.bin", incompressible(200_000), message_id="m")
    p.nifi.mode = 503
    p.aggregator.process([message])  # archived and assigned, not delivered
    p.nifi.mode = "ok"
    posts = len(p.nifi.requests)
    result = p.aggregator.process([message], remaining_ms=lambda: 13_000)  # 10 s of bookkeeping + 4 s of transfer: no
    assert result.failed == {"m": "time_budget"} and len(p.nifi.requests) == posts
    assert p.status_of(message) == ASSIGNED and p.lease_of(message) == 0


# --- a bundle NiFi refuses is split before anyone is blamed -----------------------------


def refusing(*keys: str, status: int = 400) -> Any:
    """A NiFi flow that refuses any bundle holding one of ``keys``."""
    return lambda body: status if {e["key"] for e in read_manifest(body)["files"]} & set(keys) else None


def test_a_refused_bundle_is_split_until_only_the_refused_file_fails_alone(make):
    p = make()
    messages = [p.land(f"f{i}.json", message_id=f"m{i}") for i in range(7)] + [p.land("poison.bin", message_id="poison")]
    p.nifi.judge = refusing("poison.bin")
    result = p.aggregator.process(messages)
    assert result.failed == {"poison": "nifi_rejected"} and result.systemic is None
    assert "HTTP 400" in p.ledger.failure_note("poison").detail
    # Effectively once: each other file in exactly one bundle NiFi kept, none of them with the refused file.
    kept = p.nifi.bundles_of_files()
    assert {key for _, key in kept} == {f"f{i}.json" for i in range(7)} and all(len(s) == 1 for s in kept.values())
    assert all(p.status_of(m) == COMPLETE for m in messages[:7]) and p.free(messages[7])
    assert p.aggregator.process([messages[7]]).failed == {"poison": "nifi_rejected"}  # alone again: fails alone


def test_a_file_refused_alone_in_its_batch_is_never_a_nifi_outage(make):
    p = make(failure_threshold=3)
    p.nifi.mode = 413
    for i in range(5):
        assert p.aggregator.process([p.land(f"big{i}.bin", message_id=f"b{i}")]).failed == {f"b{i}": "nifi_rejected"}
    assert p.breaker.state == "CLOSED" and p.parking_lot.parked == []
    assert "HTTP 413" in p.ledger.failure_note("b0").detail


def test_files_above_nifis_body_limit_landed_together_are_never_a_nifi_outage(make):
    """A 413 is NiFi's body limit against a size, and sizes are the uploader's: two big files landed together (their
    bundle and each file alone refused, three distinct bundles) fail alone and never count toward an outage."""
    p = make(failure_threshold=1)
    p.nifi.judge = lambda body: 413 if len(body) > 4096 else None
    honest = p.land("honest.json", b"{}", message_id="honest")
    assert p.aggregator.process([honest]).returned == []
    big = [p.land(f"big{i}.bin", incompressible(8192, bytes([i])), message_id=f"big{i}") for i in range(2)]
    result = p.aggregator.process(big)
    assert result.failed == {"big0": "nifi_rejected", "big1": "nifi_rejected"} and result.systemic is None
    assert p.breaker.state == "CLOSED" and p.parking_lot.parked == []


def test_nifi_refusing_every_bundle_of_a_batch_is_an_outage(make):
    p = make(failure_threshold=2)
    p.nifi.mode = 400
    for b in range(2):
        result = p.aggregator.process([p.land(f"b{b}/{i}.json", message_id=f"b{b}-{i}") for i in range(2)])
        assert set(result.failed.values()) == {"nifi_rejected"} and result.systemic == "nifi"
    assert p.breaker.state == "OPEN"


def test_a_413_shrinks_the_bundles_planned_next(make):
    p = make()
    p.nifi.judge = lambda body: 413 if len(read_manifest(body)["files"]) > 2 else None  # NiFi's body limit
    first = [p.land(f"a{i}.bin", bytes([i]) * 1000, message_id=f"a{i}") for i in range(8)]
    assert p.aggregator.process(first).returned == []
    assert p.aggregator.bundle_limit < MAX_BUNDLE_BYTES
    refused_before = sum(1 for r in p.nifi.requests if r.status == 413)
    second = [p.land(f"b{i}.bin", bytes([i]) * 1000, message_id=f"b{i}") for i in range(8)]
    assert p.aggregator.process(second).returned == []
    assert refused_before > 0 and sum(1 for r in p.nifi.requests if r.status == 413) == refused_before
    assert all(len(s) == 1 for s in p.nifi.bundles_of_files().values())


def test_a_refused_resend_is_built_afresh_and_split_on_the_next_receive(make):
    p = make()
    messages = [p.land("good.json", message_id="good"), p.land("poison.bin", message_id="poison")]
    p.nifi.mode = "timeout"  # NiFi may hold it: the files stay assigned to that bundle
    p.aggregator.process(messages)
    assert all(p.status_of(m) == ASSIGNED for m in messages)
    p.nifi.mode = "ok"
    p.nifi.judge = refusing("poison.bin")
    assert set(p.aggregator.process(messages).failed.values()) == {"bundle_refused"}
    assert all(p.free(m) for m in messages)  # NiFi refused it: it holds no copy, nothing pins them
    assert p.aggregator.process(messages).failed == {"poison": "nifi_rejected"}
    assert p.nifi.bundles_of_files() == {(LANDING_BUCKET, "good.json"): {p.nifi.accepted[0].sha256}}


# --- nothing in a notification is trusted that S3 can tell us ------------------------------


def test_a_record_naming_a_foreign_bucket_fails_alone_unread(make):
    p = make(landing_buckets=[LANDING_BUCKET])
    honest = p.land("honest.json", message_id="honest")
    foreign = sqs_record(notification(p.landing.land("bundles/x.tar.gz", b"archived", bucket="courier-archive")), message_id="f")
    result = p.aggregator.process([honest, foreign])
    assert result.failed == {"f": "foreign_bucket"} and result.systemic is None
    assert [i.bucket for i in p.landing.fetched] == [LANDING_BUCKET]  # the foreign object is never read
    assert [keys_in(r) for r in p.nifi.accepted] == [{"honest.json"}]
    note = p.ledger.failure_note("f")
    assert note.reason == "foreign_bucket" and note.objects == ("s3://courier-archive/bundles/x.tar.gz",)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.integers(min_value=1, max_value=12),
    poison=st.sets(st.integers(min_value=0, max_value=11), max_size=4),
    body_limit=st.one_of(st.none(), st.integers(min_value=1, max_value=6)),
    lost_first=st.booleans(),
)
def test_whatever_nifi_refuses_each_file_ends_in_one_kept_bundle_or_fails_alone(make, files, poison, body_limit, lost_first):
    """Effectively once through refusals: a 400 for some files' content, a 413 above a file count, a resend refused."""
    p = make()
    poisoned = {f"f{i}.json" for i in poison if i < files}

    def judge(body: bytes) -> int | None:
        keys = [e["key"] for e in read_manifest(body)["files"]]
        if body_limit is not None and len(keys) > body_limit:
            return 413
        return 400 if poisoned & set(keys) else None

    messages = [p.land(f"f{i}.json", bytes([i]) * 100, message_id=f"m{i}") for i in range(files)]
    if lost_first:
        p.nifi.mode = "timeout"  # the first POST's answer lost: its files stay assigned, the next receive resends
        p.aggregator.process(messages)
        p.nifi.mode = "ok"
    p.nifi.judge = judge
    for _ in range(3):  # a refused resend is built afresh and split on the next receive
        result = p.aggregator.process(messages)
    assert result.failed == {f"m{i}": "nifi_rejected" for i in range(files) if f"f{i}.json" in poisoned}
    kept = p.nifi.bundles_of_files()
    assert {key for _, key in kept} == {f"f{i}.json" for i in range(files)} - poisoned
    assert all(len(bundles) == 1 for bundles in kept.values())
    for request in p.nifi.requests:  # every bundle NiFi kept was one it took whole
        if request.status == 200:
            assert not poisoned & keys_in(request)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.integers(min_value=2, max_value=10),
    poison=st.sets(st.integers(min_value=0, max_value=9), max_size=3),
    answers=st.lists(st.sampled_from(["ok", "ack-lost", "timeout"]), max_size=12),
)
def test_answers_lost_anywhere_in_a_split_leave_each_file_in_one_kept_bundle(make, files, poison, answers):
    """Lost answers at any POST of the halving (NiFi kept it, or never saw it): the retries resend the very bytes,
    so each honest file ends in exactly one distinct bundle NiFi kept, and only refused files fail."""
    p = make()
    poisoned = {f"f{i}.json" for i in poison if i < files}
    p.nifi.judge = lambda body: 400 if poisoned & {e["key"] for e in read_manifest(body)["files"]} else None
    p.nifi.queued.extend(answers)
    messages = [p.land(f"f{i}.json", bytes([i]) * 100, message_id=f"m{i}") for i in range(files)]
    for _ in range(len(answers) + 3):  # a receive with a file left POSTs at least once: the lost answers run out
        result = p.aggregator.process(messages)
        p.clock.advance(900)  # any lease a failure left behind lapses
    assert result.failed == {f"m{i}": "nifi_rejected" for i in range(files) if f"f{i}.json" in poisoned}
    kept = p.nifi.bundles_of_files()
    assert {key for _, key in kept} == {f"f{i}.json" for i in range(files)} - poisoned
    assert all(len(bundles) == 1 for bundles in kept.values())


def test_a_redriven_message_on_day_15_naming_a_delivered_file_is_refused_not_bundled_again(make):
    """Case 9 of issue 21: a hand redrive re-sends a message as new; its file landed 15 days ago and its
    ledger record (default TTL, 15 days) has expired. Claiming it fresh would deliver a second distinct bundle."""
    p = make()
    p.ledger.ttl_seconds = Settings.__dataclass_fields__["ledger_ttl_days"].default * 86400
    message = p.land("redriven.json")
    assert p.aggregator.process([message]).returned == []
    p.clock.advance(budget.ledger_window_seconds(p.ledger.ttl_seconds) - 1)
    still_known = p.aggregator.process([{**message, "messageId": "redriven-1"}])
    assert still_known.returned == [] and still_known.skipped == [identity(message)]
    p.clock.advance(86400)  # day 15: the record has expired
    assert p.ledger.record_of(identity(message)).expires_at < p.clock()  # a claim now would be granted
    redriven = p.aggregator.process([{**message, "messageId": "redriven-2"}])
    assert redriven.failed == {"redriven-2": "beyond_ledger"}
    assert "beyond the ledger" in redriven.details["redriven-2"]
    assert len(p.nifi.requests) == 1 and len(p.archive.bundles) == 1


def test_on_an_unversioned_bucket_a_reupload_of_earlier_content_is_delivered_again(make):
    """Case 10 of issue 21: A, then B, then A again on one key. The third upload has the first one's eTag; named by
    S3's sequencer it is a revision of its own, so NiFi's last copy is A, as the bucket holds."""
    p = make()
    uploads = [(b"content A", "0055AED6DCD90281E5"), (b"content B", "0055AED6DCD90281E6"), (b"content A", "0055AED6DCD90281E7")]
    for n, (content, sequencer) in enumerate(uploads):
        p.landing.objects[(LANDING_BUCKET, "same.csv", "")] = content  # unversioned: each write replaces the object
        etag = hashlib.md5(content).hexdigest()  # noqa: S324 - S3's ETag of a single-part upload
        record = s3_record(LANDING_BUCKET, "same.csv", etag=etag, sequencer=sequencer, size=len(content))
        assert p.aggregator.process([sqs_record(notification(record), message_id=f"m{n}")]).returned == []
    assert len(p.nifi.requests) == 3
    (last,) = read_manifest(p.nifi.requests[-1].body)["files"]
    assert (last["etag"], last["revision"]) == (hashlib.md5(b"content A").hexdigest(), "s:0055AED6DCD90281E7")  # noqa: S324


# --- two invocations on one warm aggregator (the local stack runs two per handler) ------------


class _GateLanding(FakeLanding):
    """A landing bucket whose GET of ``gated`` waits until ``gate`` is set (``entered`` says it is waiting)."""

    def __init__(self, gated: str) -> None:
        super().__init__()
        self.gated = gated
        self.entered = threading.Event()
        self.gate = threading.Event()

    def open(self, ref: Any) -> Any:
        if ref.key == self.gated:
            self.entered.set()
            assert self.gate.wait(10), "the other invocation never finished"
        return super().open(ref)


def test_two_concurrent_invocations_on_one_aggregator_each_keep_their_own_deadline(make):
    landing = _GateLanding("slow/plenty.json")
    p = make(landing=landing, post_budget_seconds=20.0)
    plenty = p.land("slow/plenty.json", message_id="plenty")
    hurried = p.land("hurried.json", message_id="hurried")
    outcome: dict[str, Any] = {}
    first = threading.Thread(target=lambda: outcome.update(plenty=p.aggregator.process([plenty], remaining_ms=lambda: 600_000)))
    first.start()
    try:
        assert landing.entered.wait(10)
        # While the first invocation's GET is under way, a second one with 1 s left runs on the same aggregator.
        assert p.aggregator.process([hurried], remaining_ms=lambda: 1_000).failed == {"hurried": "time_budget"}
    finally:
        landing.gate.set()
        first.join(10)
    assert outcome["plenty"].returned == [] and [keys_in(r) for r in p.nifi.requests] == [{"slow/plenty.json"}]
