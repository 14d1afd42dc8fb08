"""Wiring: build courier's parts from settings and a boto3 session.

The composition roots (the Lambda handler, the controller's entry point, the
CLI and the local stack) call these and nothing else to get a working object
graph, so every client is configured in one place. Nothing here runs at import
time: clients are made when a function is called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.config import Config

from courier import budget
from courier.adapters.breaker import DynamoDBBreaker, persistence
from courier.adapters.landing import S3LandingVersions
from courier.adapters.mapping import LambdaEventSourceMapping
from courier.adapters.nifi import NiFiClient
from courier.adapters.parking import SQSParkingLot
from courier.adapters.probe import CanaryProbe
from courier.adapters.s3 import S3Archive, S3ArchiveReader, S3Landing
from courier.adapters.secrets import CredentialsSource
from courier.adapters.sqs import SQSDeadLetters
from courier.aggregator import Aggregator
from courier.config import ControllerSettings, Settings
from courier.controller import Controller
from courier.errors import ConfigError
from courier.ledger.dynamodb import DynamoDBLedger
from courier.ports import DeadLetters
from courier.spool import Spools
from courier.sweep import Sweep

if TYPE_CHECKING:
    import httpx

DAY = 86400
# The controller reads the circuit once a minute: a cached read would only delay its decision.
CONTROLLER_CACHE_SECONDS = 1


@dataclass
class Runtime:
    """What one warm Lambda execution environment keeps between invocations."""

    settings: Settings
    aggregator: Aggregator
    nifi: NiFiClient
    dead_letters: DeadLetters | None = None  # None: every failure takes the receive-count path


def session_or_default(session: Any = None) -> Any:
    import boto3

    return session or boto3.session.Session()


def client_config(settings: Settings) -> Config:
    return Config(
        max_pool_connections=max(10, settings.fetch_concurrency),
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=30,
        # The aggregator's requests have fixed shapes (exercised by the tests) and AWS validates them again;
        # botocore's own walk over a 100-claim transaction was half of that request's client CPU (~15 ms).
        parameter_validation=False,
    )


def make_nifi_client(settings: Settings, secretsmanager: Any, transport: httpx.BaseTransport | None = None) -> NiFiClient:
    """NiFi delivery as the settings describe it (the aggregator and `courier replay`).

    ``transport`` replaces httpx's own (tests watch the wire through it); None in production.
    """
    credentials = CredentialsSource(secretsmanager, settings.nifi_secret_id, settings.secret_max_age_seconds)
    return NiFiClient(
        settings.nifi_url,
        credentials,
        ca_bundle=settings.nifi_ca_bundle,
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout(),
        transport=transport,
    )


def make_breaker(settings: Settings, dynamodb: Any) -> DynamoDBBreaker:
    """The shared NiFi circuit as the settings describe it (the aggregator and `courier replay`)."""
    return DynamoDBBreaker(
        persistence(dynamodb, settings.breaker_table),
        failure_threshold=settings.breaker_failure_threshold,
        recovery_seconds=settings.breaker_recovery_seconds,
        success_threshold=settings.breaker_success_threshold,
        cache_seconds=settings.breaker_cache_seconds,
    )


def make_ledger(settings: Settings, dynamodb: Any) -> DynamoDBLedger:
    return DynamoDBLedger(
        dynamodb,
        settings.idempotency_table,
        ttl_seconds=settings.ledger_ttl_days * DAY,
        lease_seconds=settings.claim_lease_seconds,
        concurrency=settings.fetch_concurrency,
    )


def make_ledger_reader(table: str, dynamodb: Any) -> DynamoDBLedger:
    """The ledger for lookups only (`courier dlq list`, `courier replay --file`): it never claims, so no TTL or lease."""
    return DynamoDBLedger(dynamodb, table, ttl_seconds=0, lease_seconds=0)


def build_runtime(settings: Settings, session: Any = None, transport: httpx.BaseTransport | None = None) -> Runtime:
    """The aggregator with every port wired to AWS and NiFi (``transport``: see :func:`make_nifi_client`)."""
    session = session_or_default(session)
    config = client_config(settings)
    s3 = session.client("s3", config=config)
    dynamodb = session.client("dynamodb", config=config)
    nifi = make_nifi_client(settings, session.client("secretsmanager", config=config), transport)
    sqs = session.client("sqs", config=config)
    assert settings.max_object_bytes is not None and settings.memory_budget_mb is not None  # Settings.from_env derives both
    aggregator = Aggregator(
        ledger=make_ledger(settings, dynamodb),
        landing=S3Landing(s3, max_object_bytes=settings.max_object_bytes),
        archive=S3Archive(s3, settings.archive_bucket, settings.archive_kms_key_id),
        nifi=nifi,
        archive_prefix=settings.archive_prefix,
        max_bundle_bytes=settings.max_bundle_bytes,
        concurrency=settings.fetch_concurrency,
        breaker=make_breaker(settings, dynamodb),
        parking_lot=SQSParkingLot(sqs, dynamodb, settings.breaker_table, settings.park_seconds),
        post_budget_seconds=budget.post_budget_seconds(settings.connect_timeout_seconds, settings.read_timeout_seconds or 0),
        max_object_bytes=settings.max_object_bytes,
        spools=Spools(budget.spool_memory_bytes(settings.memory_budget_mb), settings.spool_dir),
        stream_bytes_per_second=(settings.stream_mb_per_second or budget.STREAM_MB_PER_SECOND) * budget.MIB,
        landing_buckets=settings.landing_buckets,
    )
    return Runtime(settings=settings, aggregator=aggregator, nifi=nifi, dead_letters=SQSDeadLetters(sqs))


def build_controller(controller: ControllerSettings, settings: Settings | None = None, session: Any = None) -> Controller:
    """The breaker controller with its breaker, mapping, parking lot and (given ``settings``) its canary probe."""
    session = session_or_default(session)
    dynamodb = session.client("dynamodb")
    probe = make_probe(settings, session, dynamodb) if settings is not None else None
    return Controller(
        breaker=DynamoDBBreaker(
            persistence(dynamodb, controller.breaker_table),
            failure_threshold=settings.breaker_failure_threshold if settings else 3,
            recovery_seconds=controller.breaker_recovery_seconds,
            success_threshold=settings.breaker_success_threshold if settings else 1,
            cache_seconds=CONTROLLER_CACHE_SECONDS,
        ),
        event_source_mapping=LambdaEventSourceMapping(session.client("lambda"), controller.esm_uuid),
        recovery_seconds=controller.breaker_recovery_seconds,
        parking_lot=SQSParkingLot(session.client("sqs"), dynamodb, controller.breaker_table),
        probe=probe,
        success_threshold=settings.breaker_success_threshold if settings else 1,
    )


@dataclass(frozen=True)
class SweepParts:
    """What the sweep keeps while the controller's environment is warm; :meth:`sweep` makes one run's ``Sweep``."""

    archive_reader: S3ArchiveReader
    landing_versions: S3LandingVersions
    landing_buckets: tuple[str, ...]

    def sweep(self, remaining_ms: Callable[[], int] | None = None) -> Sweep:
        return Sweep(self.archive_reader, self.landing_versions, self.landing_buckets, remaining_ms)


def build_sweep(settings: Settings, session: Any = None) -> SweepParts:
    """The sweep of delivered landing revisions (``courier.sweep``) over the archive and the landing buckets."""
    buckets = settings.landing_buckets or ((settings.landing_bucket,) if settings.landing_bucket else ())
    if not buckets:
        raise ConfigError(
            "COURIER_LANDING_BUCKETS (or COURIER_LANDING_BUCKET) is required to sweep: the buckets it may delete from"
        )
    s3 = session_or_default(session).client("s3", config=Config(retries={"mode": "standard", "max_attempts": 3}))
    return SweepParts(S3ArchiveReader(s3, settings.archive_bucket), S3LandingVersions(s3), tuple(buckets))


def make_probe(settings: Settings, session: Any, dynamodb: Any) -> CanaryProbe:
    """The controller's canary over the same secret, ledger, buckets and NiFi endpoint as the aggregator."""
    secrets = session.client("secretsmanager")
    credentials = CredentialsSource(secrets, settings.nifi_secret_id, 0)
    return CanaryProbe(
        make_nifi_client(settings, secrets),
        credentials,
        dynamodb,
        session.client("s3"),
        settings.idempotency_table,
        [b for b in (settings.landing_bucket, settings.archive_bucket) if b],
        archive_bucket=settings.archive_bucket,
        kms_key_id=settings.archive_kms_key_id,
    )
