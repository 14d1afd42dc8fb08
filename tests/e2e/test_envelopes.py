"""Notifications sent to the local stack's queue by hand, as SNS and EventBridge would send them, are delivered once."""

from __future__ import annotations

import json

from conftest import delivered_files, wait_until
from support import TEST_EVENT, eventbridge_object_created, notification, s3_record, sns_notification


def test_sns_and_eventbridge_notifications_are_delivered_once_and_a_wrapped_test_event_is_acknowledged(local_stack):
    s3, sqs = local_stack.session.client("s3"), local_stack.session.client("sqs")
    bucket, queue = local_stack.resources.landing_bucket, local_stack.resources.queue_url
    # As with notification_source in Terraform: the bucket notifies nobody, the other path does.
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    landed = {}
    for key in ("via sns+raw off.json", "via eventbridge.json"):
        put = s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
        landed[key] = (put["VersionId"], put["ETag"].strip('"'))
    sns_key, eventbridge_key = landed
    version, etag = landed[sns_key]
    wrapped = sns_notification(notification(s3_record(bucket, sns_key, version_id=version, etag=etag, size=len(sns_key))))
    version, etag = landed[eventbridge_key]
    routed = eventbridge_object_created(bucket, eventbridge_key, version_id=version, etag=etag, size=len(eventbridge_key))
    for body in (wrapped, routed, routed, sns_notification(TEST_EVENT)):  # the EventBridge event twice: at least once
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(body))
    assert wait_until(lambda: local_stack.fake_nifi.state.stats()["distinct_files"] == 2, timeout=30)
    assert local_stack.drain(15)
    assert {k: v for k, v in delivered_files(local_stack).items()} == {k: [k.encode()] for k in landed}
    # Drained: every message acknowledged, the wrapped TestEvent included. (The EventBridge copy handled by a
    # second invocation at the same time fails once as claim_busy, comes back, and is skipped as delivered.)
    assert local_stack.summary()["dlq"] == 0
