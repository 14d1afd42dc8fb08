"""The aggregator end to end against moto and a real local HTTPS receiver."""

from __future__ import annotations

import base64
import hashlib
import json
import tarfile

import httpx
import pytest

from conftest import PASSWORD, USERNAME
from courier import handler
from courier.adapters.nifi import tls_context
from courier.adapters.s3 import SHA256_METADATA
from courier.compose import build_runtime
from courier.config import Settings
from courier.local.fake_nifi import CONTENT_PATH
from fakes import RecordingTransport
from support import TEST_EVENT, LambdaContext, eventbridge_object_created, notification, s3_record, sns_notification, sqs_record


def archived(aws, stack):
    s3 = aws.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=stack.archive_bucket, Prefix="bundles/").get("Contents", [])]
    return {k: s3.get_object(Bucket=stack.archive_bucket, Key=k) for k in keys}


def received_files(fake_nifi) -> dict[str, bytes]:
    """key -> content over every bundle the receiver accepted."""
    files: dict[str, bytes] = {}
    for path in sorted(fake_nifi.state.received_dir.glob("*.tar.gz")):
        with tarfile.open(path, mode="r:gz") as tar:
            manifest = json.load(tar.extractfile("manifest.json"))
            for entry in manifest["files"]:
                files[entry["key"]] = tar.extractfile(entry["member"]).read()
    return files


def test_successful_batch_is_archived_and_delivered(runtime, land, fake_nifi, aws, stack):
    files = [land(f"in/file-{i}.json", json.dumps({"n": i}).encode()) for i in range(5)]
    result = runtime.aggregator.process([f.message() for f in files])
    assert result.response() == {"batchItemFailures": []}
    assert received_files(fake_nifi) == {f.key: f.content for f in files}
    ((key, obj),) = archived(aws, stack).items()
    body = obj["Body"].read()
    (bundle,) = fake_nifi.state.bundles
    assert key == f"bundles/{key.split('/', 1)[1]}" and key.endswith(f"/{bundle.sha256}.tar.gz")
    assert obj["Metadata"][SHA256_METADATA] == bundle.sha256 == hashlib.sha256(body).hexdigest()
    assert obj["ContentType"] == "application/gzip" and obj["ServerSideEncryption"] == "AES256"
    assert bundle.file_count == 5


