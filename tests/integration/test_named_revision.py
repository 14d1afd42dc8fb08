"""The aggregator delivers the revision an event names, never another (moto's S3, a local HTTPS NiFi)."""

from __future__ import annotations

import json
import tarfile

import pytest

from support import notification, s3_record, sqs_record


def contents_delivered(fake_nifi) -> list[tuple[str, bytes]]:
    found = []
    for path in sorted(fake_nifi.state.received_dir.glob("*.tar.gz")):
        with tarfile.open(path, "r:gz") as tar:
            for entry in json.load(tar.extractfile("manifest.json"))["files"]:
                found.append((entry["version_id"], tar.extractfile(entry["member"]).read()))
    return found


def test_three_quick_writes_of_one_key_deliver_three_versions_each_with_its_own_content(runtime, stack, aws, queued, fake_nifi):
    s3 = aws.client("s3")
    versions = {
        s3.put_object(Bucket=stack.landing_bucket, Key="same.json", Body=f"v{i}".encode())["VersionId"]: f"v{i}".encode()
        for i in range(3)
    }
    records = [r for r in queued() if "Records" in json.loads(r["body"])]
    assert {json.loads(r["body"])["Records"][0]["s3"]["object"]["versionId"] for r in records} == set(versions)
    assert runtime.aggregator.process(records).returned == []
    assert sorted(contents_delivered(fake_nifi)) == sorted(versions.items())
    # The same notifications again, in AWS's exact shape: every version is already delivered.
    again = runtime.aggregator.process([sqs_record(json.loads(r["body"])) for r in records])
    assert again.returned == [] and len(again.skipped) == 3 and len(fake_nifi.state.bundles) == 1


def test_an_overwritten_unversioned_revision_is_superseded_not_delivered_with_new_content(runtime, stack, aws, fake_nifi):
    s3 = aws.client("s3")
    s3.put_bucket_versioning(Bucket=stack.landing_bucket, VersioningConfiguration={"Status": "Suspended"})
    old = s3.put_object(Bucket=stack.landing_bucket, Key="over.json", Body=b"old")["ETag"].strip('"')
    s3.put_object(Bucket=stack.landing_bucket, Key="over.json", Body=b"new")
    event = sqs_record(notification(s3_record(stack.landing_bucket, "over.json", etag=old, size=3)), message_id="m-old")
    result = runtime.aggregator.process([event])
    assert result.failed == {"m-old": "object_superseded"}
    assert fake_nifi.state.bundles == []  # never the new content under the old event's identity
    note = runtime.aggregator.ledger.failure_note("m-old")
    assert note.reason == "object_superseded" and "overwritten" in note.detail


def test_the_local_landing_bucket_has_the_lifecycle_that_keeps_undelivered_revisions(aws, stack):
    from courier.resources import landing_lifecycle

    rules = aws.client("s3").get_bucket_lifecycle_configuration(Bucket=stack.landing_bucket)["Rules"]
    assert {r["ID"]: r for r in rules} == {r["ID"]: r for r in landing_lifecycle()["Rules"]}


def test_the_local_landing_bucket_refuses_what_courier_cannot_read_with_the_terraforms_policy(aws, stack):
    """The statements are the Terraform's (tests/unit/test_terraform.py); the emulator gets them where it can
    evaluate them (a plain upload is not denied), else none (its conditions would deny every upload)."""
    from botocore.exceptions import ClientError

    from courier.local.provision import emulator_evaluates_put_guard
    from courier.resources import LANDING_OBJECT_OWNERSHIP, landing_put_guard

    s3 = aws.client("s3")
    wanted = {"Version": "2012-10-17", "Statement": landing_put_guard(f"arn:aws:s3:::{stack.landing_bucket}")}
    if emulator_evaluates_put_guard(wanted):
        assert json.loads(s3.get_bucket_policy(Bucket=stack.landing_bucket)["Policy"]) == wanted
    else:
        with pytest.raises(ClientError, match="NoSuchBucketPolicy"):
            s3.get_bucket_policy(Bucket=stack.landing_bucket)
    (rule,) = s3.get_bucket_ownership_controls(Bucket=stack.landing_bucket)["OwnershipControls"]["Rules"]
    assert rule == {"ObjectOwnership": LANDING_OBJECT_OWNERSHIP}


def test_delivery_tags_exactly_the_delivered_version_and_keeps_the_uploaders_tags(runtime, stack, aws, land, fake_nifi):
    s3 = aws.client("s3")
    first = land("tagged.json", b"one")
    s3.put_object_tagging(
        Bucket=stack.landing_bucket,
        Key="tagged.json",
        VersionId=first.version_id,
        Tagging={"TagSet": [{"Key": "team", "Value": "x"}]},
    )
    second = land("tagged.json", b"two")  # a newer, undelivered revision of the same key
    assert runtime.aggregator.process([first.message("m1")]).returned == []

    def tags(version):
        return s3.get_object_tagging(Bucket=stack.landing_bucket, Key="tagged.json", VersionId=version)["TagSet"]

    assert sorted((t["Key"], t["Value"]) for t in tags(first.version_id)) == [("courier-delivered", "true"), ("team", "x")]
    assert tags(second.version_id) == []  # not delivered yet: the lifecycle's cap applies
