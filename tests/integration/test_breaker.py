"""The NiFi circuit breaker, the controller and parking, against moto's DynamoDB, SQS and Lambda."""

from __future__ import annotations

import json
import threading
import time

import pytest

from courier.adapters.breaker import CIRCUIT_NAME, DynamoDBBreaker, persistence
from courier.adapters.mapping import LambdaEventSourceMapping
from courier.controller import Controller
from courier.errors import BreakerOpenError, NiFiHashRejectedError, NiFiUnavailableError


def make_breaker(aws, stack, recovery=1, threshold=2, success=1):
    return DynamoDBBreaker(
        persistence(aws.client("dynamodb"), stack.breaker_table), threshold, recovery, success, cache_seconds=1
    )


def state(aws, stack) -> str:
    item = aws.client("dynamodb").get_item(TableName=stack.breaker_table, Key={"id": {"S": CIRCUIT_NAME}}).get("Item")
    return item["state"]["S"] if item else "CLOSED"


def failing(*_):
    raise NiFiUnavailableError("down", 503)


def test_closed_open_half_open_closed(aws, stack):
    # Recovery of 3 s: the opening time is stored in whole seconds, so a recovery of 1 s
    # can already have passed by the first admits() on a slow machine (CI failed so).
    breaker = make_breaker(aws, stack, recovery=3)
    deliver = breaker.guard(failing)
    for _ in range(2):
        with pytest.raises(NiFiUnavailableError):
            deliver()
    assert state(aws, stack) == "OPEN" and not breaker.admits()
    with pytest.raises(BreakerOpenError):
        deliver()
    time.sleep(3.1)
    assert breaker.admits()  # a probe is due
    healthy = make_breaker(aws, stack).guard(lambda *_: 200)
    assert healthy() == 200
    assert state(aws, stack) == "CLOSED" and breaker.admits()


def test_failed_probe_reopens(aws, stack):
    breaker = make_breaker(aws, stack)
    deliver = breaker.guard(failing)
    for _ in range(2):
        with pytest.raises(NiFiUnavailableError):
            deliver()
    time.sleep(2.1)
    with pytest.raises(NiFiUnavailableError):
        deliver()  # the probe
    assert state(aws, stack) == "OPEN"
    assert not make_breaker(aws, stack, recovery=5).admits()  # re-opened just now: no probe due


def test_hash_rejection_does_not_trip_the_breaker(aws, stack):
    breaker = make_breaker(aws, stack, threshold=1)

    def rejecting(*_):
        raise NiFiHashRejectedError("422", 422)

    for _ in range(3):
        with pytest.raises(NiFiHashRejectedError):
            breaker.guard(rejecting)()
    assert state(aws, stack) == "CLOSED"


