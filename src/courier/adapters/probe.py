"""The breaker controller's canary: every dependency of a delivery, checked down its real path."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from courier.adapters.aws import translated
from courier.adapters.nifi import NiFiClient
from courier.adapters.secrets import CredentialsSource
from courier.bundle import PROBE_ARCHIVE_KEY, probe_bundle
from courier.errors import CourierError, DependencyUnavailableError
from courier.ledger.base import PARTITION_KEY, SORT_KEY


class CanaryProbe:
    """Checks what a delivery needs, in the order a batch needs it, and names the first that fails.

    Secrets Manager (the NiFi secret, re-read and parsed), DynamoDB (a read of the
    ledger), S3 (both buckets answer), then NiFi itself: a tiny bundle whose manifest
    marks it as a probe, POSTed with ``X-Courier-Probe: true`` over the same TLS,
    credentials and hash check as a real bundle. NiFi's flow answers it and drops it.

    Parameters
    ----------
    nifi
        The NiFi client (``compose.make_nifi_client``).
    credentials
        The source of the NiFi secret.
    dynamodb, s3
        boto3 clients.
    ledger_table
        The idempotency ledger's table.
    buckets
        The landing and archive buckets.
    clock
        Epoch seconds; injectable for tests.

    Example
    -------
    >>> buckets = ["courier-landing", "courier-archive"]
    >>> probe = CanaryProbe(nifi, credentials, dynamodb, s3, "courier-idempotency", buckets)  # doctest: +SKIP
    >>> probe.check()  # while NiFi is down: DependencyUnavailableError, .dependency == "nifi"  # doctest: +SKIP
    """

    def __init__(
        self,
        nifi: NiFiClient,
        credentials: CredentialsSource,
        dynamodb: Any,
        s3: Any,
        ledger_table: str,
        buckets: list[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.nifi = nifi
        self.credentials = credentials
        self.dynamodb = dynamodb
        self.s3 = s3
        self.ledger_table = ledger_table
        self.buckets = buckets
        self.clock = clock

    def check(self) -> None:
        self._step("secretsmanager", lambda: self.credentials.get(refresh=True))
        self._step("dynamodb", self._read_ledger)
        for bucket in self.buckets:
            self._step("s3", lambda bucket=bucket: self._head(bucket))
        self._step("nifi", self._canary)

    def _step(self, dependency: str, check: Callable[[], Any]) -> None:
        try:
            check()
        except CourierError as exc:
            raise DependencyUnavailableError(f"probe of {dependency} failed: {exc}", dependency) from exc

    def _read_ledger(self) -> None:
        with translated(f"probe read of {self.ledger_table}"):
            key = {PARTITION_KEY: {"S": "probe#courier"}, SORT_KEY: {"S": "probe"}}
            self.dynamodb.get_item(TableName=self.ledger_table, Key=key)

    def _head(self, bucket: str) -> None:
        with translated(f"probe of bucket {bucket}"):
            self.s3.head_bucket(Bucket=bucket)

    def _canary(self) -> None:
        bundle = probe_bundle(datetime.fromtimestamp(int(self.clock()), UTC))
        self.nifi.post(bundle.data, bundle.sha256, bundle.bundle_id, 0, PROBE_ARCHIVE_KEY, probe=True)
