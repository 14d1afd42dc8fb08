"""The sweep on moto's versioned S3, after real deliveries: the aggregator's own index lines and delivered tags
decide, and DeleteObjects removes exactly the delivered versions (R13: nothing undelivered, nothing newer)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from courier import handler
from courier.compose import build_sweep
from courier.config import Settings
from courier.errors import ConfigError
from courier.sweep import SWEEP_EVENT


def _versions(aws, bucket: str, key: str) -> list[str]:
    listed = aws.client("s3").list_object_versions(Bucket=bucket, Prefix=key)
    return sorted(v["VersionId"] for v in listed.get("Versions", []) if v["Key"] == key)


def _a_week_and_two_hours_later() -> datetime:
    return datetime.now(UTC) + timedelta(days=7, hours=2)


def test_a_delivered_revision_is_swept_after_the_week_while_its_newer_upload_stays(runtime, env, aws, stack, land):
    first, other = land("in/a.csv", b"a1"), land("in/b.csv", b"b1")
    assert runtime.aggregator.process([first.message(), other.message()]).failed == {}
    newer = land("in/a.csv", b"a2")  # not delivered yet (its message is still queued)

    result = build_sweep(Settings.from_env(env), aws).sweep().run(_a_week_and_two_hours_later())

    assert result.versions_swept == 2 and result.failures == 0
    assert _versions(aws, stack.landing_bucket, "in/a.csv") == [newer.version_id]
    assert _versions(aws, stack.landing_bucket, "in/b.csv") == []


def test_an_undelivered_bundles_revisions_stay_and_a_young_partition_is_untouched(runtime, env, aws, stack, land, fake_nifi):
    fake_nifi.state.set_mode("unavailable")  # NiFi refuses: archived and indexed, never tagged delivered
    refused = land("in/refused.csv", b"r")
    runtime.aggregator.process([refused.message()])
    fake_nifi.state.set_mode("ok")
    young = land("in/young.csv", b"y")
    assert runtime.aggregator.process([young.message()]).failed == {}
    sweep = build_sweep(Settings.from_env(env), aws)

    sweep.sweep().run(datetime.now(UTC) + timedelta(days=7))  # the week is not over for either hour
    assert _versions(aws, stack.landing_bucket, "in/young.csv") == [young.version_id]

    result = sweep.sweep().run(_a_week_and_two_hours_later())
    assert _versions(aws, stack.landing_bucket, "in/refused.csv") == [refused.version_id]
    assert _versions(aws, stack.landing_bucket, "in/young.csv") == []
    assert result.bundles_kept >= 1


def test_the_controller_function_runs_the_sweep_for_its_sweep_schedules_input(runtime, env, aws, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    handler.reset()
    try:
        answer = handler.controller_handler(dict(SWEEP_EVENT), SimpleNamespace(get_remaining_time_in_millis=lambda: 60_000))
    finally:
        handler.reset()
    assert answer["failures"] == 0 and answer["versions_swept"] == 0  # nothing is a week old yet
    assert len(answer["partitions"]) == 2


def test_without_the_landing_buckets_the_sweep_refuses_to_start_naming_the_setting(env, aws):
    unset = {k: v for k, v in env.items() if k != "COURIER_LANDING_BUCKETS"}
    with pytest.raises(ConfigError, match="COURIER_LANDING_BUCKETS"):
        build_sweep(Settings.from_env(unset), aws)


def test_a_null_version_is_never_swept_so_an_overwrite_after_delivery_stays(runtime, env, aws, stack, land):
    # Versioning Suspended: a PUT writes the key's one "null" version in place. S3 answers the delivered
    # GET with VersionId "null" (moto answers none; tests/unit/test_sweep.py has the "null" line), so
    # the index would name (key, "null"): after an overwrite, the new, undelivered upload.
    s3 = aws.client("s3")
    s3.put_bucket_versioning(Bucket=stack.landing_bucket, VersioningConfiguration={"Status": "Suspended"})
    try:
        first = land("in/suspended.csv", b"first")
        assert runtime.aggregator.process([first.message()]).failed == {}
        land("in/suspended.csv", b"overwritten, not delivered yet")

        result = build_sweep(Settings.from_env(env), aws).sweep().run(_a_week_and_two_hours_later())

        body = s3.get_object(Bucket=stack.landing_bucket, Key="in/suspended.csv")["Body"].read()
        assert body == b"overwritten, not delivered yet"
        assert result.versions_swept == 0 and result.lines_skipped >= 1
    finally:
        s3.put_bucket_versioning(Bucket=stack.landing_bucket, VersioningConfiguration={"Status": "Enabled"})


def test_a_key_xml_cannot_carry_is_swept_alone_and_the_rest_of_its_request_too(runtime, env, aws, stack, land):
    # DeleteObjects sends keys in an XML body: a control character makes the whole request malformed, and
    # XML reads "\r" as "\n" (another key). An uploader's key must not keep its hour's 999 others stored.
    hostile, plain = land("in/bell\x07.csv", b"h"), land("in/plain.csv", b"p")
    assert runtime.aggregator.process([hostile.message(), plain.message()]).failed == {}

    result = build_sweep(Settings.from_env(env), aws).sweep().run(_a_week_and_two_hours_later())

    assert result.failures == 0 and result.versions_swept == 2
    assert _versions(aws, stack.landing_bucket, "in/plain.csv") == []
    with pytest.raises(ClientError, match="404"):  # moto cannot list this key in its XML either: ask by version
        aws.client("s3").head_object(Bucket=stack.landing_bucket, Key=hostile.key, VersionId=hostile.version_id)