def test_header_hash_equals_body_hash_and_archive_metadata(aws, env, land, fake_nifi, stack):
    settings = Settings.from_env(env)
    # Watch the wire: the runtime's own NiFiClient sends through a real HTTPS transport with its TLS context.
    wire = RecordingTransport(httpx.HTTPTransport(verify=tls_context(settings.nifi_ca_bundle)))
    puts = []
    aws.events.register("provide-client-params.s3.PutObject", lambda params, **_: puts.append(dict(params)))
    runtime = build_runtime(settings, aws, transport=wire)
    try:
        runtime.aggregator.process([land("a.json", b'{"a": 1}').message()])
    finally:
        runtime.nifi.close()
    (sent,) = wire.requests
    sha = hashlib.sha256(sent.body).hexdigest()
    assert sent.headers["X-Content-SHA256"] == sha
    assert "Content-Encoding" not in sent.headers
    (obj,) = archived(aws, stack).values()
    assert obj["Metadata"][SHA256_METADATA] == sha
    # S3 verifies the upload against this checksum (moto accepts it but does not store it).
    (put_params,) = [p for p in puts if p["Key"].startswith("bundles/")]
    assert put_params["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(sha)).decode()


def test_duplicate_event_is_not_redelivered(runtime, land, fake_nifi):
    landed = land("once.json", b"{}")
    assert runtime.aggregator.process([landed.message()]).response()["batchItemFailures"] == []
    again = runtime.aggregator.process([landed.message()])
    assert again.response()["batchItemFailures"] == []
    assert [i.key for i in again.skipped] == ["once.json"]
    assert len(fake_nifi.state.bundles) == 1


def test_same_object_twice_in_one_batch_is_bundled_once(runtime, land, fake_nifi):
    landed = land("twice.json", b"{}")
    result = runtime.aggregator.process([landed.message("m1"), landed.message("m2")])
    assert result.response()["batchItemFailures"] == []
    assert fake_nifi.state.bundles[0].file_count == 1


def test_partial_failure_returns_exactly_the_failed_message_ids(runtime, land, fake_nifi, aws, stack):
    good = [land(f"good-{i}.json", b"{}") for i in range(3)]
    deleted = land("deleted.json", b"{}")
    aws.client("s3").delete_object(Bucket=stack.landing_bucket, Key=deleted.key, VersionId=deleted.version_id)
    records = [g.message(f"good-{i}") for i, g in enumerate(good)]
    records += [
        deleted.message("deleted"),
        sqs_record("{not json", message_id="malformed"),
        sqs_record(TEST_EVENT, message_id="test-event"),
    ]
    result = runtime.aggregator.process(records)
    assert result.response() == {"batchItemFailures": [{"itemIdentifier": "deleted"}, {"itemIdentifier": "malformed"}]}
    assert result.failed == {"deleted": "object_missing", "malformed": "malformed_event"}
    assert set(received_files(fake_nifi)) == {g.key for g in good}


def test_awkward_keys_round_trip(runtime, land, fake_nifi):
    keys = [
        "with space.json",
        "plus+sign.json",
        "percent%41.json",
        "unicodé/日本.json",
        "deep/a/b/c/d/e.json",
        "../escape.json",
        "a",
        "a/b",
    ]
    files = [land(k, f"content of {k}".encode()) for k in keys]
    assert runtime.aggregator.process([f.message() for f in files]).returned == []
    assert received_files(fake_nifi) == {f.key: f.content for f in files}


def test_zero_byte_file_is_delivered(runtime, land, fake_nifi):
    landed = land("empty.json", b"")
    assert runtime.aggregator.process([landed.message()]).returned == []
    assert received_files(fake_nifi) == {"empty.json": b""}


def _through_every_path(landed, bucket):
    """The same revision as S3 -> SQS, S3 -> SNS -> SQS (raw delivery off) and S3 -> EventBridge -> SQS announce it."""
    eventbridge = eventbridge_object_created(
        bucket, landed.key, version_id=landed.version_id, etag=landed.etag, size=len(landed.content)
    )
    return {
        "plain": landed.message("plain"),
        "sns": sqs_record(sns_notification(notification(landed.record)), message_id="sns"),
        "eventbridge": sqs_record(eventbridge, message_id="eventbridge"),
    }


def test_a_file_announced_through_sns_and_eventbridge_is_delivered_once(runtime, land, fake_nifi, stack):
    in_one_batch, one_by_one = land("in/with space+plus.json", b"1"), land("in/later.json", b"2")
    assert runtime.aggregator.process(list(_through_every_path(in_one_batch, stack.landing_bucket).values())).returned == []
    for message in _through_every_path(one_by_one, stack.landing_bucket).values():
        assert runtime.aggregator.process([message]).returned == []
    assert received_files(fake_nifi) == {"in/with space+plus.json": b"1", "in/later.json": b"2"}
    assert [b.file_count for b in fake_nifi.state.bundles] == [1, 1]


def test_an_sns_wrapped_test_event_is_acknowledged(runtime, fake_nifi):
    result = runtime.aggregator.process([sqs_record(sns_notification(TEST_EVENT), message_id="wrapped")])
    assert result.returned == [] and fake_nifi.state.bundles == []


def test_test_event_and_other_events_are_acknowledged_without_delivery(runtime, fake_nifi, stack):
    removed = sqs_record(notification(s3_record(stack.landing_bucket, "x", event_name="ObjectRemoved:Delete")))
    result = runtime.aggregator.process([sqs_record(TEST_EVENT), removed])
    assert result.returned == [] and fake_nifi.state.bundles == []


def test_batch_above_the_limit_is_split_into_bundles_and_a_file_above_the_ceiling_refused(aws, env, land, fake_nifi):
    limits = {"COURIER_MAX_BUNDLE_BYTES": "2048", "COURIER_MAX_OBJECT_BYTES": "3000"}
    runtime = handler.build_runtime(Settings.from_env({**env, **limits}), aws)
    files = [land(f"big-{i}.json", bytes([65 + i]) * 900) for i in range(5)]
    too_big = land("huge.json", b"x" * 4096)
    result = runtime.aggregator.process([f.message(f"m{i}") for i, f in enumerate(files)] + [too_big.message("huge")])
    assert result.failed == {"huge": "object_too_large"}
    assert len(fake_nifi.state.bundles) == 3 and sum(b.file_count for b in fake_nifi.state.bundles) == 5
    assert received_files(fake_nifi) == {f.key: f.content for f in files}


@pytest.mark.parametrize("mode", ["error", "unavailable", "timeout", "reset"])
def test_nifi_failure_marks_nothing_complete_and_the_retry_delivers(runtime, land, fake_nifi, mode):
    files = [land(f"f{i}.json", b"{}") for i in range(3)]
    messages = [f.message(f"m{i}") for i, f in enumerate(files)]
    fake_nifi.state.set_mode(mode)
    failed = runtime.aggregator.process(messages)
    assert sorted(failed.failed) == ["m0", "m1", "m2"]
    assert set(failed.failed.values()) == {"nifi_unavailable"}
    for f in files:
        assert all(r.status != "COMPLETE" for r in runtime.aggregator.ledger.lookup(f.record["s3"]["bucket"]["name"], f.key))
    fake_nifi.state.set_mode("ok")
    retried = runtime.aggregator.process(messages)
    assert retried.returned == [] and len(retried.delivered) == 3
    assert received_files(fake_nifi) == {f.key: f.content for f in files}


def test_connection_refused_fails_the_bundle(aws, env, land):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    runtime = handler.build_runtime(
        Settings.from_env({**env, "COURIER_NIFI_URL": f"https://127.0.0.1:{port}{CONTENT_PATH}"}), aws
    )
    result = runtime.aggregator.process([land("x.json", b"{}").message("m")])
    assert result.failed == {"m": "nifi_unavailable"}


def test_hash_rejection_fails_the_bundle(runtime, land, fake_nifi):
    fake_nifi.state.set_mode("reject-hash")
    assert runtime.aggregator.process([land("x.json", b"{}").message("m")]).failed == {"m": "nifi_hash_rejected"}


def test_rotated_secret_is_reread_after_a_401(runtime, land, fake_nifi, aws, stack):
    from courier.delivery import Credentials

    assert runtime.aggregator.process([land("before.json", b"{}").message()]).returned == []  # caches the secret
    new = {"username": USERNAME, "password": "rotated-" + PASSWORD}
    aws.client("secretsmanager").put_secret_value(SecretId=stack.secret_id, SecretString=json.dumps(new))
    fake_nifi.state.set_credentials(Credentials(**new))
    result = runtime.aggregator.process([land("after.json", b"{}").message()])
    assert result.returned == []
    assert fake_nifi.state.responses[401] == 1 and fake_nifi.state.responses[200] == 2


def test_wrong_credentials_after_reread_are_an_auth_failure(runtime, land, fake_nifi):
    from courier.delivery import Credentials

    fake_nifi.state.set_credentials(Credentials(username="someone", password="else"))
    result = runtime.aggregator.process([land("x.json", b"{}").message("m")])
    assert result.failed == {"m": "nifi_auth"} and fake_nifi.state.responses[401] == 2


def test_bearer_token_secret_is_supported(runtime, land, fake_nifi, aws, stack):
    from courier.delivery import Credentials

    aws.client("secretsmanager").put_secret_value(SecretId=stack.secret_id, SecretString=json.dumps({"token": "tok-1"}))
    fake_nifi.state.set_credentials(Credentials(token="tok-1"))
    assert runtime.aggregator.process([land("x.json", b"{}").message()]).returned == []


def test_lambda_handler_reads_settings_from_the_environment(monkeypatch, env, land, fake_nifi):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    handler.reset()
    try:
        response = handler.lambda_handler({"Records": [land("via-handler.json", b"{}").message()]}, LambdaContext())
    finally:
        handler.reset()
    assert response == {"batchItemFailures": []}
    assert len(fake_nifi.state.bundles) == 1


def test_logs_and_metrics_carry_no_content_or_credentials(monkeypatch, env, land, fake_nifi, capsys, json_logs):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    payload = b'{"ssn": "SECRET-PAYLOAD-7731"}'
    records = [land(f"p{i}.json", payload).message() for i in range(3)] + [sqs_record('{"Records": "SECRET-PAYLOAD-7731"}')]
    fake_nifi.state.set_mode("unavailable")
    handler.reset()
    try:
        monkeypatch.setenv("COURIER_LOG_LEVEL", "DEBUG")
        handler.lambda_handler({"Records": records}, LambdaContext())
        fake_nifi.state.set_mode("ok")
        handler.lambda_handler({"Records": records}, LambdaContext())
    finally:
        handler.reset()
    out = capsys.readouterr()
    text = out.out + out.err + json_logs.getvalue()
    assert '"bundle delivered"' in text and "FilesDelivered" in text  # the logs and EMF were captured
    basic = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    for secret in ("SECRET-PAYLOAD-7731", PASSWORD, basic):
        assert secret not in text


def test_a_notification_naming_the_archive_bucket_fails_alone_and_never_reaches_nifi(runtime, aws, stack, land, fake_nifi):
    """The role may read the archive's bundles: COURIER_LANDING_BUCKETS keeps a forged event from delivering them."""
    assert runtime.aggregator.process([land("first.json", b"{}").message("first")]).returned == []
    ((key, bundle),) = archived(aws, stack).items()
    # Names the archived bundle exactly (its eTag, its version if the archive keeps versions): on main it was delivered.
    forged = s3_record(stack.archive_bucket, key, etag=bundle["ETag"].strip('"'), version_id=bundle.get("VersionId"), size=10)
    result = runtime.aggregator.process([sqs_record(notification(forged), message_id="forged")])
    assert result.failed == {"forged": "foreign_bucket"}
    assert sum(fake_nifi.state.responses.values()) == 1
    assert runtime.aggregator.ledger.failure_note("forged").reason == "foreign_bucket"
