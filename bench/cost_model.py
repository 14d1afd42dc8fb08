"""Benchmark 7: what courier's own AWS calls cost, per file and per month, at eu-west-2 list prices.

Counts every AWS request of one warm 100-file invocation (botocore's ``before-call`` event,
as ``tests/integration/test_call_count.py`` does, post-acknowledgement work included) and
the DynamoDB request units they consume (from the items' sizes, DynamoDB's rule), one run of
the breaker controller (amortised over the files of a minute at the design's volume), the
queue's receives and deletes at this batch size, and Lambda GB-s from the latency-only stub's
measured duration; multiplies them by ``bench/prices_eu_west_2.toml`` (each price dated, with
its source) and prints £ per million files and £ per month at the design's volume, beside the
design's §7 estimate. The sweep (``courier.sweep``) is measured too: one pass over the
invocation's bundle a week later, its LISTs, GETs and tag reads (each hour swept twice), its
DeleteObjects (free) and what it leaves to the lifecycle. Lambda's control-plane calls (the
controller's mapping reads) are free and not priced. Runs in-process on moto: fast enough for ``make bench`` and alone.

    python -m bench.cost_model
"""

from __future__ import annotations

import io
import json
import math
import re
import time
import tomllib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import figures_only, files, report, save
from courier.resources import LANDING_NONCURRENT_DAYS, SWEEP_PERIOD_SECONDS
from courier.sweep import SWEEP_MARGIN, SWEEP_PARTITIONS

COMMAND = ".venv/bin/python -m bench.cost_model"
PRICES = Path(__file__).with_name("prices_eu_west_2.toml")
TERRAFORM = Path(__file__).parent.parent / "infra" / "terraform" / "modules"
FILES = 100  # the call-count benchmark's batch
# The design's volume (§1: ~864,000 files a day, 10 files/s) over a 30-day month, ~27 KB each.
FILES_PER_MONTH = 864_000 * 30
FILE_KB = 27
CONTROLLER_RUNS_PER_MONTH = 60 * 24 * 30  # every minute (modules/breaker_controller's schedule)
SWEEP_RUNS_PER_MONTH = 30 * 86400 // SWEEP_PERIOD_SECONDS  # hourly (the same function's sweep schedule)
# Each run sweeps SWEEP_PARTITIONS hours, so each hour's index files are read and its bundles' tags checked that often.
SWEEP_PASSES = SWEEP_PARTITIONS * 3600 // SWEEP_PERIOD_SECONDS
# How long a delivered file's data outlives its week: to its hour's end (0.5 h on average), the margin, then the
# wait for the next hourly run (0.5 h on average).
SWEEP_DELAY_DAYS = (0.5 * 3600 + SWEEP_MARGIN.total_seconds() + SWEEP_PERIOD_SECONDS / 2) / 86400
# Files still undelivered when their week ends keep the lifecycle's 29 noncurrent days. None is, in steady running;
# the design's SLO (99.9% within 3 minutes) lets at most 0.1% be late at all: the share taken, an upper bound.
UNDELIVERED_AT_THE_WEEK = 0.001
AGGREGATOR_MEMORY_MB = 512  # modules/aggregator's memory_size default
CONTROLLER_MEMORY_MB = 256  # modules/breaker_controller's memory_size
SQS_RECEIVE_MAX = 10  # messages per ReceiveMessage / DeleteMessageBatch: how Lambda's pollers read the queue
IDLE_POLLERS = 5  # Lambda's SQS pollers long-poll (20 s) even when the queue is empty
# §7: DynamoDB £4 ledger + £1 breaker; S3 the archive's £1 (the landing's £120 is the uploader's PUTs and the storage).
DESIGN_GBP = {"S3": 1, "SQS": 8, "Lambda": 3, "DynamoDB": 5, "CloudWatch": 12}
TARGET_GBP_PER_MONTH = 30

# S3 operations priced as PUT-class requests (the rest of the S3 API is GET-class; DELETE is free).
S3_PUT_CLASS = {
    "PutObject",
    "CopyObject",
    "CreateMultipartUpload",
    "UploadPart",
    "CompleteMultipartUpload",
    "ListObjectsV2",
    "ListObjectVersions",
    "PutObjectTagging",
    "PutObjectLegalHold",
    "PutObjectRetention",
}
S3_FREE = {"DeleteObject", "DeleteObjects", "AbortMultipartUpload"}
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


