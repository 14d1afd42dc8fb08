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

    @classmethod
    def of_function(cls, client: Any, function_name: str) -> LambdaEventSourceMapping | None:
        """The first event source mapping of ``function_name`` (`courier status` without a UUID); None if it has none."""
        with translated(f"listing the event source mappings of {function_name}"):
            found = client.list_event_source_mappings(FunctionName=function_name).get("EventSourceMappings", [])
        return cls(client, str(found[0]["UUID"])) if found else None

    def enabled(self) -> bool:
        """True while the mapping polls the queue (or is about to)."""
        with translated(f"reading event source mapping {self.uuid}"):
            return self.client.get_event_source_mapping(UUID=self.uuid).get("State") in _RUNNING

    def set_enabled(self, enabled: bool) -> None:
        with translated(f"updating event source mapping {self.uuid}"):
            self.client.update_event_source_mapping(UUID=self.uuid, Enabled=enabled)
