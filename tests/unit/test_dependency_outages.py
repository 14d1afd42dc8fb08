"""A dependency that fails every file of a batch is an outage of that dependency, not a reason to dead-letter.

Secrets Manager, DynamoDB, S3 and a NiFi that refuses every request (a 404 after
its path moved) are counted by the breaker like NiFi being down: the circuit
opens, the messages are parked, and the paused dependency is named.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from courier.aggregator import Aggregator
from courier.errors import ObjectUnreadableError, SecretUnavailableError, StorageUnavailableError
from fakes import (
    FakeArchive,
    FakeBreaker,
    FakeClock,
    FakeCredentialsSource,
    FakeLanding,
    FakeNiFi,
    FakeParkingLot,
    InMemoryLedger,
)
from support import notification, sqs_record

THRESHOLD = 3


class SecretGone(FakeCredentialsSource):
    def get(self, refresh: bool = False):
        raise SecretUnavailableError("could not read secret 'courier/nifi'")


@pytest.fixture
def world() -> Iterator[dict[str, Any]]:
    clock = FakeClock()
    parts: dict[str, Any] = {
        "clock": clock,
        "ledger": InMemoryLedger(clock=clock),
        "landing": FakeLanding(),
        "archive": FakeArchive(),
        "nifi": FakeNiFi(),
        "breaker": FakeBreaker(failure_threshold=THRESHOLD, clock=clock),
        "parking_lot": FakeParkingLot(),
        "credentials": FakeCredentialsSource(),
    }
    built: list[Aggregator] = []

    def aggregator() -> Aggregator:
        made = Aggregator(
            ledger=parts["ledger"],
            landing=parts["landing"],
            archive=parts["archive"],
            nifi=parts["nifi"].client(parts["credentials"]),
            archive_prefix="bundles",
            max_bundle_bytes=1 << 20,
            concurrency=2,
            clock=clock,
            breaker=parts["breaker"],
            parking_lot=parts["parking_lot"],
        )
        built.append(made)
        return made

    parts["aggregator"] = aggregator
    yield parts
    for made in built:
        made.pool.shutdown()
        made.nifi.close()


def batches(world: dict[str, Any], count: int) -> list[list[dict[str, Any]]]:
    return [
        [sqs_record(notification(world["landing"].land(f"b{b}/f{i}.json", b"x")), message_id=f"b{b}-{i}") for i in range(2)]
        for b in range(count)
    ]


def run(world: dict[str, Any], batch: list[dict[str, Any]]) -> dict[str, str]:
    return world["aggregator"]().process(batch).failed


@pytest.mark.parametrize(
    ("break_it", "reason", "dependency"),
    [
        (lambda w: w.update(credentials=SecretGone()), "secret_unavailable", "secretsmanager"),
        (lambda w: w["ledger"].fail("claim"), "ledger_unavailable", "dynamodb"),
        (lambda w: w["archive"].fail("put"), "storage_unavailable", "s3"),
        (lambda w: setattr(w["nifi"], "mode", 404), "nifi_rejected", "nifi"),
    ],
)
def test_a_dependency_failing_whole_batches_opens_the_circuit_parks_and_is_named(world, break_it, reason, dependency):
    break_it(world)
    work = batches(world, THRESHOLD + 1)
    for batch in work[:THRESHOLD]:
        assert set(run(world, batch).values()) == {reason}
    breaker = world["breaker"]
    assert breaker.state == "OPEN" and breaker.read().dependency == dependency
    # The batch that tripped it was parked, and from now on batches fail fast and are parked too.
    assert {m["messageId"] for m in work[THRESHOLD - 1]} <= world["parking_lot"].parked_ids
    assert set(run(world, work[THRESHOLD]).values()) == {"breaker_open"}
    assert {m["messageId"] for m in work[THRESHOLD]} <= world["parking_lot"].parked_ids


def test_a_per_file_failure_beside_a_delivered_file_is_not_an_outage(world):
    world["landing"].fail("mixed/bad.json", StorageUnavailableError("landing GET failed: SlowDown"))
    good = sqs_record(notification(world["landing"].land("mixed/good.json", b"ok")), message_id="good")
    bad = sqs_record(notification(world["landing"].land("mixed/bad.json", b"no")), message_id="bad")
    for _ in range(THRESHOLD + 1):
        world["clock"].advance(1000)
        failed = run(world, [good, bad])
        assert failed == {"bad": "storage_unavailable"}
    assert world["breaker"].state == "CLOSED" and world["parking_lot"].parked == []


def test_after_the_dependency_heals_a_due_batch_probes_and_closes_the_circuit(world):
    world["ledger"].fail("claim")
    for batch in batches(world, THRESHOLD):
        run(world, batch)
    assert world["breaker"].state == "OPEN"
    world["ledger"].failing.clear()
    world["clock"].advance(world["breaker"].recovery_seconds)
    (fresh,) = batches(world, 1)
    assert run(world, [dict(m, messageId=m["messageId"] + "-again") for m in fresh]) == {}
    assert world["breaker"].state == "CLOSED"


def test_one_file_failing_on_s3_again_and_again_is_not_an_outage(world):
    world["landing"].fail("lonely/bad.json", StorageUnavailableError("landing GET failed: AccessDenied"))
    lonely = sqs_record(notification(world["landing"].land("lonely/bad.json", b"no")), message_id="lonely")
    for _ in range(THRESHOLD + 2):
        assert run(world, [lonely]) == {"lonely": "storage_unavailable"}
    assert world["breaker"].state == "CLOSED" and world["parking_lot"].parked == []


@pytest.mark.parametrize("code", ["InvalidObjectState", "InvalidRequest", "AccessDenied", "NoSuchBucket"])
def test_unreadable_objects_fail_alone_and_never_open_the_circuit_whatever_their_number(world, code):
    """Cold storage classes, SSE-C, a foreign KMS key, a bucket courier may not read: the uploader's doing."""
    landing = world["landing"]
    for b in range(THRESHOLD + 2):
        cold = [sqs_record(notification(landing.land(f"cold{b}/{i}.bin", b"x")), message_id=f"cold{b}-{i}") for i in range(3)]
        for i in range(3):
            landing.fail(f"cold{b}/{i}.bin", ObjectUnreadableError(f"s3://landing/cold{b}/{i}.bin cannot be read (S3 {code})"))
        assert set(run(world, cold).values()) == {"object_unreadable"}
    assert world["breaker"].state == "CLOSED" and world["parking_lot"].parked == []
    honest = sqs_record(notification(landing.land("honest.json", b"ok")), message_id="honest")
    assert run(world, [honest]) == {}
    note = world["ledger"].failure_note("cold0-0")
    assert note is not None and note.reason == "object_unreadable" and code in note.detail