def test_two_invocations_racing_for_the_half_open_probe_yield_one_probe(aws, stack):
    # Recovery (and so the probe lease) of 3 s: Powertools counts whole seconds, and a
    # lease of 1 s could lapse while the 0.5-s probe runs, letting a second prober take over.
    breaker = make_breaker(aws, stack, recovery=3)
    for _ in range(2):
        with pytest.raises(NiFiUnavailableError):
            breaker.guard(failing)()
    time.sleep(3.1)
    calls = []
    outcomes = []
    start = threading.Barrier(2)

    def slow_probe(*_):
        calls.append(threading.get_ident())
        time.sleep(0.5)
        return 200

    def invocation():
        start.wait()
        try:
            outcomes.append(make_breaker(aws, stack, recovery=3).guard(slow_probe)())
        except BreakerOpenError:
            outcomes.append("fail-fast")

    threads = [threading.Thread(target=invocation) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert sorted(map(str, outcomes)) == ["200", "fail-fast"]


def mapping(aws, stack):
    from courier.local.emulator import MappingSettings, register_function

    return register_function(aws, stack.queue_arn, MappingSettings(10, 1, 2), timeout_seconds=30)


def test_controller_pauses_while_open_and_resumes_when_a_probe_is_due(aws, stack):
    uuid = mapping(aws, stack)
    lam = aws.client("lambda")
    reader = DynamoDBBreaker(persistence(aws.client("dynamodb"), stack.breaker_table), recovery_seconds=3, cache_seconds=1)
    controller = Controller(reader, LambdaEventSourceMapping(lam, uuid), recovery_seconds=3)
    assert controller.run_once().enabled_after is True
    breaker = make_breaker(aws, stack, recovery=3)
    for _ in range(2):
        with pytest.raises(NiFiUnavailableError):
            breaker.guard(failing)()
    time.sleep(1.1)  # controller's cache
    paused = controller.run_once()
    assert paused.breaker_state == "OPEN" and paused.changed and paused.enabled_after is False
    assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled"
    time.sleep(2.1)
    resumed = controller.run_once()
    assert resumed.enabled_after is True and lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled"


def test_the_controller_entry_point_reads_its_settings_from_the_environment_and_pauses_an_open_circuit(
    aws, stack, env, monkeypatch
):
    """What EventBridge invokes (``courier.handler.controller_handler``, named by the Terraform) runs the controller."""
    from courier import handler

    uuid = mapping(aws, stack)
    for name, value in {**env, "COURIER_ESM_UUID": uuid, "COURIER_BREAKER_TABLE": stack.breaker_table}.items():
        monkeypatch.setenv(name, value)
    breaker = make_breaker(aws, stack, recovery=60)
    for _ in range(2):
        with pytest.raises(NiFiUnavailableError):
            breaker.guard(failing)()
    handler.reset()
    try:
        decision = handler.controller_handler({}, None)
    finally:
        handler.reset()
    assert decision["breaker_state"] == "OPEN" and decision["changed"] and decision["mapping_enabled"] is False
    assert aws.client("lambda").get_event_source_mapping(UUID=uuid)["State"] == "Disabled"


def test_parked_messages_are_released_when_the_circuit_closes(aws, stack):
    from courier.adapters.parking import SQSParkingLot
    from courier.events import lambda_sqs_record

    sqs = aws.client("sqs")
    for i in range(3):
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps({"n": i}))
    received = []
    while len(received) < 4:  # the provisioning's s3:TestEvent plus ours
        received += sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=1).get("Messages", [])
    records = [lambda_sqs_record(m, stack.queue_arn, "eu-west-2") for m in received]
    lot = SQSParkingLot(sqs, aws.client("dynamodb"), stack.breaker_table, park_seconds=3600)
    lot.park(records)
    time.sleep(1.5)
    assert sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10).get("Messages", []) == []
    assert len(lot.parked()) == 4 and lot.has_parked()
    assert 0 <= lot.oldest_age_seconds() < 60  # from SQS's SentTimestamp, not from the park
    assert lot.unpark_all() == 4
    assert lot.parked() == [] and not lot.has_parked()
    back = sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10).get("Messages", [])
    assert {m["MessageId"] for m in back} == {m["MessageId"] for m in received}


# --- failing closed, the long-lived item, the probe owner, the cause --------------------------------


def test_an_open_circuit_outlives_the_queue_and_dlq_retention_without_a_write(aws, stack):
    from courier.resources import DLQ_RETENTION_SECONDS

    breaker = make_breaker(aws, stack, recovery=60)
    for _ in range(2):
        with pytest.raises(NiFiUnavailableError):
            breaker.guard(failing)()
    item = aws.client("dynamodb").get_item(TableName=stack.breaker_table, Key={"id": {"S": CIRCUIT_NAME}})["Item"]
    assert item["state"]["S"] == "OPEN"
    assert int(item["expiration"]["N"]) >= time.time() + DLQ_RETENTION_SECONDS  # Powertools alone: recovery + 1 h


def test_a_strict_read_names_the_state_the_cause_and_a_missing_item(aws, stack):
    breaker = make_breaker(aws, stack, recovery=60)
    assert breaker.read().state == "MISSING"
    for _ in range(2):
        breaker.record_failure("dynamodb", "ledger_unavailable")
    reading = breaker.read()
    assert (reading.state, reading.dependency) == ("OPEN", "dynamodb") and reading.opened_at


def test_a_trip_opens_a_missing_circuit_at_once_naming_the_dependency(aws, stack):
    breaker = make_breaker(aws, stack, recovery=60)
    breaker.trip("s3", "archive_unavailable")
    reading = breaker.read()
    assert (reading.state, reading.dependency) == ("OPEN", "s3") and reading.opened_at
    assert not make_breaker(aws, stack, recovery=60).admits()  # another invocation fails fast too


def test_a_read_that_fails_raises_instead_of_reading_closed(aws, stack):
    from courier.errors import AwsCallError

    class Throttled:
        def __init__(self, real):
            self.real = real

        def __getattr__(self, name):
            if name in ("batch_get_item", "get_item"):
                return self._throttle
            return getattr(self.real, name)

        def _throttle(self, **_):
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "BatchGetItem")

    breaker = DynamoDBBreaker(persistence(Throttled(aws.client("dynamodb")), stack.breaker_table), 2, 60, 1, cache_seconds=1)
    with pytest.raises(AwsCallError, match="ThrottlingException"):
        breaker.read()
    assert breaker.admits()  # the aggregator's own check still fails open, as Powertools intends


