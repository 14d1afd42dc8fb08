"""The aggregator's SQS event source mapping, switched on and off through the Lambda API."""

from __future__ import annotations

from typing import Any

from courier.adapters.aws import translated

_RUNNING = ("Enabled", "Enabling", "Updating")


class LambdaEventSourceMapping:
    """One event source mapping, by UUID, as the breaker controller sees it.

    Parameters
    ----------
    client
        A boto3 Lambda client.
    uuid
        The mapping's UUID.

    Example
    -------
    >>> mapping = LambdaEventSourceMapping(boto3.client("lambda"), "a1b2c3d4-...")  # doctest: +SKIP
    >>> if not mapping.enabled(): mapping.set_enabled(True)  # doctest: +SKIP
    """

    def __init__(self, client: Any, uuid: str) -> None:
        self.client = client
        self.uuid = uuid

    def enabled(self) -> bool:
        """True while the mapping polls the queue (or is about to)."""
        with translated(f"reading event source mapping {self.uuid}"):
            return self.client.get_event_source_mapping(UUID=self.uuid).get("State") in _RUNNING

    def set_enabled(self, enabled: bool) -> None:
        with translated(f"updating event source mapping {self.uuid}"):
            self.client.update_event_source_mapping(UUID=self.uuid, Enabled=enabled)
