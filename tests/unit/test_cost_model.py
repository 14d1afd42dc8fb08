"""The cost model's arithmetic (bench/cost_model.py): its price table, request units, £ per month and per million files."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.cost_model import (
    PRICES,
    Line,
    Price,
    dynamodb_units,
    gbp,
    item_units,
    ledger_lines,
    load_prices,
    prod_ledger_capacity,
    provisioned_units,
)


def _price(name: str, usd: float, per: int) -> Price:
    return Price(name, usd, per, "unit", "https://example.invalid/pricing", "2026-12-06")


def test_every_price_in_the_table_has_its_source_and_the_date_it_was_read():
    prices, rate = load_prices()
    assert 0.5 < rate < 1.0  # GBP per USD
    assert {"s3_put_class", "s3_get_class", "dynamodb_write_request_unit", "sqs_standard_request"} <= set(prices)
    for price in prices.values():
        assert price.source.startswith("https://aws.amazon.com/"), price
        assert "2026" in price.read and price.usd >= 0 and price.per >= 1, price
    assert prices["s3_put_class"].usd_each() == pytest.approx(0.0053 / 1000)
    assert prices["s3_get_class"].usd_each() == pytest.approx(0.00042 / 1000)


def test_a_price_without_its_source_is_refused_by_name(tmp_path: Path):
    table = PRICES.read_text().replace('source = "https://aws.amazon.com/sqs/pricing/"', 'source = ""')
    path = tmp_path / "prices.toml"
    path.write_text(table)
    with pytest.raises(ValueError, match=r"\[sqs_standard_request\] lacks source"):
        load_prices(path)


def test_transactions_cost_two_write_units_per_item_and_large_items_more():
    small = {"pk": {"S": "a"}, "sk": {"S": "b"}}
    large = {"pk": {"S": "a"}, "blob": {"S": "x" * 2500}}
    assert item_units(small) == 1 and item_units(large) == 3
    assert dynamodb_units("TransactWriteItems", {"TransactItems": [{"Put": {"Item": small}}] * 3}) == (6, 0)
    assert dynamodb_units("TransactWriteItems", {"TransactItems": [{"Update": {"Key": small}}] * 2}) == (4, 0)
    batch = {"RequestItems": {"t": [{"PutRequest": {"Item": small}}] * 25}}
    assert dynamodb_units("BatchWriteItem", batch) == (25, 0)
    assert dynamodb_units("PutItem", {"Item": large}) == (3, 0)
    assert dynamodb_units("BatchGetItem", {"RequestItems": {"t": {"Keys": [small] * 7}}}) == (0, 7)


def test_per_file_counts_times_prices_are_the_printed_totals():
    prices = {"put": _price("put", 2.0, 1000), "metric": _price("metric", 0.30, 1), "sqs": _price("sqs", 0.40, 1_000_000)}
    lines = [
        Line("S3", "PUT-class requests", 1.0, "put"),  # 1M files x $0.002 x 0.5 = £1000
        Line("CloudWatch", "metrics", 10, "metric", monthly=True),  # 10 x $0.30 x 0.5 = £1.50
        Line("SQS", "S3's notification SendMessage", 1.0, "sqs"),  # 1M x $0.0000004 x 0.5 = £0.20
    ]
    costs = gbp(lines, prices, rate=0.5, files_per_month=1_000_000)
    assert [line["gbp_per_month"] for line in costs["lines"]] == pytest.approx([1000.0, 1.5, 0.2])
    assert costs["by_service"] == pytest.approx({"S3": 1000.0, "CloudWatch": 1.5, "SQS": 0.2})
    assert costs["gbp_per_month"] == pytest.approx(1001.7)
    assert costs["gbp_per_million_files"] == pytest.approx(1001.7)
    # S3's notification sends are the uploader's event, not courier's call
    assert costs["courier_own_gbp_per_month"] == pytest.approx(1001.5)
    assert costs["courier_own_gbp_per_million_files"] == pytest.approx(1001.5)


def test_a_provisioned_ledger_is_priced_by_the_capacity_auto_scaling_keeps_not_by_the_units():
    # 1 unit a file at 25.92M files a month is 10 units a second: 15 at 70% utilisation (the floor is 15 too).
    assert provisioned_units(1.0, 15, 70, 25_920_000) == 15
    assert provisioned_units(4.0, 15, 70, 25_920_000) == 58  # 40/s at 70%
    assert provisioned_units(0.0, 5, 70, 25_920_000) == 5
    capacity = {"mode": "provisioned", "write_min": 15, "read_min": 5, "target_percent": 70}
    lines = ledger_lines(1.0, 0.0, capacity, 25_920_000)
    summed = [line for line in lines if line.in_total]
    assert [(line.price, line.quantity) for line in summed] == [
        ("dynamodb_provisioned_wcu_hour", 15 * 720),
        ("dynamodb_provisioned_rcu_hour", 5 * 720),
    ]
    prices = {
        "dynamodb_provisioned_wcu_hour": _price("w", 0.001, 1),
        "dynamodb_provisioned_rcu_hour": _price("r", 0.0002, 1),
        "dynamodb_write_request_unit": _price("wru", 1.0, 1_000_000),
        "dynamodb_read_request_unit": _price("rru", 0.2, 1_000_000),
    }
    costs = gbp(lines, prices, rate=1.0, files_per_month=25_920_000)
    # The on-demand alternative is shown (25.92 for the writes) but only the capacity is in the total.
    assert [round(line["gbp_per_month"], 2) for line in costs["lines"]] == [10.8, 0.72, 25.92, 0.0]
    assert costs["gbp_per_month"] == pytest.approx(11.52)
    assert ledger_lines(1.0, 0.0, {"mode": "on_demand"}, 25_920_000)[0].price == "dynamodb_write_request_unit"


def test_the_model_prices_the_ledger_as_prods_terraform_provisions_it():
    capacity = prod_ledger_capacity()
    assert capacity["mode"] == "provisioned" and capacity["write_min"] >= 1 and 20 <= capacity["target_percent"] <= 90


def test_the_sweep_cuts_the_landing_storage_to_the_delay_for_delivered_files_and_keeps_the_lifecycles_rest():
    from bench.cost_model import (
        SWEEP_DELAY_DAYS,
        UNDELIVERED_AT_THE_WEEK,
        landing_storage_after_sweep,
        landing_storage_kept,
    )

    from courier.resources import LANDING_NONCURRENT_DAYS

    everything_kept = landing_storage_kept(LANDING_NONCURRENT_DAYS).quantity
    swept, kept = landing_storage_after_sweep(1.0)
    assert kept.quantity == pytest.approx(everything_kept * UNDELIVERED_AT_THE_WEEK)
    assert swept.quantity == pytest.approx(everything_kept / LANDING_NONCURRENT_DAYS * SWEEP_DELAY_DAYS * 0.999)
    assert 1 / 24 < SWEEP_DELAY_DAYS < 3 / 24  # the hour's end, the margin, the next hourly run
    # A sweep that deleted nothing leaves every file's data to the lifecycle: the old line, whole.
    swept, kept = landing_storage_after_sweep(0.0)
    assert swept.quantity == 0 and kept.quantity == pytest.approx(everything_kept)
