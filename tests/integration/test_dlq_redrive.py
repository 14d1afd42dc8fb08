"""Redrive against moto: in-process, and through moto's HTTP server as the local stack runs it."""

from __future__ import annotations

import socket

import boto3
import pytest

from courier.adapters.sqs import SQSQueue
from courier.dlq import list_dead_letters, redrive


def test_redrive_falls_back_to_receive_send_delete_and_moves_everything(aws, stack):
    sqs = aws.client("sqs")
    dlq, queue = SQSQueue(sqs, stack.dlq_url, stack.dlq_arn), SQSQueue(sqs, stack.queue_url, stack.queue_arn)
    for i in range(12):
        sqs.send_message(QueueUrl=stack.dlq_url, MessageBody=f'{{"n": {i}}}')
    assert len(list_dead_letters(dlq, None)) == 12  # listing leaves them in place
    result = redrive(dlq, queue)
    assert (result.moved, result.method) == (12, "receive-send-delete")
    assert list_dead_letters(dlq, None) == []
    attributes = sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    assert int(attributes["Attributes"]["ApproximateNumberOfMessages"]) == 12 + 1  # plus the provisioning's s3:TestEvent


def test_redrive_max_moves_no_more(aws, stack):
    sqs = aws.client("sqs")
    dlq, queue = SQSQueue(sqs, stack.dlq_url, stack.dlq_arn), SQSQueue(sqs, stack.queue_url, stack.queue_arn)
    for i in range(5):
        sqs.send_message(QueueUrl=stack.dlq_url, MessageBody=f'{{"n": {i}}}')
    assert redrive(dlq, queue, max_messages=2).moved == 2
    assert len(list_dead_letters(dlq, None)) == 3


@pytest.fixture
def moto_server():
    """moto's standalone server on a free loopback port: it answers StartMessageMoveTask with an HTML 500 page."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_plain_redrive_over_http_falls_back_when_the_move_task_answers_500(moto_server):
    sqs = boto3.client("sqs", endpoint_url=moto_server, region_name="eu-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    dlq = SQSQueue(sqs, sqs.create_queue(QueueName="courier-dlq")["QueueUrl"])
    queue = SQSQueue(sqs, sqs.create_queue(QueueName="courier-queue")["QueueUrl"])
    for i in range(3):
        sqs.send_message(QueueUrl=dlq.url, MessageBody=f'{{"n": {i}}}')
    assert dlq.start_move_task(queue) is None  # the emulator's HTML 500, not an error of the redrive
    result = redrive(dlq, queue)
    assert (result.moved, result.method) == (3, "receive-send-delete")
    assert dlq.depth() == (0, 0) and queue.depth() == (3, 0)
