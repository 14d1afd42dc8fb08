"""One SQS queue as the operator tools use it (`courier dlq`, `courier status`), and the handler's way to its DLQ."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from courier.adapters.aws import NOT_IMPLEMENTED_CODES, translated
from courier.adapters.parking import queue_url
from courier.errors import AwsCallError
from courier.ports import Queue

_BATCH = 10  # SQS's limit per batch call
_DEPTH_ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]


class SQSQueue:
    """One queue: its depth, receiving, sending and deleting messages, and SQS's own message move task.

    Every botocore failure becomes an :class:`~courier.errors.AwsCallError` naming the action.

    Parameters
    ----------
    client
        A boto3 SQS client.
    url
        The queue's URL.
    arn
        The queue's ARN, if known; otherwise it is asked for once, when first needed.

    Example
    -------
    >>> sqs = boto3.client("sqs")  # doctest: +SKIP
    >>> dlq, queue = SQSQueue.named(sqs, "courier-dlq"), SQSQueue.named(sqs, "courier-queue")  # doctest: +SKIP
    >>> visible, in_flight = dlq.depth()  # doctest: +SKIP
    >>> handle = dlq.start_move_task(queue)  # None where the endpoint has no move tasks  # doctest: +SKIP
    """

    def __init__(self, client: Any, url: str, arn: str | None = None) -> None:
        self.client = client
        self.url = url
        self._arn = arn

    @classmethod
    def named(cls, client: Any, name: str, url: str | None = None) -> SQSQueue:
        """The queue called ``name``; its URL is looked up unless given."""
        if url is None:
            with translated(f"looking up the queue {name}"):
                url = client.get_queue_url(QueueName=name)["QueueUrl"]
        return cls(client, url)

    @property
    def arn(self) -> str:
        if self._arn is None:
            with translated(f"reading the ARN of {self.url}"):
                attributes = self.client.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]
            self._arn = str(attributes["QueueArn"])
        return self._arn

    def depth(self) -> tuple[int, int]:
        """(visible, in flight) messages, as SQS approximates them."""
        with translated(f"reading the depth of {self.url}"):
            attributes = self.client.get_queue_attributes(QueueUrl=self.url, AttributeNames=_DEPTH_ATTRIBUTES)["Attributes"]
        return int(attributes[_DEPTH_ATTRIBUTES[0]]), int(attributes[_DEPTH_ATTRIBUTES[1]])

    def retention_seconds(self) -> int:
        """``MessageRetentionPeriod`` as the queue has it now (an operator may have raised it during an outage)."""
        with translated(f"reading the retention of {self.url}"):
            attributes = self.client.get_queue_attributes(QueueUrl=self.url, AttributeNames=["MessageRetentionPeriod"])
        return int(attributes["Attributes"]["MessageRetentionPeriod"])

    def receive(self, max_messages: int, visibility_timeout: int) -> list[dict[str, Any]]:
        """Up to ``max_messages`` (at most 10) messages, with their system and message attributes."""
        with translated(f"receiving from {self.url}"):
            messages: list[dict[str, Any]] = self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=max_messages,
                VisibilityTimeout=visibility_timeout,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        return messages

    def make_visible(self, receipt_handles: Sequence[str]) -> None:
        for start in range(0, len(receipt_handles), _BATCH):
            chunk = receipt_handles[start : start + _BATCH]
            entries = [{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(chunk)]
            with translated(f"making messages of {self.url} visible again"):
                self.client.change_message_visibility_batch(QueueUrl=self.url, Entries=entries)

    def send(self, body: str, message_attributes: Mapping[str, Any] | None = None) -> None:
        args: dict[str, Any] = {"QueueUrl": self.url, "MessageBody": body}
        if message_attributes:
            args["MessageAttributes"] = dict(message_attributes)
        with translated(f"sending to {self.url}"):
            self.client.send_message(**args)

    def send_batch(self, bodies: Sequence[str]) -> None:
        """Send ``bodies`` with SendMessageBatch, ten to a call; entries SQS refuses are sent once more, then raise."""
        for start in range(0, len(bodies), _BATCH):
            pending = {str(i): body for i, body in enumerate(bodies[start : start + _BATCH])}
            for attempt in range(2):
                entries = [{"Id": i, "MessageBody": body} for i, body in pending.items()]
                with translated(f"sending a batch to {self.url}"):
                    failed = self.client.send_message_batch(QueueUrl=self.url, Entries=entries).get("Failed", [])
                pending = {f["Id"]: pending[f["Id"]] for f in failed}
                if not pending:
                    break
                if attempt == 1:
                    codes = sorted({f.get("Code", "?") for f in failed})
                    raise AwsCallError(f"sending a batch to {self.url} failed for {len(pending)} message(s)", ",".join(codes))

    def delete(self, receipt_handle: str) -> None:
        with translated(f"deleting a message from {self.url}"):
            self.client.delete_message(QueueUrl=self.url, ReceiptHandle=receipt_handle)

    def start_move_task(self, destination: Queue) -> str | None:
        """Start SQS's message move task to ``destination``: its handle, or None where the endpoint has none.

        Older regions and emulators answer with one of the not-implemented codes (moto's
        server with an HTML 500 page, moto in-process raises ``NotImplementedError``); the
        caller then moves by hand, which is slower but as safe.
        """
        # Looked up first: a failed lookup is an error, not a sign that move tasks are missing.
        source, target = self.arn, destination.arn
        try:
            with translated(f"starting a message move task from {self.url}"):
                task = self.client.start_message_move_task(SourceArn=source, DestinationArn=target)
        except AwsCallError as exc:
            if exc.code in NOT_IMPLEMENTED_CODES:
                return None
            raise
        except NotImplementedError:
            return None
        return str(task.get("TaskHandle", ""))


class SQSDeadLetters:
    """Moves a message to its queue's DLQ (send, then delete): the handler's immediate dead-lettering.

    The DLQ is the one the queue's redrive policy names (read once per queue; the function
    may read its queue's attributes), and lies in the queue's account and region, as SQS
    requires: its URL is the queue's with the DLQ's name.

    Parameters
    ----------
    client
        A boto3 SQS client (the function's role: ``sqs:SendMessage`` on the DLQ only).

    Example
    -------
    >>> SQSDeadLetters(boto3.client("sqs")).move(record, {"courier.reasons": {...}})  # doctest: +SKIP
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._urls: dict[str, str] = {}
        self._dlq_urls: dict[str, str] = {}

    def move(self, record: Mapping[str, Any], attributes: Mapping[str, Any]) -> None:
        try:
            source = queue_url(self.client, str(record["eventSourceARN"]), self._urls)
            body, handle = str(record["body"]), str(record["receiptHandle"])
        except (KeyError, ValueError) as exc:
            raise AwsCallError(f"a record without its queue or receipt handle ({type(exc).__name__})") from None
        dlq = self._dlq_url(source)
        with translated(f"sending to the DLQ {dlq}"):
            self.client.send_message(QueueUrl=dlq, MessageBody=body, MessageAttributes=dict(attributes))
        with translated(f"deleting a dead-lettered message from {source}"):
            self.client.delete_message(QueueUrl=source, ReceiptHandle=handle)

    def _dlq_url(self, source: str) -> str:
        if source not in self._dlq_urls:
            with translated(f"reading the redrive policy of {source}"):
                attributes = self.client.get_queue_attributes(QueueUrl=source, AttributeNames=["RedrivePolicy"])["Attributes"]
            try:
                target = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"]
            except (KeyError, ValueError, TypeError):
                raise AwsCallError(f"{source} has no redrive policy naming a DLQ") from None
            self._dlq_urls[source] = f"{source.rsplit('/', 1)[0]}/{str(target).rsplit(':', 1)[-1]}"
        return self._dlq_urls[source]