def test_unreadable_objects_beside_a_dependency_outage_do_not_hide_it(world):
    world["ledger"].fail("claim")
    landing = world["landing"]
    for b in range(THRESHOLD):
        landing.fail(f"mixed{b}/cold.bin", ObjectUnreadableError("cannot be read (S3 InvalidObjectState)"))
        batch = [
            sqs_record(notification(landing.land(f"mixed{b}/{name}", b"x")), message_id=f"{b}-{name}")
            for name in ("a", "cold.bin")
        ]
        run(world, batch)
    assert world["breaker"].state == "OPEN" and world["breaker"].read().dependency == "dynamodb"


def test_an_archive_put_failing_in_one_file_batches_is_an_s3_outage(world):
    """An archive PUT is never about one object: at one file per batch it still opens the circuit and parks."""
    world["archive"].fail("put")
    lonely = [
        sqs_record(notification(world["landing"].land(f"low/{b}.json", b"x")), message_id=f"low{b}") for b in range(THRESHOLD)
    ]
    for message in lonely:
        assert run(world, [message]) == {message["messageId"]: "storage_unavailable"}
    assert world["breaker"].state == "OPEN" and world["breaker"].read().dependency == "s3"
    assert lonely[-1]["messageId"] in world["parking_lot"].parked_ids
