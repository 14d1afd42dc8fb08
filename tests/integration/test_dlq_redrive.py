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
