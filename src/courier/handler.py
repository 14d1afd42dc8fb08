"""AWS Lambda entry point: ``courier.handler.lambda_handler``.

The composition root. Settings are read and every client built on the first
invocation (the cold start) and reused while the execution environment is warm;
importing this module creates no AWS client. ``AWS_ENDPOINT_URL`` (the standard
SDK variable) points boto3 at an emulator for local runs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from courier.adapters.nifi import NiFiClient
from courier.adapters.parking import ParkingLot
from courier.adapters.s3 import ArchiveStore, LandingStore
from courier.adapters.secrets import CredentialsSource
from courier.aggregator import Aggregator
from courier.breaker import Breaker, persistence
from courier.config import Settings
from courier.ledger.dynamodb import DynamoDBLedger
from courier.observability import logger, metrics

DAY = 86400

# A batch of test events or fast failures has no per-file metrics; that is normal, not worth a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


@dataclass
class Runtime:
    settings: Settings
    aggregator: Aggregator
    nifi: NiFiClient


def make_nifi_client(settings: Settings, secretsmanager: Any) -> NiFiClient:
    """NiFi delivery as the settings describe it (also used by `courier replay`)."""
    credentials = CredentialsSource(secretsmanager, settings.nifi_secret_id, settings.secret_max_age_seconds)
    return NiFiClient(
        settings.nifi_url,
        credentials,
        ca_bundle=settings.nifi_ca_bundle,
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
    )


def make_breaker(settings: Settings, dynamodb: Any) -> Breaker:
    """The shared NiFi circuit as the settings describe it (also used by `courier replay`)."""
    return Breaker(
        persistence(dynamodb, settings.breaker_table),
        failure_threshold=settings.breaker_failure_threshold,
        recovery_seconds=settings.breaker_recovery_seconds,
        success_threshold=settings.breaker_success_threshold,
        cache_seconds=settings.breaker_cache_seconds,
    )


def build_runtime(settings: Settings, session: Any = None) -> Runtime:
    session = session or boto3.session.Session()
    config = Config(
        max_pool_connections=max(10, settings.fetch_concurrency),
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=30,
    )
    s3 = session.client("s3", config=config)
    dynamodb = session.client("dynamodb", config=config)
    ledger = DynamoDBLedger(
        dynamodb,
        settings.idempotency_table,
        ttl_seconds=settings.ledger_ttl_days * DAY,
        lease_seconds=settings.claim_lease_seconds,
    )
    nifi = make_nifi_client(settings, session.client("secretsmanager", config=config))
    breaker = make_breaker(settings, dynamodb)
    aggregator = Aggregator(
        ledger=ledger,
        landing=LandingStore(s3, max_object_bytes=settings.max_bundle_bytes),
        archive=ArchiveStore(s3, settings.archive_bucket, settings.archive_kms_key_id),
        receiver=nifi,
        archive_prefix=settings.archive_prefix,
        max_bundle_bytes=settings.max_bundle_bytes,
        concurrency=settings.fetch_concurrency,
        breaker=breaker,
        backoff=ParkingLot(session.client("sqs", config=config), dynamodb, settings.breaker_table, settings.park_seconds),
    )
    return Runtime(settings=settings, aggregator=aggregator, nifi=nifi)


_runtime: Runtime | None = None


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        settings = Settings.from_env()
        logger.setLevel(settings.log_level)
        _runtime = build_runtime(settings)
    return _runtime


def reset() -> None:
    """Forget the warm runtime (tests, and the local stack after a settings change)."""
    global _runtime
    if _runtime is not None:
        _runtime.nifi.close()
    _runtime = None


@metrics.log_metrics(raise_on_empty_metrics=False)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event.get("Records") or []
    result = runtime().aggregator.process(records)
    logger.info(
        "batch processed",
        extra={
            "messages": len(records),
            "failed_messages": len(result.failed),
            "files_delivered": len(result.delivered),
            "files_skipped": len(result.skipped),
            "bundles": len(result.bundles),
        },
    )
    return result.response()
