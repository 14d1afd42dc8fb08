"""The adapters of the operator commands against moto: every answer, and every failure as a courier error."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from courier.adapters.breaker import DynamoDBBreakerTable
from courier.adapters.cloudwatch import CloudWatchMetrics
from courier.adapters.mapping import LambdaEventSourceMapping
from courier.adapters.receiver import HTTPSReceiverAdmin
from courier.adapters.s3 import DELIVERED_TAG, S3ArchiveReader
from courier.adapters.sqs import SQSQueue
from courier.errors import AwsCallError, BundleMissingError, ReceiverUnavailableError
from courier.resources import DLQ, FUNCTION_NAME, QUEUE
from support import admin_token


@pytest.fixture
def archived(aws, stack):
    """One object archived as the aggregator archives it, with its sha256 in metadata and S3's checksum."""
    import base64

    data = b"bundle bytes"
    digest = hashlib.sha256(data).hexdigest()
    key = "bundles/2026/11/26/10/" + digest + ".tar.gz"
    aws.client("s3").put_object(
        Bucket=stack.archive_bucket,
        Key=key,
        Body=data,
        Metadata={"sha256": digest},
        ChecksumAlgorithm="SHA256",
        ChecksumSHA256=base64.b64encode(bytes.fromhex(digest)).decode(),
    )
    return key, data, digest


def test_archive_reader_lists_heads_reads_and_checks_a_bundle(aws, stack, archived):
    key, data, digest = archived
    reader = S3ArchiveReader(aws.client("s3"), stack.archive_bucket)
    assert reader.keys("bundles/2026/11/26/") == [key] and reader.count("bundles/") == 1
    assert reader.keys("bundles/2026/11/27/") == [] and reader.count("bundles/2026/11/27/") == 0
    head = reader.head(key)
    assert (head.key, head.size, head.sha256, head.storage_class, head.restore) == (key, len(data), digest, None, None)
    assert reader.read(key) == data
    stream = reader.open(key)  # how replay and `archive verify --deep` read a bundle: streamed
    assert stream.size == len(data) and stream.body.read(10) + stream.body.read() == data
    stream.body.close()
    with pytest.raises(BundleMissingError):
        reader.open("bundles/none.tar.gz")
    assert reader.stored_sha256(key) == digest
    assert reader.was_delivered(key) is False
    tags = {"TagSet": [{"Key": DELIVERED_TAG, "Value": "true"}]}
    aws.client("s3").put_object_tagging(Bucket=stack.archive_bucket, Key=key, Tagging=tags)
    assert reader.was_delivered(key) is True


def test_archive_reader_restores_a_deep_archive_bundle(aws, stack, archived):
    key, _, _ = archived
    s3 = aws.client("s3")
    s3.copy_object(
        Bucket=stack.archive_bucket,
        Key=key,
        CopySource={"Bucket": stack.archive_bucket, "Key": key},
        StorageClass="DEEP_ARCHIVE",
        MetadataDirective="COPY",
    )
    reader = S3ArchiveReader(s3, stack.archive_bucket)
    assert reader.head(key).storage_class == "DEEP_ARCHIVE"
    with pytest.raises(AwsCallError, match=f"GET of archived {key} failed: InvalidObjectState") as raised:
        reader.read(key)
    assert raised.value.code == "InvalidObjectState"
    reader.restore(key, days=1, tier="Bulk")
    assert 'ongoing-request="false"' in (reader.head(key).restore or "")  # moto restores at once


def test_archive_reader_tells_a_missing_bundle_from_a_failed_call(aws, stack):
    reader = S3ArchiveReader(aws.client("s3"), stack.archive_bucket)
    with pytest.raises(BundleMissingError, match="no object bundles/none.tar.gz"):
        reader.head("bundles/none.tar.gz")
    elsewhere = S3ArchiveReader(aws.client("s3"), "no-such-bucket")
    with pytest.raises(AwsCallError, match="NoSuchBucket") as raised:
        elsewhere.keys("bundles/")
    assert not isinstance(raised.value, BundleMissingError)