def test_the_owner_of_the_probe_lease_is_admitted_until_the_circuit_closes(aws, stack):
    breaker = make_breaker(aws, stack, recovery=1, success=2)
    for _ in range(2):
        with pytest.raises(NiFiUnavailableError):
            breaker.guard(failing)()
    time.sleep(1.1)
    assert breaker.guard(lambda: 200)() == 200  # the first probe: HALF_OPEN, this thread owns the lease
    time.sleep(1.1)  # past the 1-s cache
    assert state(aws, stack) == "HALF_OPEN" and breaker.admits()  # the owner goes on
    assert breaker.guard(lambda: 200)() == 200
    assert state(aws, stack) == "CLOSED"
    other = []
    thread = threading.Thread(target=lambda: other.append(make_breaker(aws, stack, recovery=1, success=2).admits()))
    thread.start()
    thread.join()
    assert other == [True]


def test_a_failed_controller_probe_keeps_the_dependency_that_tripped_the_circuit(aws, stack):
    from courier.errors import DependencyUnavailableError

    breaker = make_breaker(aws, stack, recovery=1)
    for _ in range(2):
        breaker.record_failure("secretsmanager", "secret_unavailable")
    time.sleep(1.1)

    def probe() -> int:
        raise DependencyUnavailableError("probe of secretsmanager failed", "secretsmanager")

    with pytest.raises(DependencyUnavailableError):
        breaker.guard(probe)()
    assert breaker.read().dependency == "secretsmanager" and breaker.read().state == "OPEN"


def test_a_throttled_read_of_the_circuit_raises_instead_of_reading_missing(aws, stack):
    from courier.errors import AwsCallError

    class Unprocessed:
        def __init__(self, real):
            self.real = real

        def __getattr__(self, name):
            return getattr(self.real, name)

        def batch_get_item(self, RequestItems):  # noqa: N803 - boto3's parameter name
            return {"Responses": {}, "UnprocessedKeys": RequestItems}

    breaker = DynamoDBBreaker(persistence(Unprocessed(aws.client("dynamodb")), stack.breaker_table), 2, 60, 1)
    with pytest.raises(AwsCallError, match="throttled"):
        breaker.read()


def test_a_message_parked_again_during_a_release_keeps_its_new_record(aws, stack, queued):
    from courier.adapters.parking import SQSParkingLot

    sqs, dynamodb = aws.client("sqs"), aws.client("dynamodb")
    sqs.send_message(QueueUrl=stack.queue_url, MessageBody="{}")
    records = queued()
    lot = SQSParkingLot(sqs, dynamodb, stack.breaker_table, park_seconds=3600)
    lot.park(records)
    (stale,) = [i for i in lot.parked() if i["id"]["S"].endswith(records[-1]["messageId"])]
    again = [dict(records[-1], receiptHandle="a-newer-handle")]
    lot._record(again)  # received and parked again between the release's scan and its delete
    lot._forget(stale)
    assert [i["receipt_handle"]["S"] for i in lot.parked() if i["id"] == stale["id"]] == ["a-newer-handle"]


def test_the_canary_writes_where_a_delivery_writes_and_names_the_failing_dependency(aws, stack, env):
    from courier.adapters.probe import CanaryProbe
    from courier.compose import make_probe
    from courier.config import Settings
    from courier.errors import DependencyUnavailableError

    settings = Settings.from_env({**env, "COURIER_LANDING_BUCKET": stack.landing_bucket})
    probe: CanaryProbe = make_probe(settings, aws, aws.client("dynamodb"))
    probe.check()
    assert aws.client("s3").list_objects_v2(Bucket=stack.archive_bucket, Prefix="probes/")["KeyCount"] == 1
    probe.archive_bucket = "no-such-bucket"
    with pytest.raises(DependencyUnavailableError) as caught:
        probe.check()
    assert caught.value.dependency == "s3"
    probe.nifi.close()


def test_when_dynamodb_cannot_record_a_park_the_message_backs_off_instead(aws, stack, queued):
    from courier.adapters.parking import UNRECORDED_PARK_BASE_SECONDS, SQSParkingLot

    class DynamoDBDown:
        def batch_write_item(self, **_):
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "BatchWriteItem")

    sqs = aws.client("sqs")
    sqs.send_message(QueueUrl=stack.queue_url, MessageBody="{}")
    records = queued()
    lot = SQSParkingLot(sqs, DynamoDBDown(), stack.breaker_table)

    def park_at(receives: int) -> int:
        return lot.unrecorded_park_seconds({"attributes": {"ApproximateReceiveCount": str(receives)}})

    base = UNRECORDED_PARK_BASE_SECONDS
    assert [park_at(n) for n in (1, 2, 7, 15)] == [base, 2 * base, 64 * base, lot.park_seconds]  # doubling, capped at 11 h
    lot.park(records)  # the record fails, the park does not
    time.sleep(1.1)
    assert sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10).get("Messages", []) == []
