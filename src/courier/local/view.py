"""The live terminal view of ``courier local up`` (rich), refreshed every second."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from courier.adapters.breaker import DynamoDBBreakerTable
from courier.operator.status import breaker_state


def _fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"


class LiveView:
    def __init__(self, stack: Any, console: Console) -> None:
        self.stack = stack
        self.console = console
        # No stdout redirect: the stack points stdout at lambda.log for the handler's EMF documents, and
        # Live's redirect would print them above the table instead.
        self.live = Live(self.render(), console=console, refresh_per_second=2, transient=False, redirect_stdout=False)

    def __enter__(self) -> LiveView:
        self.live.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        self.live.__exit__(kind, error, traceback)

    def refresh(self) -> None:
        self.live.update(self.render())

    def snapshot(self) -> dict[str, Any]:
        stack = self.stack
        stats = stack.fake_nifi.state.stats()
        visible, in_flight, dlq = stack.depths()
        s3 = stack.session.client("s3")
        archived = sum(
            p.get("KeyCount", 0)
            for p in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.resources.archive_bucket, Prefix="bundles/")
        )
        return {
            "uploaded": stack.uploader.stats.uploaded if stack.uploader else 0,
            "delivered": stats["distinct_files"],
            "duplicates": stats["duplicate_deliveries"],
            "queue": visible,
            "in_flight": in_flight,
            "dlq": dlq,
            "bundles_archived": archived,
            "breaker": breaker_state(DynamoDBBreakerTable(stack.session.client("dynamodb"), stack.resources.breaker_table)),
            "mapping": "enabled" if stack.poller.enabled.is_set() else "paused",
            "receiver": stats["mode"],
            "latency": stats["latency_seconds"],
        }

    def render(self) -> Table:
        try:
            snap = self.snapshot()
        except Exception as exc:  # noqa: BLE001 - a view must not kill the stack
            table = Table(title="courier local")
            table.add_row(f"state unavailable: {type(exc).__name__}")
            return table
        table = Table(title="courier local", show_header=False, min_width=60)
        table.add_column("what", style="bold")
        table.add_column("value")
        latency = snap["latency"]
        rows = [
            ("files uploaded", snap["uploaded"]),
            ("files delivered", f"{snap['delivered']}  (duplicates {snap['duplicates']})"),
            ("queue / in flight / DLQ", f"{snap['queue']} / {snap['in_flight']} / {snap['dlq']}"),
            ("bundles archived", snap["bundles_archived"]),
            ("breaker / mapping", f"{snap['breaker']} / {snap['mapping']}"),
            ("NiFi receiver", snap["receiver"]),
            ("latency p50 / p95 / p99", f"{_fmt(latency['p50'])} / {_fmt(latency['p95'])} / {_fmt(latency['p99'])}"),
        ]
        for name, value in rows:
            table.add_row(name, str(value))
        return table
