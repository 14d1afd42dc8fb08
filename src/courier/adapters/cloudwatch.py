"""CloudWatch metric statistics, for `courier status` and `courier slo-report --aws`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from courier.adapters.aws import translated


class CloudWatchMetrics:
    """Datapoints of one metric through ``GetMetricStatistics``; failures become :class:`~courier.errors.AwsCallError`.

    Parameters
    ----------
    client
        A boto3 CloudWatch client.

    Example
    -------
    >>> metrics = CloudWatchMetrics(boto3.client("cloudwatch"))  # doctest: +SKIP
    >>> metrics.datapoints(  # doctest: +SKIP
    ...     "courier", "FilesDelivered", {"service": "courier"}, since, until, 3600, statistics=["Sum"]
    ... )
    [{'Sum': 1234.0, 'Timestamp': ..., 'Unit': 'Count'}]
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    def datapoints(
        self,
        namespace: str,
        metric: str,
        dimensions: Mapping[str, str],
        since: datetime,
        until: datetime,
        period: int,
        statistics: Sequence[str] = (),
        extended_statistics: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        args: dict[str, Any] = {
            "Namespace": namespace,
            "MetricName": metric,
            "Dimensions": [{"Name": name, "Value": value} for name, value in dimensions.items()],
            "StartTime": since,
            "EndTime": until,
            "Period": period,
        }
        # CloudWatch refuses an empty list for either; at least one of them is always given.
        if statistics:
            args["Statistics"] = list(statistics)
        if extended_statistics:
            args["ExtendedStatistics"] = list(extended_statistics)
        with translated(f"reading the metric {namespace}/{metric}"):
            datapoints: list[dict[str, Any]] = self.client.get_metric_statistics(**args).get("Datapoints", [])
        return datapoints
