"""The aggregator's SQS event source mapping, switched on and off through the Lambda API."""

from __future__ import annotations

from typing import Any

from courier.adapters.aws import translated

_RUNNING = ("Enabled", "Enabling", "Updating")


def _invokes(function_arn: str, function_name: str) -> bool:
    """Whether a mapping's FunctionArn is ``function_name``, unqualified or with a qualifier (``:live``, ``:7``)."""
    _, _, rest = function_arn.partition(":function:")
    return rest == function_name or rest.startswith(f"{function_name}:")


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
    def of_function(cls, client: Any, function_name: str, queue_arn: str | None = None) -> LambdaEventSourceMapping | None:
        """The first event source mapping of ``function_name`` (`courier status` without a UUID); None if it has none.

        Listing by the unqualified name finds only mappings on the unqualified function, and the
        Terraform's mapping is on the ``live`` alias: so, failing that, the queue's mappings (by
        ``queue_arn``) that invoke this function under any qualifier (alias or version).
        """
        with translated(f"listing the event source mappings of {function_name}"):
            found = client.list_event_source_mappings(FunctionName=function_name).get("EventSourceMappings", [])
        if not found and queue_arn:
            with translated(f"listing the event source mappings of {queue_arn}"):
                polling = client.list_event_source_mappings(EventSourceArn=queue_arn).get("EventSourceMappings", [])
            found = [m for m in polling if _invokes(str(m.get("FunctionArn", "")), function_name)]
        return cls(client, str(found[0]["UUID"])) if found else None

    def enabled(self) -> bool:
        """True while the mapping polls the queue (or is about to)."""
        with translated(f"reading event source mapping {self.uuid}"):
            return self.client.get_event_source_mapping(UUID=self.uuid).get("State") in _RUNNING

    def set_enabled(self, enabled: bool) -> None:
        with translated(f"updating event source mapping {self.uuid}"):
            self.client.update_event_source_mapping(UUID=self.uuid, Enabled=enabled)
