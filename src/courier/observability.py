"""Logger and metrics shared by the whole package (Powertools).

Logs are JSON and carry metadata only: keys, sizes, ids, hashes, statuses and
error classes. No call site passes file content, request headers or secrets.
Metrics go out as CloudWatch Embedded Metric Format on stdout.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

# The metrics' `service` dimension (and the logs' `service` key): the deployment's name, which
# Terraform sets as POWERTOOLS_SERVICE_NAME (courier-staging, courier-prod), so two environments
# in one account never add up in one metric, nor trip each other's alarms (the breaker-open alarm
# rolls back a deployment). "courier" where it is unset: the local stack, tests.
DEFAULT_SERVICE = "courier"
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE
NAMESPACE = "Courier"


@dataclass
class _MetricStore:
    metrics: dict[str, Any] = field(default_factory=dict)
    dimensions: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


_invocation: ContextVar[_MetricStore | None] = ContextVar("courier_invocation_metrics", default=None)


class _PerInvocationEMFProvider(AmazonCloudWatchEMFProvider):
    """Powertools' EMF provider, but its metric, dimension and metadata sets belong to the invocation in scope.

    Powertools keeps them process-wide (one Lambda environment runs one invocation at a
    time). The local stack runs several invocations at once in one process; sharing the
    sets merged their metrics into one document (``"FilesReceived": [13.0, 11.0]``). In
    Lambda no scope is ever opened and the process-wide sets given at construction serve.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._shared = _MetricStore()
        super().__init__(**kwargs)

    def _store(self) -> _MetricStore:
        return _invocation.get() or self._shared

    # Powertools' __init__ assigns these; the setters keep what it gives as the process-wide store.
    @property
    def metric_set(self) -> dict[str, Any]:
        return self._store().metrics

    @metric_set.setter
    def metric_set(self, value: dict[str, Any]) -> None:
        self._shared.metrics = value

    @property
    def dimension_set(self) -> dict[str, str]:
        return self._store().dimensions

    @dimension_set.setter
    def dimension_set(self, value: dict[str, str]) -> None:
        self._shared.dimensions = value

    @property
    def metadata_set(self) -> dict[str, Any]:
        return self._store().metadata

    @metadata_set.setter
    def metadata_set(self, value: dict[str, Any]) -> None:
        self._shared.metadata = value


logger = Logger(service=SERVICE)
_provider = _PerInvocationEMFProvider(namespace=NAMESPACE, service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE, provider=_provider)


@contextmanager
def invocation_metrics() -> Iterator[None]:
    """Give the code in this block (one emulated invocation) its own metric set, flushed as its own document.

    What separate Lambda environments get for free; the local runtime opens one per invocation.
    Threads started inside the block see the set only if they run in a copy of this context.
    """
    store = _MetricStore()
    token = _invocation.set(store)
    try:
        _provider.set_default_dimensions(**_provider.default_dimensions)
        yield
    finally:
        _invocation.reset(token)


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
