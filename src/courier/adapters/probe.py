"""The breaker controller's canary: every dependency of a delivery, checked down its real path."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from courier.adapters.aws import translated
from courier.adapters.nifi import NiFiClient
from courier.bundle import PROBE_ARCHIVE_KEY, probe_bundle
from courier.errors import CourierError, Dependency, DependencyUnavailableError
from courier.ledger.base import EXPIRY_ATTRIBUTE, PARTITION_KEY, SORT_KEY
from courier.ports import CredentialsProvider, Delivery, Purpose

PROBE_PREFIX = "probes"  # archive keys of the controller's canaries (a lifecycle rule expires them)
# The ledger item the probe writes; the controller's role may write this partition key only
# (dynamodb:LeadingKeys in infra/terraform/policies/breaker_controller.json.tftpl).
PROBE_LEDGER_KEY = "probe#courier"


class CanaryProbe:
    """Checks what a delivery needs, in the order a batch needs it, and names the first that fails.

    Secrets Manager (the NiFi secret, re-read and parsed), DynamoDB (a conditional
    write to the ledger), S3 (both buckets answer, and the archive takes a PUT the
    way a bundle is archived), then NiFi itself: a tiny bundle whose manifest
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
    archive_bucket, kms_key_id
        Where the canary is written as a bundle would be (``probes/``); None skips the write.
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
        credentials: CredentialsProvider,
        dynamodb: Any,
        s3: Any,
        ledger_table: str,
        buckets: list[str],
        archive_bucket: str | None = None,
        kms_key_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.archive_bucket = archive_bucket
        self.kms_key_id = kms_key_id
        self.nifi = nifi
        self.credentials = credentials
        self.dynamodb = dynamodb
        self.s3 = s3
        self.ledger_table = ledger_table
        self.buckets = buckets
        self.clock = clock

    def check(self) -> None:
        self._step(Dependency.SECRETSMANAGER, lambda: self.credentials.get(refresh=True))
        self._step(Dependency.DYNAMODB, self._write_ledger)
        for bucket in self.buckets:
            self._step(Dependency.S3, functools.partial(self._head, bucket))
        bundle = probe_bundle(datetime.fromtimestamp(int(self.clock()), UTC))
        if self.archive_bucket:
            self._step(Dependency.S3, lambda: self._put_archive(bundle))
        canary = Delivery(bundle.data, bundle.sha256, bundle.bundle_id, 0, PROBE_ARCHIVE_KEY, Purpose.PROBE)
        self._step(Dependency.NIFI, lambda: self.nifi.post(canary))

    def _step(self, dependency: Dependency, check: Callable[[], Any]) -> None:
        try:
            check()
        except CourierError as exc:
            raise DependencyUnavailableError(f"probe of {dependency} failed: {exc}", dependency) from exc

    def _write_ledger(self) -> None:
        # A conditional write, as a claim is: reads can work while writes are throttled or denied.
        now = int(self.clock())
        with translated(f"probe write to {self.ledger_table}"):
            self.dynamodb.put_item(
                TableName=self.ledger_table,
                Item={
                    PARTITION_KEY: {"S": PROBE_LEDGER_KEY},
                    SORT_KEY: {"S": "probe"},
                    EXPIRY_ATTRIBUTE: {"N": str(now + 86400)},
                    "at": {"N": str(now)},
                },
                ConditionExpression="attribute_not_exists(#at) OR #at <= :now",
                ExpressionAttributeNames={"#at": "at"},
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )

    def _put_archive(self, bundle: Any) -> None:
        # The write a bundle's archiving needs (same bucket, same encryption), under a prefix that expires in a day.
        with translated(f"probe PUT to {self.archive_bucket}"):
            args: dict[str, Any] = {
                "Bucket": self.archive_bucket,
                "Key": f"{PROBE_PREFIX}/{bundle.bundle_id}.tar.gz",
                "Body": bundle.data,
                "ChecksumAlgorithm": "SHA256",
            }
            args.update({"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id} if self.kms_key_id else {})
            self.s3.put_object(**args)

    def _head(self, bucket: str) -> None:
        with translated(f"probe of bucket {bucket}"):
            self.s3.head_bucket(Bucket=bucket)
