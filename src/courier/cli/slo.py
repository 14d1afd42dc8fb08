"""``courier slo-report``: end-to-end latency against the SLOs."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from courier.adapters.cloudwatch import CloudWatchMetrics
from courier.cli import _render
from courier.cli._context import Clients, Context, Profile, Region, StateDir, parse_range
from courier.cli._exit import ExitCode
from courier.cli._render import fail
from courier.config import Settings, read_setting
from courier.errors import CourierError
from courier.operator import slo


def slo_report(
    since: Annotated[str | None, typer.Option(help="Only files acknowledged from this time (UTC, ISO).")] = None,
    out: Annotated[Path, typer.Option(help="Directory for latency.png and latency.json.")] = Path("slo-report"),
    state_dir: StateDir = Path(".courier"),
    aws: Annotated[
        bool, typer.Option("--aws", help="Read the DeliveryLatency metric from CloudWatch instead of a local state dir.")
    ] = False,
    profile: Profile = None,
    region: Region = None,
) -> None:
    """End-to-end latency (S3 event to NiFi acknowledgement) against the 2- and 3-minute SLOs.

    Locally: every file of a local-stack run (its state dir), as a PNG histogram with
    the SLO lines and p50/p95/p99/p99.9 marked, and a JSON summary. With --aws: the
    percentiles of the DeliveryLatency metric (JSON only) of the environment COURIER_NAME names (courier-<env>,
    the metrics' service dimension), with --profile/--region as the aws CLI has them.
    """
    since_at = parse_range(since, None, default_days=1)[0] if since else None
    out.mkdir(parents=True, exist_ok=True)
    summary = _cloudwatch_summary(since_at, profile, region) if aws else _local_summary(state_dir, since_at, out)
    (out / "latency.json").write_text(json.dumps(summary, indent=2))
    if not summary.get("files"):
        raise fail("no delivered files in that range", ExitCode.NOTHING)
    _render.slo_summary(summary, out)


def _cloudwatch_summary(since: datetime | None, profile: str | None, region: str | None) -> dict[str, Any]:
    until = datetime.now(UTC)
    # The AWS account of the environment, even while a local stack runs: --aws asks for the deployed pipeline.
    clients = Context.of_aws({}, None, profile, region).clients if profile or region else Clients.for_stack(None)
    metrics = CloudWatchMetrics(clients("cloudwatch"))
    try:
        service = read_setting(Settings, "name", dict(os.environ))  # each environment's metrics carry its name
        return slo.cloudwatch_summary(metrics, since or until - timedelta(days=1), until, service)
    except CourierError as exc:
        raise fail(f"could not read the DeliveryLatency metric: {exc}") from None


def _local_summary(state_dir: Path, since: datetime | None, out: Path) -> dict[str, Any]:
    if not (state_dir / "received.jsonl").exists():
        raise fail(f"no local run in {state_dir} (expected {state_dir / 'received.jsonl'}); use --state-dir or --aws")
    latencies = slo.local_latencies(state_dir, since)
    summary = slo.summarise(latencies)
    if latencies:
        try:
            slo.plot(latencies, summary, out / "latency.png", "courier end-to-end latency")
        except ImportError:
            raise fail("the histogram needs matplotlib: pip install 'courier[report]'") from None
    return summary
