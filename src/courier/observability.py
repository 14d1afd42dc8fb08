"""Logger and metrics shared by the whole package (Powertools).

Logs are JSON and carry metadata only: keys, sizes, ids, hashes, statuses and
error classes. No call site passes file content, request headers or secrets.
Metrics go out as CloudWatch Embedded Metric Format on stdout.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = "courier"
NAMESPACE = "Courier"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def metric(name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count, **dimensions: str) -> None:
    """Record one metric value: a count by default, or a latency or byte size with ``unit``.

    Without dimensions the value joins the invocation's EMF document (flushed by
    ``@metrics.log_metrics``); with dimensions (e.g. failures by reason) it is
    emitted on its own at once. A zero count without dimensions is not recorded.
    """
    if value == 0 and not dimensions:
        return
    if not dimensions:
        metrics.add_metric(name=name, unit=unit, value=value)
        return
    with single_metric(name=name, unit=unit, value=value, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        for key, dim_value in dimensions.items():
            metric.add_dimension(name=key, value=dim_value)
