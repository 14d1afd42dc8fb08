"""The handler's side of an outage: fail fast, park, notes for the DLQ, the 422 retry."""

from __future__ import annotations

import json

from courier.adapters.parking import SQSParkingLot
from courier.compose import build_runtime
from courier.config import Settings


def runtime_with(aws, env, **settings):
    extra = {f"COURIER_{k.upper()}": str(v) for k, v in settings.items()}
    return build_runtime(Settings.from_env({**env, **extra}), aws)


def test_open_circuit_fails_fast_without_any_http_call_and_parks_the_batch(aws, env, stack, land, fake_nifi, queued):
    runtime = runtime_with(aws, env, breaker_failure_threshold=1, breaker_recovery_seconds=600, breaker_cache_seconds=1)
    fake_nifi.state.set_mode("unavailable")
    land("first.json", b"{}")
    tripping = runtime.aggregator.process(queued())
    assert set(tripping.failed.values()) == {"nifi_unavailable"}
    calls_before = sum(fake_nifi.state.responses.values())

    fake_nifi.state.set_mode("ok")
    land("second.json", b"{}")
    records = queued()
    result = runtime.aggregator.process(records)
    assert set(result.failed) == {r["messageId"] for r in records} and set(result.failed.values()) == {"breaker_open"}
    assert sum(fake_nifi.state.responses.values()) == calls_before  # no HTTP call at all
    parked = SQSParkingLot(aws.client("sqs"), aws.client("dynamodb"), stack.breaker_table).parked()
    assert {p["id"]["S"].split("#", 1)[1] for p in parked} >= {r["messageId"] for r in records}
    assert queued() == []  # parked: not visible again after the normal timeout


def test_hash_rejected_twice_is_retried_once_then_failed(runtime, land, fake_nifi, json_logs):
    from courier.observability import metrics

    metrics.clear_metrics()
    fake_nifi.state.set_mode("reject-hash")
    result = runtime.aggregator.process([land("x.json", b"{}").message("m")])
    assert result.failed == {"m": "nifi_hash_rejected"}
    assert fake_nifi.state.responses[422] == 2
    assert "HashRejectedTwice" in metrics.provider.metric_set  # the alarm's metric (the provider holds the sets)
    metrics.clear_metrics()
    assert "corruption on the path" in json_logs.getvalue()


def test_failed_message_leaves_a_note_with_its_reason(runtime, land, aws, stack):
    from support import sqs_record

    gone = land("gone.json", b"{}")
    aws.client("s3").delete_object(Bucket=stack.landing_bucket, Key=gone.key, VersionId=gone.version_id)
    runtime.aggregator.process([gone.message("m-gone"), sqs_record("not json", message_id="m-bad")])
    gone_note = runtime.aggregator.ledger.failure_note("m-gone")
    bad_note = runtime.aggregator.ledger.failure_note("m-bad")
    assert gone_note.reason == "object_missing" and gone_note.objects == (f"s3://{stack.landing_bucket}/gone.json",)
    assert "no longer exists" in gone_note.detail
    assert bad_note.reason == "malformed_event" and bad_note.objects == ()
    assert "not json" not in json.dumps(bad_note.__dict__)  # the body itself is never recorded


def test_cold_storage_objects_fail_alone_as_unreadable_and_never_open_the_circuit(aws, env, stack, land):
    """moto answers a GLACIER or DEEP_ARCHIVE object's GET InvalidObjectState, as S3 does."""
    from support import notification, s3_record, sqs_record

    runtime = runtime_with(aws, env, breaker_failure_threshold=2, breaker_cache_seconds=1)
    s3 = aws.client("s3")
    # A landing bucket managed elsewhere, without the put guard that refuses cold uploads (where the emulator
    # evaluates bucket policies, as it does once the local emulator's patches are in this process).
    s3.delete_bucket_policy(Bucket=stack.landing_bucket)
    for b in range(3):
        batch = []
        for i, storage_class in enumerate(("GLACIER", "DEEP_ARCHIVE")):
            key = f"cold/{b}/{i}.bin"
            put = s3.put_object(Bucket=stack.landing_bucket, Key=key, Body=b"cold", StorageClass=storage_class)
            record = s3_record(stack.landing_bucket, key, version_id=put["VersionId"], etag=put["ETag"].strip('"'), size=4)
            batch.append(sqs_record(notification(record), message_id=f"cold-{b}-{i}"))
        assert set(runtime.aggregator.process(batch).failed.values()) == {"object_unreadable"}
    note = runtime.aggregator.ledger.failure_note("cold-0-0")
    assert note.reason == "object_unreadable" and "InvalidObjectState" in note.detail
    assert runtime.aggregator.breaker.read().state == "MISSING"  # not one failure was counted
    assert runtime.aggregator.process([land("honest.json", b"{}").message("honest")]).returned == []


def test_an_archive_bucket_gone_fails_one_file_batches_as_an_s3_outage(aws, env, stack, land):
    runtime = runtime_with(aws, env, breaker_failure_threshold=2, breaker_recovery_seconds=600, breaker_cache_seconds=1)
    aws.client("s3").delete_bucket(Bucket=stack.archive_bucket)  # every archive PUT: NoSuchBucket
    for i in range(2):
        result = runtime.aggregator.process([land(f"low/{i}.json", b"{}").message(f"low-{i}")])
        assert result.failed == {f"low-{i}": "storage_unavailable"} and result.systemic == "s3"
    reading = runtime.aggregator.breaker.read()
    assert reading.state == "OPEN" and reading.dependency == "s3"
