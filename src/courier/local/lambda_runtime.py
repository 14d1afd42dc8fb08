"""The Lambda runtime of the local stack: an SQS event source mapping, emulated.

Workers long-poll the queue and call the handler with Lambda-shaped events, as
the mapping does in AWS: up to ``BatchSize`` messages gathered for at most
``MaximumBatchingWindowInSeconds``, ``MaximumConcurrency`` batches in flight,
and the ``ReportBatchItemFailures`` contract (successes deleted, failures left
to reappear after the visibility timeout, a raising or malformed response
failing the whole batch). Workers stop polling while the mapping is disabled
in the emulator's Lambda API, which is how the breaker controller pauses it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from courier.events import lambda_sqs_record
from courier.local.emulator import MappingSettings
from courier.observability import invocation_metrics, logger
from courier.resources import FUNCTION_NAME

_SQS_RECEIVE_MAX = 10
_MAX_LONG_POLL_SECONDS = 20


def failed_message_ids(response: Any, message_ids: list[str]) -> set[str]:
    """Which messages failed, by the partial batch response rules Lambda applies.

    A null or empty response, or an empty/null ``batchItemFailures``, is full
    success. A response that is not an object, a failure entry without a valid
    ``itemIdentifier``, or an identifier not in the batch fails the whole batch.
    """
    if response is None or response == {} or response == "":
        return set()
    if not isinstance(response, Mapping):
        return set(message_ids)
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return set(message_ids)
    failed = set()
    for entry in failures:
        identifier = entry.get("itemIdentifier") if isinstance(entry, Mapping) else None
        if not isinstance(identifier, str) or identifier not in message_ids:
            return set(message_ids)
        failed.add(identifier)
    return failed


def describe_error(exc: BaseException) -> str:
    """What a log line says of an error: its class and its message (a ConfigError's names the variable).

    The class alone (``"ConfigError"``) left an operator guessing which setting was wrong.
    """
    message = " ".join(str(exc).split())[:300]
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class LambdaContext:
    """What the Lambda runtime passes as ``context``."""

    def __init__(self, timeout_seconds: int, region: str, memory_mb: int = 1024) -> None:
        self.function_name = FUNCTION_NAME
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{FUNCTION_NAME}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{FUNCTION_NAME}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class InvocationKilled(BaseException):
    """An invocation killed mid-flight (a timeout, out of memory): nothing after it runs, its whole batch comes back.

    A BaseException so that no ``except Exception`` in the handler can stop it, as nothing stops a Lambda kill.
    """


@dataclass
class PollerStats:
    invocations: int = 0
    errors: int = 0
    messages_deleted: int = 0
    messages_failed: int = 0
    in_flight: int = 0
    killed: int = 0
    receive_counts: dict[str, int] = field(default_factory=dict)  # messageId -> highest ApproximateReceiveCount seen
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return {
                "invocations": self.invocations,
                "errors": self.errors,
                "messages_deleted": self.messages_deleted,
                "messages_failed": self.messages_failed,
                "in_flight": self.in_flight,
                "killed": self.killed,
                "max_receive_count": max(self.receive_counts.values(), default=0),
            }


class EventSourcePoller:
    def __init__(
        self,
        session: Any,
        queue_url: str,
        queue_arn: str,
        mapping_uuid: str,
        mapping: MappingSettings,
        handler: Callable[[dict[str, Any], Any], Any],
        function_timeout_seconds: int,
        state_poll_seconds: float = 0.5,
        consumer_session: Any = None,
    ) -> None:
        # In AWS the mapping receives and deletes with the function's execution role, and reads its own
        # state as the Lambda service: ``consumer_session`` (default ``session``) signs the SQS calls.
        self.sqs = (consumer_session or session).client("sqs")
        self.lam = session.client("lambda")
        self.region = session.region_name
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.mapping_uuid = mapping_uuid
        self.mapping = mapping
        self.handler = handler
        self.function_timeout_seconds = function_timeout_seconds
        self.state_poll_seconds = state_poll_seconds
        self.stats = PollerStats()
        self.enabled = threading.Event()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    # --- lifecycle --------------------------------------------------------------

    def start(self) -> EventSourcePoller:
        self._refresh_state()
        watcher = threading.Thread(target=self._watch_state, name="esm-state", daemon=True)
        workers = [
            threading.Thread(target=self._work, name=f"esm-worker-{i}", daemon=True)
            for i in range(self.mapping.maximum_concurrency)
        ]
        self.threads = [watcher, *workers]
        for thread in self.threads:
            thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling; batches already handed to the handler finish (bounded wait)."""
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # --- mapping state ----------------------------------------------------------

    def _refresh_state(self) -> None:
        try:
            mapping = self.lam.get_event_source_mapping(UUID=self.mapping_uuid)
        except Exception:  # noqa: BLE001 - emulator briefly unavailable: keep the last state
            return
        if mapping.get("State") == "Enabled":
            self.enabled.set()
        else:
            self.enabled.clear()

    def _watch_state(self) -> None:
        while not self.stopping.wait(self.state_poll_seconds):
            self._refresh_state()

    # --- polling and invoking -------------------------------------------------------

    def _work(self) -> None:
        while not self.stopping.is_set():
            if not self.enabled.wait(0.5):
                continue
            try:
                batch = self._collect()
            except Exception as exc:  # noqa: BLE001 - the emulator is shutting down or busy
                logger.warning("queue poll failed", extra={"error": describe_error(exc)})
                self.stopping.wait(1.0)
                continue
            if batch:
                self._invoke(batch)

    def _collect(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        deadline: float | None = None
        while len(batch) < self.mapping.batch_size and not self.stopping.is_set() and self.enabled.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            wait = 1 if remaining is None else max(1, min(_MAX_LONG_POLL_SECONDS, int(remaining + 0.999)))
            if remaining is not None and self.mapping.batching_window_seconds == 0:
                wait = 0
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(_SQS_RECEIVE_MAX, self.mapping.batch_size - len(batch)),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                if deadline is None:
                    return batch  # idle: check the stop and mapping flags, then poll again
                if self.mapping.batching_window_seconds == 0:
                    break
                continue
            batch.extend(got)
            if deadline is None:
                deadline = time.monotonic() + self.mapping.batching_window_seconds
        return batch

    def _invoke(self, batch: list[dict[str, Any]]) -> None:
        records = [lambda_sqs_record(m, self.queue_arn, self.region) for m in batch]
        ids = [r["messageId"] for r in records]
        with self.stats.lock:
            self.stats.in_flight += len(batch)
            for m in batch:
                seen = int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                self.stats.receive_counts[m["MessageId"]] = max(seen, self.stats.receive_counts.get(m["MessageId"], 0))
        try:
            # Its own metric set, as its own Lambda environment would have: concurrent invocations flush apart.
            with invocation_metrics():
                response = self.handler({"Records": records}, LambdaContext(self.function_timeout_seconds, self.region))
            failed = failed_message_ids(response, ids)
        except InvocationKilled:
            # Killed: no response at all, the messages reappear after the visibility timeout.
            logger.error("invocation killed mid-flight; the whole batch goes back to the queue")
            with self.stats.lock:
                self.stats.in_flight -= len(batch)
                self.stats.invocations += 1
                self.stats.killed += 1
            return
        except Exception as exc:  # noqa: BLE001 - a raising handler fails the whole batch, as in AWS
            logger.error("handler raised; the whole batch goes back to the queue", extra={"error": describe_error(exc)})
            failed = set(ids)
            with self.stats.lock:
                self.stats.errors += 1
        succeeded = [m for m in batch if m["MessageId"] not in failed]
        self._delete(succeeded)
        with self.stats.lock:
            self.stats.in_flight -= len(batch)
            self.stats.invocations += 1
            self.stats.messages_deleted += len(succeeded)
            self.stats.messages_failed += len(failed)

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), _SQS_RECEIVE_MAX):
            chunk = messages[start : start + _SQS_RECEIVE_MAX]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
