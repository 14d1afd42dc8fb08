"""SQSParkingLot.defer: entries SQS refuses inside a successful batch call are said, not dropped silently."""

from __future__ import annotations

import logging
from typing import Any

from courier.adapters.parking import SQSParkingLot

ARN = "arn:aws:sqs:eu-west-1:123456789012:courier-events"


class PartlyFailingSQS:
    """ChangeMessageVisibilityBatch answered with the first entry refused, as SQS does for an expired handle."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    def get_queue_url(self, **kwargs: Any) -> dict[str, str]:
        return {"QueueUrl": "https://sqs/courier-events"}

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.batches.append(Entries)
        failed = [{"Id": Entries[0]["Id"], "Code": "ReceiptHandleIsInvalid", "SenderFault": True}]
        return {"Successful": [{"Id": e["Id"]} for e in Entries[1:]], "Failed": failed}


def test_entries_sqs_refuses_to_defer_are_logged_and_counted_and_left_to_the_visibility_timeout(caplog):
    sqs = PartlyFailingSQS()
    records = [{"messageId": f"m{i}", "receiptHandle": f"h{i}", "eventSourceARN": ARN} for i in range(3)]
    with caplog.at_level(logging.WARNING, logger="courier"):
        SQSParkingLot(sqs, dynamodb=None, table="breaker").defer(records, 30)
    assert [e["VisibilityTimeout"] for e in sqs.batches[0]] == [30, 30, 30]
    (warning,) = [r for r in caplog.records if "not deferred" in r.getMessage()]
    assert warning.messages == 1 and warning.codes == ["ReceiptHandleIsInvalid"]
