"""Settings: one frozen object built from ``COURIER_*`` environment variables.

Read and validated once, at cold start. A missing or invalid value raises
:class:`~courier.errors.ConfigError` whose message is one line naming the
variable, what it must be, and what it was.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from courier import budget
from courier.errors import ConfigError

PREFIX = "COURIER_"
MIB = 1024 * 1024
# A file system reports a little less than the disk it sits on: a setting up to 10% above its total is taken as it.
EPHEMERAL_SLACK = 1.1


def _number(cast: Callable[[str], Any], kind: str, lo: float, hi: float) -> Callable[[str, str], Any]:
    def parse(name: str, raw: str) -> Any:
        try:
            value = cast(raw)
        except ValueError:
            value = None
        if value is None or not lo <= value <= hi:
            raise ConfigError(f"{name} must be {kind} between {lo} and {hi}, got {raw!r}")
        return value

    return parse


def _int(lo: int, hi: int) -> Callable[[str, str], int]:
    return _number(int, "an integer", lo, hi)


def _float(lo: float, hi: float) -> Callable[[str, str], float]:
    return _number(float, "a number", lo, hi)


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _text(name: str, raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ConfigError(f"{name} must not be empty")
    return value


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip()
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
        return value

    return parse


def _optional_file(name: str, raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if not Path(value).is_file():
        raise ConfigError(f"{name} must name a readable file, got {raw!r}")
    return value


def _directory(name: str, raw: str) -> str:
    value = raw.strip()
    if not value or not Path(value).is_dir():
        raise ConfigError(f"{name} must name an existing directory, got {raw!r}")
    return value


def _key_prefix(name: str, raw: str) -> str:
    value = raw.strip().strip("/")
    if not value or ".." in value.split("/"):
        raise ConfigError(f"{name} must be a non-empty S3 key prefix without '..', got {raw!r}")
    return value


# S3's rules for a bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, a letter or digit at each end.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _bucket_names(name: str, raw: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    wrong = [n for n in names if not _BUCKET_NAME.fullmatch(n)]
    if not names or wrong:
        raise ConfigError(f"{name} must be a comma-separated list of S3 bucket names, got {raw!r}")
    return names


def _setting(default: Any, parse: Callable[[str, str], Any], doc: str, required: bool = False) -> Any:
    return field(default=default, metadata={"parse": parse, "doc": doc, "required": required})


def _read_field(f: Field[Any], env: Mapping[str, str]) -> Any:
    """The parsed value of one declared setting; its default when unset."""
    name = PREFIX + f.name.upper()
    raw = env.get(name)
    if raw is None or (raw.strip() == "" and f.metadata["required"]):
        if f.metadata["required"]:
            raise ConfigError(f"{name} is required: {f.metadata['doc']}")
        return f.default
    return f.metadata["parse"](name, raw)


if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_S = TypeVar("_S", bound="DataclassInstance")


def read_settings(cls: type[_S], environ: Mapping[str, str] | None = None) -> _S:
    """Build a settings dataclass whose fields were declared with ``_setting``."""
    env = os.environ if environ is None else environ
    return cls(**{f.name: _read_field(f, env) for f in fields(cls)})


def read_setting(cls: type, name: str, environ: Mapping[str, str] | None = None) -> Any:
    """One setting of ``cls``, parsed as declared (its default when unset).

    For the commands that need one setting and must work without the others,
    e.g. ``courier dlq list`` needs the ledger table but not the NiFi URL.
    """
    (f,) = [f for f in fields(cls) if f.name == name]
    return _read_field(f, os.environ if environ is None else environ)


def reference(cls: type) -> list[tuple[str, str, str]]:
    """(variable, default, meaning) rows for docs/configuration.md and ``courier config``."""
    rows = []
    for f in fields(cls):
        default = "(required)" if f.metadata["required"] else ("(unset)" if f.default is None else str(f.default))
        rows.append((PREFIX + f.name.upper(), default, f.metadata["doc"]))
    return rows


@dataclass(frozen=True)
class Settings:
    """Everything a user tunes, read once and frozen. Field ``x`` is read from ``COURIER_X``.

    Build it with :meth:`from_env`; every field is declared with its parser,
    default and meaning, so ``courier config`` and docs/configuration.md come from
    here too. A missing or invalid value raises :class:`ConfigError` with one
    line naming the variable.

    Parameters
    ----------
    archive_bucket, nifi_url
        Required: where bundles are archived, where they are POSTed.
    (every other field)
        Optional, with the default ``courier config`` lists.

    Example
    -------
    >>> settings = Settings.from_env({"COURIER_ARCHIVE_BUCKET": "a", "COURIER_NIFI_URL": "https://nifi:9443/x"})
    >>> settings.max_bundle_bytes
    67108864
    """

    archive_bucket: str = _setting(None, _text, "S3 bucket that receives the bundles.", required=True)
    nifi_url: str = _setting(None, _text, "NiFi ListenHTTP/HandleHttpRequest URL bundles are POSTed to.", required=True)
    name: str = _setting(
        "courier", _text, "Prefix of courier's AWS resource names: courier-<environment> as the Terraform makes them."
    )
    landing_bucket: str | None = _setting(
        None,
        _text,
        "The landing bucket: the controller's probe checks it, backfill and trace read it.",
    )
    landing_buckets: tuple[str, ...] | None = _setting(
        None,
        _bucket_names,
        "The landing buckets of this deployment, comma-separated: an event naming another bucket fails alone"
        " (foreign_bucket), unread. Never the archive bucket. Required in AWS (Terraform sets it); unset elsewhere: any"
        " bucket an event names.",
    )
    archive_prefix: str = _setting(
        "bundles", _key_prefix, "Key prefix of archived bundles (bundles/YYYY/MM/DD/HH/<sha256>.tar.gz)."
    )
    archive_kms_key_id: str | None = _setting(None, _text, "KMS key for archive SSE; unset means SSE-S3 (AES256).")
    idempotency_table: str = _setting("courier-idempotency", _text, "DynamoDB table of the idempotency ledger.")
    breaker_table: str = _setting("courier-breaker", _text, "DynamoDB table of the circuit breaker state.")
    nifi_secret_id: str = _setting(
        "courier/nifi", _text, "Secrets Manager id of the NiFi secret: a client certificate and/or a header credential."
    )
    nifi_ca_bundle: str | None = _setting(
        None, _optional_file, "PEM CA bundle that signs NiFi's certificate; unset uses the system trust store."
    )
    nifi_allow_http: bool = _setting(False, _bool, "Allow a plain http:// NiFi URL. Local use only.")
    function_timeout_seconds: int = _setting(
        120, _int(3, 900), "The function's timeout (Terraform sets it); the POST timeouts derive from it."
    )
    connect_timeout_seconds: float = _setting(5.0, _float(0.1, 60), "TCP+TLS connect timeout to NiFi.")
    read_timeout_seconds: float | None = _setting(
        None, _float(1, 600), "Time NiFi may take to take the body or answer a POST; unset derives it from the function timeout."
    )
    fetch_concurrency: int = _setting(32, _int(1, 128), "Parallel claims and S3 GETs per invocation.")
    max_bundle_bytes: int = _setting(
        64 * MIB,
        _int(1024, 1024 * MIB),
        "Maximum uncompressed file bytes per bundle; bigger batches are split, a bigger file is a bundle of its own.",
    )
    memory_budget_mb: int | None = _setting(
        None,
        _int(16, 10240),
        "Peak memory an invocation keeps to: files and bundles beyond it less 128 MB for the runtime go to the spool"
        " directory; unset: half of AWS_LAMBDA_FUNCTION_MEMORY_SIZE (of 1024 MB when unknown).",
    )
    spool_dir: str | None = _setting(
        None,
        _directory,
        "Where spools go once the memory budget is full; unset: $TMPDIR, else /tmp (Lambda's ephemeral storage).",
    )
    ephemeral_storage_mb: int | None = _setting(
        None,
        _int(512, 10 * 1024 * 1024),
        "Disk for spools in MB: caps the largest file; unset: the size of the spool directory's file system"
        " (on Lambda its ephemeral storage, which Terraform sets).",
    )
    stream_mb_per_second: float | None = _setting(
        None,
        _float(1, 10000),
        "Rate a bundle moves at (GET, build, archive, POST) to plan an invocation's time; unset: 40, less below"
        " 472 MB of function memory (its share of a vCPU); measured by `make bench`.",
    )
    max_object_bytes: int | None = _setting(
        None,
        _int(1024, 10 * 1024**4),
        "The ceiling: larger files go to the DLQ (object_too_large); unset: derived from the timeout, the rate and"
        " the ephemeral storage, which it may not exceed.",
    )
    claim_lease_seconds: int = _setting(
        960, _int(10, 86400), "How long a claim blocks other invocations if its holder dies (above the function timeout)."
    )
    ledger_ttl_days: int = _setting(
        15,
        _int(1, 365),
        "Days a ledger item lives (DynamoDB TTL): over 14 days and 1 hour, the longest SQS keeps a message from its first"
        " send; a message naming a file that landed longer ago (a hand redrive, maybe of one courier moved to the DLQ,"
        " where it starts anew) is refused as beyond_ledger.",
    )
    secret_max_age_seconds: int = _setting(300, _int(0, 86400), "How long credentials are cached across warm invocations.")
    function: str | None = _setting(
        None, _text, "Operator commands: the deployed aggregator whose configuration they read (as --function)."
    )
    log_level: str = _setting("INFO", _choice("DEBUG", "INFO", "WARNING", "ERROR"), "Log level of the JSON logs.")

    breaker_failure_threshold: int = _setting(
        3, _int(1, 100), "Consecutive failed deliveries (per execution environment) that open the NiFi circuit."
    )
    breaker_recovery_seconds: int = _setting(
        60, _int(1, 3600), "Seconds the circuit stays open before one probe delivery is allowed."
    )
    breaker_success_threshold: int = _setting(1, _int(1, 10), "Successful probe deliveries that close the circuit again.")
    breaker_cache_seconds: int = _setting(5, _int(1, 60), "How long an invocation trusts its cached read of the breaker state.")
    park_seconds: int = _setting(
        39600,
        _int(60, 39600),
        "How long a message failed by an outage stays invisible unless the controller releases it on recovery (max 11 h).",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        settings = read_settings(cls, env)
        settings = replace(settings, read_timeout_seconds=settings.read_timeout())
        function_mb = _function_memory_mb(env)
        if settings.memory_budget_mb is None:
            settings = replace(settings, memory_budget_mb=budget.memory_budget_mb(function_mb or budget.ASSUMED_FUNCTION_MB))
        elif function_mb is not None and settings.memory_budget_mb >= function_mb:
            got = settings.memory_budget_mb
            raise ConfigError(f"COURIER_MEMORY_BUDGET_MB must be below the function's memory ({function_mb} MB), got {got}")
        if settings.stream_mb_per_second is None:
            rate = budget.stream_mb_per_second(function_mb or budget.ASSUMED_FUNCTION_MB)
            settings = replace(settings, stream_mb_per_second=rate)
        spools = settings.spool_dir or tempfile.gettempdir()
        disk_mb = shutil.disk_usage(spools).total // budget.MIB
        if settings.ephemeral_storage_mb is None:
            settings = replace(settings, ephemeral_storage_mb=disk_mb)
        elif settings.ephemeral_storage_mb > disk_mb * EPHEMERAL_SLACK:
            # The ceiling and the admission would plan with disk that is not there: files deferred forever, or ENOSPC.
            raise ConfigError(
                f"COURIER_EPHEMERAL_STORAGE_MB must be at most the spool directory's disk ({disk_mb} MB at {spools}),"
                f" got {settings.ephemeral_storage_mb}"
            )
        ceiling = settings.object_ceiling_bytes()
        if settings.max_object_bytes is None:
            settings = replace(settings, max_object_bytes=ceiling)
        elif settings.max_object_bytes > ceiling:
            raise ConfigError(
                f"COURIER_MAX_OBJECT_BYTES must be at most {ceiling} (what fits the timeout at COURIER_STREAM_MB_PER_SECOND"
                f" and the ephemeral storage), got {settings.max_object_bytes}"
            )
        if settings.landing_buckets is None and env.get("AWS_LAMBDA_FUNCTION_NAME"):
            # In AWS anyone with sqs:SendMessage can name any bucket the role may read, the archive's included.
            raise ConfigError(f"{PREFIX}LANDING_BUCKETS is required in AWS: the landing buckets events may name")
        if settings.landing_buckets is not None and settings.archive_bucket in settings.landing_buckets:
            # A notification naming it would deliver archived bundles again as new files.
            raise ConfigError(
                f"{PREFIX}LANDING_BUCKETS must not name {PREFIX}ARCHIVE_BUCKET ({settings.archive_bucket}): events would"
                " deliver archived bundles again"
            )
        settings._check_consistency()
        return settings

    def read_timeout(self) -> float:
        """COURIER_READ_TIMEOUT_SECONDS; unset, what the function's timeout leaves after the connect timeout."""
        if self.read_timeout_seconds is not None:
            return self.read_timeout_seconds
        return round(budget.read_timeout_for(self.function_timeout_seconds, self.connect_timeout_seconds), 3)

    def object_ceiling_bytes(self) -> int:
        """The largest file one invocation can deliver: its time at the stream rate, and the ephemeral storage."""
        return budget.object_ceiling_bytes(
            self.function_timeout_seconds,
            budget.post_budget_seconds(self.connect_timeout_seconds, self.read_timeout_seconds or 0),
            self.stream_mb_per_second or budget.STREAM_MB_PER_SECOND,
            self.ephemeral_storage_mb or 0,
        )

    def _check_consistency(self) -> None:
        assert self.read_timeout_seconds is not None
        problems = budget.violated(
            self.function_timeout_seconds,
            self.connect_timeout_seconds,
            self.read_timeout_seconds,
            self.claim_lease_seconds,
        )
        if problems:
            names = "COURIER_FUNCTION_TIMEOUT_SECONDS, COURIER_CONNECT_TIMEOUT_SECONDS, COURIER_READ_TIMEOUT_SECONDS"
            raise ConfigError(f"{names} and COURIER_CLAIM_LEASE_SECONDS do not fit: {problems[0]}")
        ttl_problems = budget.ledger_ttl_violated(self.ledger_ttl_days * 86400)
        if ttl_problems:
            raise ConfigError(f"COURIER_LEDGER_TTL_DAYS is too short ({self.ledger_ttl_days}): {ttl_problems[0]}")
        url = urlsplit(self.nifi_url)
        if url.scheme not in {"https", "http"} or not url.hostname:
            raise ConfigError(f"COURIER_NIFI_URL must be an https:// URL, got {self.nifi_url!r}")
        if url.scheme == "http" and not self.nifi_allow_http:
            raise ConfigError("COURIER_NIFI_URL is plain http://; use https:// or set COURIER_NIFI_ALLOW_HTTP=true for local use")

    @classmethod
    def reference(cls) -> list[tuple[str, str, str]]:
        return reference(cls)


def _function_memory_mb(env: Mapping[str, str]) -> int | None:
    """The function's memory as Lambda announces it (``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``); None outside Lambda."""
    raw = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    if raw is None or not raw.strip():
        return None
    return _int(128, 10240)("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raw)


@dataclass(frozen=True)
class ControllerSettings:
    """Settings of the breaker controller function (its own, smaller set)."""

    esm_uuid: str = _setting(
        None, _text, "UUID of the aggregator's SQS event source mapping the controller pauses.", required=True
    )
    breaker_table: str = _setting("courier-breaker", _text, "DynamoDB table of the circuit breaker state.")
    breaker_recovery_seconds: int = _setting(
        60, _int(1, 3600), "Seconds the circuit stays open before one probe delivery is allowed."
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ControllerSettings:
        return read_settings(cls, environ)

    @classmethod
    def reference(cls) -> list[tuple[str, str, str]]:
        return reference(cls)