def test_queue_depth_receive_send_delete_and_no_move_task_on_moto(aws, stack):
    sqs = aws.client("sqs")
    queue, dlq = SQSQueue.named(sqs, QUEUE), SQSQueue.named(sqs, DLQ, url=stack.dlq_url)
    assert (queue.url, queue.arn, dlq.arn) == (stack.queue_url, stack.queue_arn, stack.dlq_arn)
    dlq.send('{"n": 1}', {"origin": {"DataType": "String", "StringValue": "test"}})
    assert dlq.depth() == (1, 0)
    (message,) = dlq.receive(10, visibility_timeout=30)
    assert message["Body"] == '{"n": 1}' and message["MessageAttributes"]["origin"]["StringValue"] == "test"
    assert int(message["Attributes"]["ApproximateReceiveCount"]) == 1
    assert dlq.depth() == (0, 1)
    dlq.make_visible([message["ReceiptHandle"]])
    assert dlq.depth() == (1, 0)
    (again,) = dlq.receive(10, visibility_timeout=30)
    dlq.delete(again["ReceiptHandle"])
    assert dlq.depth() == (0, 0)
    assert dlq.start_move_task(queue) is None  # moto has no message move tasks: the caller moves by hand


def test_queue_retention_is_read_from_the_queue_as_it_is_set_now(aws, stack):
    sqs = aws.client("sqs")
    queue = SQSQueue(sqs, stack.queue_url)
    assert queue.retention_seconds() == 345600
    sqs.set_queue_attributes(QueueUrl=stack.queue_url, Attributes={"MessageRetentionPeriod": "1209600"})  # raised in an outage
    assert queue.retention_seconds() == 1209600


def test_queue_failures_are_courier_errors(aws, stack):
    with pytest.raises(AwsCallError, match="looking up the queue courier-nothing failed"):
        SQSQueue.named(aws.client("sqs"), "courier-nothing")


def test_breaker_table_states(aws, stack):
    dynamodb = aws.client("dynamodb")
    table = DynamoDBBreakerTable(dynamodb, stack.breaker_table)
    assert table.states() == set()
    dynamodb.put_item(TableName=stack.breaker_table, Item={"id": {"S": "nifi"}, "state": {"S": "OPEN"}})
    dynamodb.put_item(TableName=stack.breaker_table, Item={"id": {"S": "parked#1"}, "receipt_handle": {"S": "h"}})
    assert table.states() == {"OPEN"}
    with pytest.raises(AwsCallError, match="reading the breaker table nothing failed"):
        DynamoDBBreakerTable(dynamodb, "nothing").states()


def test_mapping_of_a_function(aws, stack):
    from courier.local.emulator import MappingSettings, register_function

    client = aws.client("lambda")
    assert LambdaEventSourceMapping.of_function(client, FUNCTION_NAME) is None
    uuid = register_function(aws, stack.queue_arn, MappingSettings(10, 1, 2), 30)
    mapping = LambdaEventSourceMapping.of_function(client, FUNCTION_NAME)
    assert mapping is not None and mapping.uuid == uuid and mapping.enabled() is True


def test_cloudwatch_datapoints(aws):
    client = aws.client("cloudwatch")
    now = datetime.now(UTC)
    client.put_metric_data(
        Namespace="courier",
        MetricData=[
            {
                "MetricName": "FilesDelivered",
                "Dimensions": [{"Name": "service", "Value": "courier"}],
                "Value": 3,
                "Timestamp": now,
            }
        ],
    )
    since, until = now - timedelta(hours=1), now + timedelta(minutes=1)
    metrics = CloudWatchMetrics(client)
    points = metrics.datapoints("courier", "FilesDelivered", {"service": "courier"}, since, until, 3600, statistics=["Sum"])
    assert sum(p["Sum"] for p in points) == 3


def test_receiver_admin_reads_stats_and_reports_an_absent_receiver(fake_nifi, ca_bundle):
    stats = HTTPSReceiverAdmin(f"https://127.0.0.1:{fake_nifi.port}", ca_bundle, admin_token(fake_nifi)).stats()
    assert stats["distinct_files"] == 0 and stats["mode"] == "ok"
    port = fake_nifi.port
    fake_nifi.stop()
    with pytest.raises(ReceiverUnavailableError, match="did not answer"):
        HTTPSReceiverAdmin(f"https://127.0.0.1:{port}", ca_bundle, "no-token", timeout=1).stats()
