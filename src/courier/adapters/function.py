"""The deployed aggregator as operator commands read it: its settings and its queue, from the Lambda API.

``courier status --function courier-prod-aggregator`` needs no COURIER_* typed by hand:
the function's environment holds the settings Terraform gave it, and its SQS event
source mapping names the queue and the mapping's UUID.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from courier.adapters.aws import translated
from courier.config import PREFIX
from courier.resources import LIVE_ALIAS

_AGGREGATOR_SUFFIX = "-aggregator"  # the Terraform names it <name>-aggregator
# Paths inside the function's package, not on the operator's machine: the operator brings their own.
_NOT_THE_CALLERS = frozenset({"COURIER_NIFI_CA_BUNDLE"})


@dataclass(frozen=True)
class DeployedFunction:
    """What one deployed aggregator tells an operator command.

    Parameters
    ----------
    name
        The function's name.
    environment
        Its ``COURIER_*`` variables (COURIER_NAME derived from the function's name when unset).
    region, account
        The region and account of its ARN.
    queue_arn, mapping_uuid
        The queue its SQS event source mapping polls, and that mapping; None without one.

    Example
    -------
    >>> deployed = DeployedFunction.read(boto3.client("lambda"), "courier-prod-aggregator")  # doctest: +SKIP
    >>> deployed.environment["COURIER_ARCHIVE_BUCKET"]  # doctest: +SKIP
    'courier-prod-archive-123456789012'
    """

    name: str
    environment: dict[str, str] = field(default_factory=dict)
    region: str | None = None
    queue_arn: str | None = None
    mapping_uuid: str | None = None
    account: str | None = None

    @classmethod
    def read(cls, client: Any, name: str) -> DeployedFunction:
        """GetFunctionConfiguration and ListEventSourceMappings; a denied call raises naming its action."""
        with translated(f"lambda:GetFunctionConfiguration on {name}"):
            configuration = client.get_function_configuration(FunctionName=name)
        with translated(f"lambda:ListEventSourceMappings of {name}"):
            mappings = client.list_event_source_mappings(FunctionName=name).get("EventSourceMappings", [])
        arn = str(configuration.get("FunctionArn", ""))
        if not any(str(m.get("EventSourceArn", "")).startswith("arn:aws:sqs:") for m in mappings) and arn.count(":") == 6:
            # The unqualified name lists only mappings on the unqualified function; the Terraform's is on `live`.
            with translated(f"lambda:ListEventSourceMappings of {name}:{LIVE_ALIAS}"):
                mappings = client.list_event_source_mappings(FunctionName=f"{arn}:{LIVE_ALIAS}").get("EventSourceMappings", [])
        variables = (configuration.get("Environment") or {}).get("Variables") or {}
        environment = {k: str(v) for k, v in variables.items() if k.startswith(PREFIX) and k not in _NOT_THE_CALLERS}
        function_name = str(configuration.get("FunctionName", name))
        if "COURIER_NAME" not in environment and function_name.endswith(_AGGREGATOR_SUFFIX):
            environment["COURIER_NAME"] = function_name[: -len(_AGGREGATOR_SUFFIX)]
        sqs = [m for m in mappings if str(m.get("EventSourceArn", "")).startswith("arn:aws:sqs:")]
        return cls(
            name=function_name,
            environment=environment,
            region=arn.split(":")[3] if arn.count(":") >= 6 else None,
            account=arn.split(":")[4] if arn.count(":") >= 6 else None,
            queue_arn=str(sqs[0]["EventSourceArn"]) if sqs else None,
            mapping_uuid=str(sqs[0]["UUID"]) if sqs else None,
        )

    @property
    def queue_name(self) -> str | None:
        return self.queue_arn.rsplit(":", 1)[-1] if self.queue_arn else None
