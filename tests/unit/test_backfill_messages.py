"""Backfill's pure parts: the notification S3 would have sent, range filtering, checkpoint resume, the ledger skip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from courier.events import parse_message
from courier.operator.backfill import Checkpoint, RateLimit, after, backfill, in_range, notification
from courier.ports import Revision
from fakes import FakeClock, InMemoryLedger
from support import s3_record, sqs_record

BUCKET = "courier-landing"
T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def rev(key: str, version: str | None = "v1", minutes: int = 0) -> Revision:
    return Revision(key, version, 42, "9b2cf535f27731c974343645a3985328", T0 + timedelta(minutes=minutes))


@pytest.mark.parametrize("key", ["plain.csv", "a dir/with space.json", "c++/plus+sign.txt", "ünï/cødé €.bin", "q?&=#%.x"])
@pytest.mark.parametrize("version", ["3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", None])
def test_the_notification_parses_to_the_same_identity_as_s3s_own_event(key, version):
    revision = rev(key, version)
    ours = parse_message(sqs_record(notification(BUCKET, revision)))
    s3s = parse_message(sqs_record({"Records": [s3_record(BUCKET, key, version_id=version, etag=revision.etag, size=42)]}))
    assert ours.error is None and len(ours.objects) == 1
    (ref,) = ours.objects
    assert ref.identity == revision.identity(BUCKET)
    if version:  # unversioned, S3's own sequencer is in no listing: delivered_unversioned judges those
        assert ref.identity == s3s.objects[0].identity
    assert (ref.key, ref.version_id, ref.size, ref.event_time) == (key, version, 42, T0)


def test_the_notification_has_s3s_shape():
    (record,) = notification(BUCKET, rev("a b+c"), region="eu-west-2")["Records"]
    assert (record["eventVersion"], record["eventSource"], record["eventName"]) == ("2.1", "aws:s3", "ObjectCreated:Put")
    assert record["s3"]["bucket"] == {
        "name": BUCKET,
        "ownerIdentity": {"principalId": "courier-backfill"},
        "arn": f"arn:aws:s3:::{BUCKET}",
    }
    obj = record["s3"]["object"]
    assert obj["key"] == "a+b%2Bc" and obj["versionId"] == "v1" and obj["size"] == 42 and len(obj["sequencer"]) == 16
    assert record["eventTime"] == "2026-11-26T03:00:00.000Z"


def test_range_is_inclusive_and_open_ended():
    revision = rev("k", minutes=10)
    assert in_range(revision, None, None)
    assert in_range(revision, revision.last_modified, revision.last_modified)
    assert not in_range(revision, revision.last_modified + timedelta(seconds=1), None)
    assert not in_range(revision, None, revision.last_modified - timedelta(seconds=1))


def test_resume_continues_after_the_marked_version():
    listing = [rev("a", "2"), rev("a", "1"), rev("b", "2"), rev("b", "1"), rev("c", "1")]
    assert list(after(listing, None)) == listing
    assert [(r.key, r.version_id) for r in after(listing, {"key": "b", "version_id": "2"})] == [("b", "1"), ("c", "1")]
    # The marked version has gone meanwhile: the key's versions come again, never a later key's lost.
    assert [(r.key, r.version_id) for r in after(listing, {"key": "b", "version_id": "9"})] == [("c", "1")]
    assert [(r.key, r.version_id) for r in after(listing, {"key": "bb", "version_id": "1"})] == [("c", "1")]


def test_a_rerun_continues_after_the_checkpoint(tmp_path):
    checkpoint = Checkpoint(tmp_path / "cp.json")
    listing = [rev(f"k{i:02d}") for i in range(25)]
    sent: list[list[str]] = []

    def boom_on_third(bodies: list[str]) -> None:
        if len(sent) == 2:
            raise RuntimeError("interrupted")
        sent.append(bodies)

    with pytest.raises(RuntimeError):
        backfill(listing, BUCKET, boom_on_third, checkpoint=checkpoint)
    assert checkpoint.load() == {"key": "k19", "version_id": "v1"}
    rest: list[list[str]] = []
    tally = backfill(after(listing, checkpoint.load()), BUCKET, rest.append, checkpoint=checkpoint)
    keys = [json.loads(b)["Records"][0]["s3"]["object"]["key"] for batch in sent + rest for b in batch]
    assert keys == [f"k{i:02d}" for i in range(25)] and tally.enqueued == 5
    assert [len(b) for b in sent + rest] == [10, 10, 5]
    checkpoint.clear()
    assert checkpoint.load() is None


def test_delivered_revisions_are_counted_and_not_sent():
    ledger = InMemoryLedger()
    listing = [rev(f"k{i}") for i in range(4)]
    ledger.complete([listing[1].identity(BUCKET), listing[3].identity(BUCKET)], "bundles/x.tar.gz", "ab" * 32)
    sent: list[str] = []
    tally = backfill(listing, BUCKET, sent.extend, ledger=ledger, since=T0, until=T0 + timedelta(hours=1))
    assert (tally.listed, tally.enqueued, tally.delivered, tally.out_of_range) == (4, 2, 2, 0)
    assert [json.loads(b)["Records"][0]["s3"]["object"]["key"] for b in sent] == ["k0", "k2"]


def test_out_of_range_and_dry_run_send_nothing(tmp_path):
    checkpoint = Checkpoint(tmp_path / "cp.json")
    listing = [rev("early", minutes=-5), rev("in"), rev("late", minutes=90)]
    tally = backfill(
        listing,
        BUCKET,
        lambda b: pytest.fail("sent"),
        since=T0,
        until=T0 + timedelta(hours=1),
        checkpoint=checkpoint,
        dry_run=True,
    )
    assert (tally.listed, tally.enqueued, tally.out_of_range) == (3, 1, 2)
    assert checkpoint.load() is None


def test_rate_limit_sleeps_to_keep_the_average():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limit = RateLimit(10, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limit.wait(10)
    assert slept == [1.0, 1.0]


def test_rate_limit_does_not_burst_after_a_slow_listing_page():
    clock = FakeClock(0.0)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    limit = RateLimit(10, clock=clock, sleep=sleep)
    limit.wait(10)
    clock.advance(30)  # a listing page that took 30 s: the bucket refills to one batch, not to 300 messages
    for _ in range(4):
        limit.wait(10)
    assert slept == [1.0, 1.0, 1.0]


def test_revisions_tagged_delivered_after_the_ledger_forgot_them_are_skipped_and_counted():
    ledger = InMemoryLedger()
    listing = [rev(f"k{i}") for i in range(4)]
    ledger.complete([listing[0].identity(BUCKET)], "bundles/x.tar.gz", "ab" * 32)
    asked: list[str] = []

    def was_delivered(revision: Revision) -> bool:
        asked.append(revision.key)
        return revision.key in ("k1", "k2")

    sent: list[str] = []
    tally = backfill(listing, BUCKET, sent.extend, ledger=ledger, was_delivered=was_delivered)
    assert (tally.listed, tally.enqueued, tally.delivered, tally.tagged) == (4, 1, 1, 2)
    assert [json.loads(b)["Records"][0]["s3"]["object"]["key"] for b in sent] == ["k3"]
    assert asked == ["k1", "k2", "k3"]  # the tag is read only for what the ledger does not know


def test_unversioned_a_b_a_the_last_upload_is_not_taken_for_the_first_ones_delivery():
    """A -> B -> A on an unversioned key: the ledger holds the first A (by S3's sequencer) delivered
    before the third upload landed; backfill must announce the third, and skip it once its own delivery is recorded."""
    clock = FakeClock(T0.timestamp())
    ledger = InMemoryLedger(clock=clock)
    first_a = parse_message(sqs_record({"Records": [s3_record(BUCKET, "k", etag="etag-a", sequencer="0A")]})).objects[0]
    ledger.claim(first_a.identity, "t")
    ledger.complete([first_a.identity], "bundles/x.tar.gz", "ab" * 32)
    third_a = Revision("k", None, 42, "etag-a", T0 + timedelta(minutes=10))
    sent: list[list[str]] = []
    clock.advance(600)
    assert backfill([third_a], BUCKET, sent.append, ledger=ledger).enqueued == 1
    third = parse_message(sqs_record({"Records": [s3_record(BUCKET, "k", etag="etag-a", sequencer="0C")]})).objects[0]
    clock.advance(5)
    ledger.claim(third.identity, "t")
    ledger.complete([third.identity], "bundles/y.tar.gz", "cd" * 32)
    tally = backfill([third_a], BUCKET, sent.append, ledger=ledger)
    assert (tally.enqueued, tally.delivered) == (0, 1)


def test_a_group_counts_as_delivered_only_once_complete_and_only_for_its_own_files():
    clock = FakeClock(T0.timestamp())
    ledger = InMemoryLedger(clock=clock)
    listing = [rev(f"g{i}") for i in range(4)]
    ids = [r.identity(BUCKET) for r in listing]
    ledger.claim_many(ids[:2], "t", "t.1")
    ledger.claim_many(ids[2:3], "t", "t.2")
    ledger.claim_many(ids[3:], "t", "t.3")
    assert ledger.assign(ids[:2], "t", "bundles/x.tar.gz", "ab" * 32, "t.1")
    assert ledger.assign(ids[2:3], "t", "bundles/y.tar.gz", "cd" * 32, "t.2")  # sent, not acknowledged yet
    assert ledger.assign(ids[3:], "t", "bundles/z.tar.gz", "ef" * 32, "t.3")
    ledger.abandon_group("t.3", "t")  # refused by NiFi: never kept
    clock.advance(60)
    ledger.complete(ids[:2], "bundles/x.tar.gz", "ab" * 32, "t.1")
    sent: list[str] = []
    tally = backfill(listing, BUCKET, sent.extend, ledger=ledger)
    assert (tally.enqueued, tally.delivered) == (2, 2)
    assert [json.loads(b)["Records"][0]["s3"]["object"]["key"] for b in sent] == ["g2", "g3"]


def test_an_unversioned_write_counts_as_delivered_by_its_groups_completion_time():
    clock = FakeClock(T0.timestamp())
    ledger = InMemoryLedger(clock=clock)
    landed = parse_message(sqs_record({"Records": [s3_record(BUCKET, "u", etag="etag-u", sequencer="0A")]})).objects[0]
    ledger.claim_many([landed.identity], "t", "t.1")
    ledger.assign([landed.identity], "t", "bundles/x.tar.gz", "ab" * 32, "t.1")
    clock.advance(60)  # the group's completion, not the claim, is the delivery's time
    ledger.complete([landed.identity], "bundles/x.tar.gz", "ab" * 32, "t.1")
    assert backfill([Revision("u", None, 42, "etag-u", T0 + timedelta(seconds=30))], BUCKET, list, ledger=ledger).delivered == 1
    assert backfill([Revision("u", None, 42, "etag-u", T0 + timedelta(minutes=11))], BUCKET, list, ledger=ledger).enqueued == 1