# --- prices --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    name: str
    usd: float
    per: int
    unit: str
    source: str
    read: str

    def usd_each(self) -> float:
        return self.usd / self.per


def load_prices(path: Path = PRICES) -> tuple[dict[str, Price], float]:
    """The price table and the GBP-per-USD rate; a clear error naming an entry without its source or date."""
    table = tomllib.loads(path.read_text(encoding="utf-8"))
    rate = table.pop("gbp_per_usd")
    table.pop("meta", None)
    for name, entry in [("gbp_per_usd", rate), *table.items()]:
        missing = [k for k in ("source", "read") if not str(entry.get(k, "")).strip()]
        if missing:
            raise ValueError(f"{path.name}: [{name}] lacks {', '.join(missing)}")
    prices = {
        name: Price(name, float(e["usd"]), int(e["per"]), str(e["unit"]), str(e["source"]), str(e["read"]))
        for name, e in table.items()
    }
    return prices, float(rate["rate"])


# --- counting ------------------------------------------------------------------------------------


def attribute_bytes(value: dict[str, Any]) -> int:
    """Size of one DynamoDB attribute value by DynamoDB's rule (strings and binaries by length, numbers ~1 byte per 2 digits)."""
    (kind, inner), *_ = value.items()
    if kind in ("S", "B"):
        return len(inner.encode() if isinstance(inner, str) else inner)
    if kind == "N":
        return len(inner.lstrip("-").replace(".", "")) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + attribute_bytes(v) for v in inner)
    if kind == "M":
        return 3 + sum(len(k) + 1 + attribute_bytes(v) for k, v in inner.items())
    return sum(len(v) for v in inner)  # SS/NS/BS


def item_units(item: dict[str, Any] | None, unit_bytes: int = 1024) -> int:
    """Request units of writing (1 KB) or reading (4 KB) an item; an item the request does not carry counts as one unit
    (courier's ledger items are far below 1 KB)."""
    if not item:
        return 1
    size = sum(len(k) + attribute_bytes(v) for k, v in item.items())
    return max(1, math.ceil(size / unit_bytes))


def dynamodb_units(operation: str, params: dict[str, Any]) -> tuple[int, int]:
    """(write units, read units) one DynamoDB request consumes when every write in it succeeds."""
    if operation == "PutItem":
        return item_units(params.get("Item")), 0
    if operation in ("UpdateItem", "DeleteItem"):
        return 1, 0
    if operation == "BatchWriteItem":
        requests = [r for table in params.get("RequestItems", {}).values() for r in table]
        return sum(item_units(r.get("PutRequest", {}).get("Item")) for r in requests), 0
    if operation == "TransactWriteItems":  # every item of a transaction costs twice
        return sum(2 * item_units(t.get("Put", {}).get("Item")) for t in params.get("TransactItems", [])), 0
    if operation == "BatchGetItem":
        return 0, sum(len(table.get("Keys", [])) for table in params.get("RequestItems", {}).values())
    if operation in ("GetItem", "Query"):
        return 0, 1
    return 0, 0


