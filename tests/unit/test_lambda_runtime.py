"""The partial batch response contract, as Lambda applies it."""

import pytest

from courier.events import lambda_sqs_record
from courier.local.lambda_runtime import failed_message_ids

IDS = ["a", "b", "c"]


@pytest.mark.parametrize("response", [None, {}, "", {"batchItemFailures": []}, {"batchItemFailures": None}])
def test_empty_responses_are_full_success(response):
    assert failed_message_ids(response, IDS) == set()


def test_listed_failures_fail_alone():
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, IDS) == {"b"}


@pytest.mark.parametrize(
    "response",
    [
        "garbage",
        ["a"],
        {"batchItemFailures": "a"},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"id": "a"}]},
        {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]},
    ],
)
def test_malformed_responses_fail_the_whole_batch(response):
    assert failed_message_ids(response, IDS) == set(IDS)


def test_sqs_message_becomes_a_lambda_record():
    message = {
        "MessageId": "m",
        "ReceiptHandle": "r",
        "Body": "{}",
        "MD5OfBody": "x",
        "Attributes": {"ApproximateReceiveCount": "2"},
    }
    record = lambda_sqs_record(message, "arn:aws:sqs:eu-west-2:1:q", "eu-west-2")
    assert record["messageId"] == "m" and record["receiptHandle"] == "r" and record["eventSource"] == "aws:sqs"
    assert record["attributes"]["ApproximateReceiveCount"] == "2" and record["eventSourceARN"].endswith(":q")
