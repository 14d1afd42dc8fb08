"""Immediate dead-lettering, through the Lambda handler on fakes: what can never succeed goes to the DLQ at once.

One case per permanent reason (``courier.dead_letter.PERMANENT_REASONS``); transient failures, mixed messages and
a failed move keep the receive-count path (the message is reported as a batch item failure).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from courier import handler
from courier.aggregator import Aggregator
from courier.bundle import read_manifest
from courier.compose import Runtime
from courier.config import Settings
from courier.dead_letter import (
    COURIER_ATTRIBUTES,
    FIRST_RECEIVE_MS,
    MESSAGE_ID,
    PERMANENT_REASONS,
    REASONS,
    RECEIVE_COUNT,
    SQS_MAX_ATTRIBUTES,
    moved_reasons,
    original_attributes,
)
from courier.errors import (
    ArchiveCorruptError,
    ObjectSupersededError,
    ObjectUnreadableError,
    StorageUnavailableError,
)
from fakes import (
    LANDING_BUCKET,
    FakeArchive,
    FakeBreaker,
    FakeClock,
    FakeDeadLetters,
    FakeLanding,
    FakeNiFi,
    FakeParkingLot,
    InMemoryLedger,
)
from support import LambdaContext, notification, s3_record, sqs_record

MAX_OBJECT_BYTES = 64 * 1024
SETTINGS = Settings.from_env({"COURIER_ARCHIVE_BUCKET": "a", "COURIER_NIFI_URL": "https://nifi.example/contentListener"})


@dataclass
class World:
    landing: FakeLanding
    nifi: FakeNiFi
    dead_letters: FakeDeadLetters
    clock: FakeClock

    def land(self, key: str, content: bytes = b"{}", message_id: str | None = None) -> dict[str, Any]:
        return sqs_record(notification(self.landing.land(key, content)), message_id=message_id or f"m-{key}")

    def invoke(self, *records: dict[str, Any]) -> set[str]:
        """The handler's answer: the ids reported as batch item failures."""
        response = handler.lambda_handler({"Records": list(records)}, LambdaContext())
        return {failure["itemIdentifier"] for failure in response["batchItemFailures"]}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    clock = FakeClock()
    nifi = FakeNiFi()
    landing = FakeLanding(max_object_bytes=MAX_OBJECT_BYTES)
    dead_letters = FakeDeadLetters()
    aggregator = Aggregator(
        ledger=InMemoryLedger(ttl_seconds=7 * 86400, lease_seconds=900, clock=clock),
        landing=landing,
        archive=FakeArchive(),
        nifi=nifi.client(),
        archive_prefix="bundles",
        max_bundle_bytes=MAX_OBJECT_BYTES,
        concurrency=2,
        clock=clock,
        breaker=FakeBreaker(failure_threshold=3, recovery_seconds=60, clock=clock),
        parking_lot=FakeParkingLot(),
        max_object_bytes=MAX_OBJECT_BYTES,
        landing_buckets=frozenset({LANDING_BUCKET}),
    )
    runtime = Runtime(settings=SETTINGS, aggregator=aggregator, nifi=aggregator.nifi, dead_letters=dead_letters)  # type: ignore[arg-type]
    monkeypatch.setattr(handler, "_runtime", runtime)
    yield World(landing, nifi, dead_letters, clock)
    aggregator.pool.shutdown()
    aggregator.nifi.close()


def refusing(key: str) -> Callable[[bytes], int | None]:
    return lambda body: 400 if key in {e["key"] for e in read_manifest(body)["files"]} else None


def fetch_fails(error: Exception) -> Callable[[World], dict[str, Any]]:
    """A landed file whose GET raises ``error`` (what S3Landing translates S3's answer to)."""

    def build(w: World) -> dict[str, Any]:
        w.landing.fail("f.json", error)
        return w.land("f.json", message_id="bad")

    return build


def refused_by_nifi(w: World) -> dict[str, Any]:
    w.nifi.judge = refusing("poison.bin")
    return w.land("poison.bin", message_id="bad")


def landed_in_2020(w: World) -> dict[str, Any]:
    return sqs_record(notification(w.landing.land("old.json", b"{}", event_time=datetime(2020, 1, 1, tzinfo=UTC))), "bad")


# Each builds, in a world, the one message that fails for that reason.
CASES: dict[str, Callable[[World], dict[str, Any]]] = {
    "malformed_event": lambda w: sqs_record("not an S3 event", message_id="bad"),
    "object_missing": lambda w: sqs_record(notification(s3_record(LANDING_BUCKET, "never.json", version_id="v9")), "bad"),
    "object_superseded": fetch_fails(ObjectSupersededError("overwritten")),
    "object_too_large": lambda w: w.land("big.bin", b"x" * (MAX_OBJECT_BYTES + 1), message_id="bad"),
    "object_unreadable": fetch_fails(ObjectUnreadableError("cold (InvalidObjectState)")),
    "foreign_bucket": lambda w: sqs_record(notification(w.landing.land("x.tar.gz", b"z", bucket="courier-archive")), "bad"),
    "beyond_ledger": landed_in_2020,
    "nifi_rejected": refused_by_nifi,
    "archive_corrupt": fetch_fails(ArchiveCorruptError("bundle gone")),
}


def test_every_permanent_reason_has_a_case():
    assert set(CASES) == PERMANENT_REASONS - {"permanent"}  # "permanent" is the base class's, never raised