@dataclass
class Tally:
    """AWS requests by service.operation (retries included), and the DynamoDB units they consumed."""

    calls: Counter[str] = field(default_factory=Counter)
    wru: int = 0
    rru: int = 0

    def count(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def units(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        writes, reads = dynamodb_units(model.name, params)
        self.wru += writes
        self.rru += reads

    def take(self) -> Tally:
        taken = Tally(self.calls, self.wru, self.rru)
        self.calls, self.wru, self.rru = Counter(), 0, 0
        return taken


def listen(session: Any) -> Tally:
    """Count the calls of clients made from ``session`` from now on (botocore's events; the API's parameters for the units)."""
    tally = Tally()
    session._session.register("before-call", tally.count)
    session._session.register("provide-client-params.dynamodb", tally.units)
    return tally


@contextmanager
def captured() -> Iterator[io.StringIO]:
    """What the code prints to CloudWatch Logs (its JSON logs and EMF documents), instead of the terminal."""
    import logging

    out = io.StringIO()
    handlers = [h for h in logging.getLogger("courier").handlers if isinstance(h, logging.StreamHandler)]
    previous = [h.setStream(out) for h in handlers]
    try:
        with redirect_stdout(out):
            yield out
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.setStream(stream)


def emf_metric_names(output: str) -> set[str]:
    names: set[str] = set()
    for line in output.splitlines():
        if '"_aws"' not in line:
            continue
        try:
            document = json.loads(line)
        except ValueError:
            continue
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            names |= {m["Name"] for m in directive.get("Metrics", [])}
    return names


def alarms_declared() -> int:
    return sum(len(re.findall(r'resource "aws_cloudwatch_metric_alarm"', p.read_text())) for p in TERRAFORM.glob("*/*.tf"))


# --- the model -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    service: str
    what: str
    quantity: float  # per file, or per month when monthly
    price: str
    monthly: bool = False
    in_total: bool = True  # False: an alternative shown beside the line that replaces it (not summed)


def per_file_lines(aggregator: Tally, controller: Tally, logs_bytes: float, gb_s: float, controller_gb_s: float) -> list[Line]:
    """What one file costs, line by line (``quantity`` per file unless ``monthly``)."""
    lines: list[Line] = []
    s3 = Counter({op.split(".", 1)[1]: n for op, n in aggregator.calls.items() if op.startswith("s3.")})
    put = sum(n for op, n in s3.items() if op in S3_PUT_CLASS)
    get = sum(n for op, n in s3.items() if op not in S3_PUT_CLASS and op not in S3_FREE)
    lines.append(Line("S3", "PUT-class requests (bundle, index, tags)", put / FILES, "s3_put_class"))
    lines.append(Line("S3", "GET-class requests (file reads, tag reads)", get / FILES, "s3_get_class"))
    lines += ledger_lines(aggregator.wru / FILES, aggregator.rru / FILES, prod_ledger_capacity(), FILES_PER_MONTH)
    own_sqs = sum(n for op, n in aggregator.calls.items() if op.startswith("sqs."))
    receives = 2 * math.ceil(FILES / SQS_RECEIVE_MAX)  # ReceiveMessage + DeleteMessageBatch, 10 messages each
    lines.append(
        Line(
            "SQS",
            "Lambda's receives and batch deletes, courier's own calls",
            (receives + own_sqs) / FILES,
            "sqs_standard_request",
        )
    )
    lines.append(Line("SQS", "S3's notification SendMessage (the uploader's event)", 1.0, "sqs_standard_request"))
    lines.append(
        Line("SQS", f"{IDLE_POLLERS} pollers' empty long polls", IDLE_POLLERS * 3 * 60 * 24 * 30, "sqs_standard_request", True)
    )
    lines.append(Line("Lambda", "aggregator invocations", 1 / FILES, "lambda_request"))
    lines.append(Line("Lambda", f"aggregator GB-s at {AGGREGATOR_MEMORY_MB} MB (measured)", gb_s, "lambda_arm64_gb_second"))
    lines.append(Line("Lambda", "controller invocations", CONTROLLER_RUNS_PER_MONTH, "lambda_request", True))
    lines.append(
        Line(
            "Lambda",
            f"controller GB-s at {CONTROLLER_MEMORY_MB} MB (measured)",
            controller_gb_s * CONTROLLER_RUNS_PER_MONTH,
            "lambda_arm64_gb_second",
            True,
        )
    )
    runs = CONTROLLER_RUNS_PER_MONTH
    c_dynamo_w, c_dynamo_r = controller.wru * runs, controller.rru * runs
    lines.append(
        Line("DynamoDB", "controller's write units (breaker, parked messages)", c_dynamo_w, "dynamodb_write_request_unit", True)
    )
    lines.append(
        Line("DynamoDB", "controller's read units (breaker, parked messages)", c_dynamo_r, "dynamodb_read_request_unit", True)
    )
    lines.append(
        Line("CloudWatch", "logs and EMF ingested (GB, measured)", logs_bytes / FILES / 1e9, "cloudwatch_logs_ingestion")
    )
    return lines


def landing_storage_kept(extra_days: float, share: float = 1.0, what: str = "") -> Line:
    """The landing data courier keeps beyond NFR-03's week: a day's landings (GB) for each extra day, every month,
    for ``share`` of the files. The week itself is the design's landing line, not courier's."""
    gb_a_day = FILES_PER_MONTH / 30 * FILE_KB * 1000 / 1e9
    what = what or f"landing data kept {extra_days:.3g} days past the week (GB-months)"
    return Line("S3", what, gb_a_day * extra_days * share, "s3_storage_standard", True)


def landing_storage_after_sweep(swept_share: float) -> list[Line]:
    """Delivered files' data goes with the sweep, SWEEP_DELAY_DAYS after their week; the rest (undelivered at the week,
    or in a bundle the sweep did not see delivered: ``1 - swept_share`` measured) stays the lifecycle's 29 days."""
    kept = 1 - (1 - UNDELIVERED_AT_THE_WEEK) * swept_share
    return [
        landing_storage_kept(
            SWEEP_DELAY_DAYS,
            1 - kept,
            f"landing data of delivered files, swept {SWEEP_DELAY_DAYS * 24:.0f} h past the week (GB-months)",
        ),
        landing_storage_kept(
            LANDING_NONCURRENT_DAYS,
            kept,
            f"landing data of {kept:.2%} of files (undelivered at the week) kept {LANDING_NONCURRENT_DAYS} days (GB-months)",
        ),
    ]


def sweep_lines(sweep: Tally, bundles: int) -> list[Line]:
    """The sweep's own requests, counted in one run over ``bundles`` bundles: per run, a LIST of each hour it sweeps;
    per file, each pass's index GET and tag read of a bundle, spread over its FILES files; DeleteObjects is free."""
    s3 = Counter({op.split(".", 1)[1]: n for op, n in sweep.calls.items() if op.startswith("s3.")})
    lists = sum(n for op, n in s3.items() if op in S3_PUT_CLASS)
    gets = sum(n for op, n in s3.items() if op not in S3_PUT_CLASS and op not in S3_FREE)
    return [
        Line(
            "S3",
            f"sweep's LISTs ({SWEEP_PARTITIONS} hours a run, hourly)",
            lists * SWEEP_RUNS_PER_MONTH,
            "s3_put_class",
            True,
        ),
        Line(
            "S3",
            f"sweep's index and tag reads (each hour swept {SWEEP_PASSES} times)",
            gets / bundles / FILES * SWEEP_PASSES,
            "s3_get_class",
        ),
        Line("Lambda", "sweep invocations", SWEEP_RUNS_PER_MONTH, "lambda_request", True),
    ]


def monthly_cloudwatch(metric_names: int, alarms: int) -> list[Line]:
    return [
        Line(
            "CloudWatch", f"custom metrics published every run ({metric_names})", metric_names, "cloudwatch_custom_metric", True
        ),
        Line("CloudWatch", f"alarms declared in the Terraform ({alarms})", alarms, "cloudwatch_alarm", True),
    ]


HOURS_PER_MONTH = 24 * 30
PROD_ENV = TERRAFORM.parent / "envs" / "prod" / "env.tf"


def prod_ledger_capacity(path: Path = PROD_ENV) -> dict[str, Any]:
    """prod's ``ledger_capacity`` (envs/prod/env.tf): the mode and the auto scaling bounds the model prices."""
    import hcl2

    parsed = hcl2.loads(path.read_text(encoding="utf-8"))
    found = {k: v for block in parsed["locals"] for k, v in block.items()}["ledger_capacity"]
    return {k: v.strip('"') if isinstance(v, str) else v for k, v in found.items()}


def provisioned_units(units_per_file: float, minimum: float, target_percent: float, files_per_month: int) -> int:
    """The capacity auto scaling settles on at a steady rate: the mean units a second over the target utilisation,
    never below the floor. The design's load is steady (10 files/s); bursts use DynamoDB's burst capacity."""
    per_second = units_per_file * files_per_month / (HOURS_PER_MONTH * 3600)
    return max(int(minimum), math.ceil(per_second / (target_percent / 100)))


def ledger_lines(wru_per_file: float, rru_per_file: float, capacity: dict[str, Any], files_per_month: int) -> list[Line]:
    """The ledger's lines for prod's capacity mode: on demand, the units per file; provisioned, the capacity-hours
    auto scaling keeps, with the on-demand price of the same units beside them (not summed)."""
    on_demand = [
        Line("DynamoDB", "write request units (ledger, breaker)", wru_per_file, "dynamodb_write_request_unit"),
        Line("DynamoDB", "read request units", rru_per_file, "dynamodb_read_request_unit"),
    ]
    if capacity["mode"] != "provisioned":
        return on_demand
    target = float(capacity["target_percent"])
    wcu = provisioned_units(wru_per_file, capacity["write_min"], target, files_per_month)
    rcu = provisioned_units(rru_per_file, capacity["read_min"], target, files_per_month)
    return [
        Line(
            "DynamoDB",
            f"ledger write capacity, provisioned (prod): {wcu} WCU x {HOURS_PER_MONTH} h",
            wcu * HOURS_PER_MONTH,
            "dynamodb_provisioned_wcu_hour",
            True,
        ),
        Line(
            "DynamoDB",
            f"ledger read capacity, provisioned (prod): {rcu} RCU x {HOURS_PER_MONTH} h",
            rcu * HOURS_PER_MONTH,
            "dynamodb_provisioned_rcu_hour",
            True,
        ),
        *(
            Line(line.service, f"{line.what}, on demand (staging; not in the total)", line.quantity, line.price, in_total=False)
            for line in on_demand
        ),
    ]


def gbp(lines: list[Line], prices: dict[str, Price], rate: float, files_per_month: int = FILES_PER_MONTH) -> dict[str, Any]:
    """Each line's £ per month at ``files_per_month``, totals by service, and £ per million files."""
    priced = []
    for line in lines:
        per_month = line.quantity if line.monthly else line.quantity * files_per_month
        priced.append({**line.__dict__, "gbp_per_month": per_month * prices[line.price].usd_each() * rate})
    by_service: dict[str, float] = {}
    for p in priced:
        if p["in_total"]:
            by_service[p["service"]] = by_service.get(p["service"], 0.0) + p["gbp_per_month"]
    total = sum(by_service.values())
    uploaders = sum(p["gbp_per_month"] for p in priced if "notification" in p["what"] and p["in_total"])
    return {
        "lines": priced,
        "by_service": by_service,
        "gbp_per_month": total,
        "gbp_per_million_files": total / files_per_month * 1e6,
        "courier_own_gbp_per_month": total - uploaders,
        "courier_own_gbp_per_million_files": (total - uploaders) / files_per_month * 1e6,
    }


# --- measuring -----------------------------------------------------------------------------------


def _flush(metrics: Any) -> None:
    """Print the EMF documents the handler's decorator would print at the end of the invocation."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no application metrics": the controller publishes through its own calls
        metrics.flush_metrics(raise_on_empty_metrics=False)


def _measure_aggregator() -> tuple[Tally, int, set[str], dict[str, Any]]:
    """One warm 100-file invocation on moto with versioned landings (as S3 announces them in AWS), then the sweep of
    its hour a week later."""
    from bench.world import fake_nifi, new_session, provisioned, record_for, runtime
    from courier.observability import metrics

    with fake_nifi() as (nifi, ca):
        session = new_session()
        tally = listen(session)
        stack = provisioned(session)
        courier = runtime(session, stack, nifi, ca, landing_buckets=stack.landing_bucket)
        s3 = session.client("s3")

        def batch(prefix: str, count: int) -> list[dict[str, Any]]:
            out = []
            for i, body in enumerate(files(count, seed=count)):
                key = f"{prefix}/{i:06d}.json"
                put = s3.put_object(Bucket=stack.landing_bucket, Key=key, Body=body)
                out.append(record_for(stack.landing_bucket, key, put, len(body), stack.queue_arn))
            return out

        with captured():
            courier.aggregator.process(batch("warm", 1))  # the secret and the breaker are read once per container
        records = batch("cost", FILES)
        tally.take()
        with captured() as out:
            result = courier.aggregator.process(records)
            _flush(metrics)
        measured = tally.take()
        courier.nifi.close()
        with captured() as swept_out:
            swept, sweep_wall = _sweep_a_week_later(session, stack)
            _flush(metrics)
        sweep_tally = tally.take()
    assert not result.failed and len(result.delivered) == FILES, result.failed
    text = out.getvalue()
    bundles = swept.bundles_delivered + swept.bundles_kept  # the warm-up's 1-file bundle is in the same hour
    sweep = {
        "tally": sweep_tally,
        "bundles": bundles,
        "wall_s": sweep_wall,
        "swept_share": swept.versions_swept / (FILES + 1),  # the warm-up's file and the invocation's
    }
    return measured, len(text.encode()), emf_metric_names(text) | emf_metric_names(swept_out.getvalue()), sweep


def _sweep_a_week_later(session: Any, stack: Any) -> tuple[Any, float]:
    """One sweep run over the invocation's hour, a week and two hours later, as the controller's role would run it."""
    from datetime import UTC, datetime, timedelta

    from courier.adapters.landing import S3LandingVersions
    from courier.adapters.s3 import S3ArchiveReader
    from courier.sweep import Sweep

    s3 = session.client("s3")
    sweep = Sweep(S3ArchiveReader(s3, stack.archive_bucket), S3LandingVersions(s3), [stack.landing_bucket])
    wall = time.perf_counter()
    result = sweep.run(datetime.now(UTC) + timedelta(days=7, hours=2))
    return result, time.perf_counter() - wall


def _measure_controller() -> tuple[Tally, float, set[str]]:
    """One run of the breaker controller with the circuit closed and nothing parked (the steady state)."""
    import zipfile

    from bench.world import new_session, provisioned
    from courier.compose import build_controller
    from courier.config import ControllerSettings
    from courier.local.emulator import _detach_moto_self_invocation
    from courier.observability import metrics

    session = new_session()
    stack = provisioned(session)
    role = session.client("iam").create_role(RoleName="cost-model", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as z:
        z.writestr("index.py", "def handler(e, c): return None\n")
    lam = session.client("lambda")
    lam.create_function(
        FunctionName="cost-model", Runtime="python3.12", Role=role, Handler="index.handler", Code={"ZipFile": package.getvalue()}
    )
    uuid = lam.create_event_source_mapping(EventSourceArn=stack.queue_arn, FunctionName="cost-model", BatchSize=10)["UUID"]
    _detach_moto_self_invocation(stack.queue_arn)
    tally = listen(session)
    controller = build_controller(
        ControllerSettings.from_env({"COURIER_ESM_UUID": uuid, "COURIER_BREAKER_TABLE": stack.breaker_table}), None, session
    )
    with captured():
        controller.run_once()  # warm
    tally.take()
    with captured() as out:
        wall = time.perf_counter()
        controller.run_once()
        wall = time.perf_counter() - wall
        _flush(metrics)
    return tally.take(), wall, emf_metric_names(out.getvalue())


def measure(stub: dict[str, Any] | None = None) -> dict[str, Any]:
    """Counted requests and units of the aggregator and the controller, and the GB-s of both."""
    from moto import mock_aws

    from bench.cost_memory import gb_s_per_file
    from courier.local.emulator import (
        make_conditional_writes_atomic,
        make_moto_like_aws_for_terraform,
        make_notifications_like_aws,
    )

    make_moto_like_aws_for_terraform()  # bucket policies evaluated as AWS does: the landing put guard lets a plain PUT in
    make_conditional_writes_atomic()
    make_notifications_like_aws()
    with mock_aws():
        aggregator, log_bytes, names, sweep = _measure_aggregator()
    with mock_aws():
        controller, controller_wall, controller_names = _measure_controller()
    if stub is None:
        from bench.handler_latency import with_stub

        stub = figures_only(with_stub)(files(FILES), sequential_rounds=0)
    return {
        "aggregator": aggregator,
        "controller": controller,
        "log_bytes": log_bytes,
        "metric_names": sorted(names | controller_names),
        "gb_s_per_file": gb_s_per_file(stub["warm_invocation_s"], stub["warm_cpu_s"], AGGREGATOR_MEMORY_MB, FILES),
        "controller_gb_s": controller_wall * CONTROLLER_MEMORY_MB / 1024,
        "sweep": sweep["tally"],
        "sweep_bundles": sweep["bundles"],
        "sweep_gb_s_per_file": sweep["wall_s"] / sweep["bundles"] / FILES * SWEEP_PASSES * CONTROLLER_MEMORY_MB / 1024,
        "swept_share": sweep["swept_share"],
    }


def model(measured: dict[str, Any], prices: dict[str, Price], rate: float) -> dict[str, Any]:
    lines = per_file_lines(
        measured["aggregator"],
        measured["controller"],
        measured["log_bytes"],
        measured["gb_s_per_file"],
        measured["controller_gb_s"],
    )
    lines += sweep_lines(measured["sweep"], measured["sweep_bundles"])
    lines.append(
        Line(
            "Lambda",
            f"sweep GB-s at {CONTROLLER_MEMORY_MB} MB (measured)",
            measured["sweep_gb_s_per_file"],
            "lambda_arm64_gb_second",
        )
    )
    lines += monthly_cloudwatch(len(measured["metric_names"]), alarms_declared())
    lines += landing_storage_after_sweep(measured["swept_share"])
    return gbp(lines, prices, rate)


def main(stub: dict[str, Any] | None = None) -> dict[str, Any]:
    prices, rate = load_prices()
    measured = measure(stub)
    costs = model(measured, prices, rate)
    agg, ctl = measured["aggregator"], measured["controller"]
    rows = [(op, f"{n / FILES:.3f}/file", "requests, 100-file invocation") for op, n in sorted(agg.calls.items())]
    rows += [
        (
            "dynamodb units",
            f"{agg.wru / FILES:.2f} W {agg.rru / FILES:.2f} R/file",
            "write / read request units, from the items' sizes",
        )
    ]
    rows += [(op, f"{n}/run", "controller, every minute") for op, n in sorted(ctl.calls.items())]
    sweep = measured["sweep"]
    over = f"sweep, one run over {measured['sweep_bundles']} bundles"
    rows += [(op, f"{n}/run", over) for op, n in sorted(sweep.calls.items())]
    rows += [
        (
            p["service"],
            f"£{p['gbp_per_month']:.2f}/month",
            f"{p['what']}: {p['quantity']:.4g}{'/month' if p['monthly'] else '/file'}",
        )
        for p in costs["lines"]
    ]
    for service, amount in costs["by_service"].items():
        rows.append((service, f"£{amount:.2f}/month", f"design §7: £{DESIGN_GBP.get(service, '-')}"))
    rows.append(
        (
            "total",
            f"£{costs['gbp_per_month']:.2f}/month",
            f"£{costs['gbp_per_million_files']:.2f} per million files; design §7: £{sum(DESIGN_GBP.values())}",
        )
    )
    rows.append(
        (
            "courier's own",
            f"£{costs['courier_own_gbp_per_month']:.2f}/month",
            f"£{costs['courier_own_gbp_per_million_files']:.2f}/M files; target <= £{TARGET_GBP_PER_MONTH}/month",
        )
    )
    report(
        f"cost per file at eu-west-2 list prices ({PRICES.name}, £1 = ${1 / rate:.3f}), "
        f"{FILES_PER_MONTH / 1e6:.2f}M files/month of ~{FILE_KB} KB",
        rows,
        COMMAND,
    )
    figures = {
        "files_per_invocation": FILES,
        "files_per_month": FILES_PER_MONTH,
        "gbp_per_usd": rate,
        "aggregator_calls": dict(sorted(agg.calls.items())),
        "aggregator_wru_per_file": agg.wru / FILES,
        "aggregator_rru_per_file": agg.rru / FILES,
        "controller_calls_per_run": dict(sorted(ctl.calls.items())),
        "controller_wru_per_run": ctl.wru,
        "controller_rru_per_run": ctl.rru,
        "log_bytes_per_invocation": measured["log_bytes"],
        "metric_names": measured["metric_names"],
        "gb_s_per_file": measured["gb_s_per_file"],
        "controller_gb_s_per_run": measured["controller_gb_s"],
        "sweep_calls_per_run": dict(sorted(sweep.calls.items())),
        "sweep_gb_s_per_file": measured["sweep_gb_s_per_file"],
        "swept_share": measured["swept_share"],
        "undelivered_at_the_week": UNDELIVERED_AT_THE_WEEK,
        "sweep_delay_days": SWEEP_DELAY_DAYS,
        "design_gbp_per_month": DESIGN_GBP,
        "target_gbp_per_month": TARGET_GBP_PER_MONTH,
        **costs,
    }
    save("cost_model", figures, COMMAND)
    return figures


if __name__ == "__main__":
    main()