@pytest.mark.parametrize("reason", sorted(CASES))
def test_a_message_that_failed_permanently_is_moved_to_the_dlq_at_once_with_its_reason(world, reason, capsys):
    bad = CASES[reason](world)
    healthy = world.land("healthy.json", message_id="good")
    assert world.invoke(bad, healthy) == set()  # nothing left for the receive-count path
    ((record, attributes),) = world.dead_letters.moved
    assert record is bad  # the body and its receipt handle, unchanged
    assert attributes[REASONS] == {"DataType": "String", "StringValue": reason}
    assert attributes[MESSAGE_ID]["StringValue"] == "bad" and attributes[RECEIVE_COUNT]["StringValue"] == "1"
    assert attributes[FIRST_RECEIVE_MS]["StringValue"] == "1700000000001"
    assert moved_reasons(attributes) == (reason,)
    assert len(world.nifi.accepted) == 1  # the healthy batch-mate delivered
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [d["reason"] for d in documents if "DeadLetteredImmediately" in d] == [reason]


def test_a_transient_failure_keeps_the_receive_count_path(world):
    world.landing.fail("slow.json", StorageUnavailableError("throttled"))
    assert world.invoke(world.land("slow.json", message_id="m")) == {"m"}
    assert world.dead_letters.moved == []


def test_a_message_with_one_permanent_and_one_transient_record_is_not_dead_lettered(world):
    world.landing.fail("slow.json", StorageUnavailableError("throttled"))
    gone = s3_record(LANDING_BUCKET, "gone.json", version_id="v9")
    mixed = sqs_record(notification(world.landing.land("slow.json", b"{}"), gone), "m")
    assert world.invoke(mixed) == {"m"}
    assert world.dead_letters.moved == []


def test_a_message_with_one_delivered_and_one_permanent_record_is_moved_and_its_redrive_delivers_nothing_twice(world):
    gone = s3_record(LANDING_BUCKET, "gone.json", version_id="v9")
    mixed = sqs_record(notification(world.landing.land("fine.json", b"{}"), gone), "m")
    assert world.invoke(mixed) == set()
    assert world.dead_letters.moved_ids == ["m"] and len(world.nifi.accepted) == 1  # the good record went through
    redriven = {**mixed, "messageId": "m2", "receiptHandle": "handle-again"}  # the same body, back from the DLQ
    assert world.invoke(redriven) == set()
    assert world.dead_letters.moved_ids == ["m", "m2"] and len(world.nifi.accepted) == 1  # the ledger skips fine.json


def test_a_failed_move_leaves_the_message_to_the_receive_count_path(world):
    world.dead_letters.failing = True
    assert world.invoke(sqs_record("not an S3 event", message_id="bad")) == {"bad"}


def test_the_original_attributes_go_along_and_a_redrive_gets_them_back_without_courier_s(world):
    bad = sqs_record("not an S3 event", message_id="bad")
    bad["messageAttributes"] = {
        "origin": {"stringValue": "uploader-7", "dataType": "String"},
        "blob": {"binaryValue": "AAEC", "dataType": "Binary"},  # Lambda hands binary values over in base64
    }
    world.invoke(bad)
    ((_, attributes),) = world.dead_letters.moved
    assert original_attributes(attributes) == {
        "origin": {"DataType": "String", "StringValue": "uploader-7"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"},
    }


def test_with_no_room_for_courier_s_attributes_the_message_keeps_the_receive_count_path(world):
    bad = sqs_record("not an S3 event", message_id="bad")
    spare = SQS_MAX_ATTRIBUTES - len(COURIER_ATTRIBUTES)
    bad["messageAttributes"] = {f"a{i}": {"stringValue": "v", "dataType": "String"} for i in range(spare + 1)}
    assert world.invoke(bad) == {"bad"} and world.dead_letters.moved == []


def test_outside_text_never_becomes_courier_s_attributes(world):
    bad = sqs_record("not an S3 event", message_id="\x1b]8;;http://x\x07" + "i" * 500)
    bad["attributes"]["ApproximateReceiveCount"] = "2; DROP"
    world.invoke(bad)
    ((_, attributes),) = world.dead_letters.moved
    assert len(attributes[MESSAGE_ID]["StringValue"]) <= 128 and "\x1b" not in attributes[MESSAGE_ID]["StringValue"]
    assert attributes[RECEIVE_COUNT]["StringValue"] == "0"
    forged = {REASONS: {"DataType": "String", "StringValue": "object_missing,<script>,breaker_open"}}
    assert moved_reasons(forged) == ("object_missing",)  # only courier's own permanent reasons are believed


def test_a_nifi_refusal_in_a_batch_that_shows_a_nifi_outage_is_not_dead_lettered(world):
    world.nifi.judge = lambda body: 400  # every bundle refused: NiFi itself is refusing
    messages = [world.land(f"f{i}.json", b"x" * 40_000, message_id=f"m{i}") for i in range(3)]
    assert world.invoke(*messages) == {"m0", "m1", "m2"}
    assert world.dead_letters.moved == []


def test_settle_without_a_dead_letter_port_reports_every_failure():
    from courier.aggregator import BatchResult
    from courier.dead_letter import settle

    result = BatchResult(failed={"m": "malformed_event"}, reasons={"m": {"malformed_event"}})
    assert settle([sqs_record("x", message_id="m")], result, None) == {"batchItemFailures": [{"itemIdentifier": "m"}]}
    assert json.dumps(result.response())  # still a plain JSON document for Lambda
