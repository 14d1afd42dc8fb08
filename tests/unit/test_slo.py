import pytest

from courier.operator.slo import quantile, summarise


def test_quantiles_are_nearest_rank():
    values = [float(v) for v in range(1, 1001)]
    assert quantile(values, 0.5) == 500 and quantile(values, 0.95) == 950 and quantile(values, 0.999) == 999


def test_slo_met_only_when_both_targets_hold():
    fast = summarise([10.0] * 999 + [170.0])
    assert fast["slo_met"] and fast["within_2_minutes"] == pytest.approx(0.999)
    slow_tail = summarise([10.0] * 997 + [200.0] * 3)  # 99.7% within 3 minutes
    assert not slow_tail["slo_met"] and slow_tail["within_2_minutes"] >= 0.95
    slow_body = summarise([10.0] * 90 + [150.0] * 10)  # 90% within 2 minutes
    assert not slow_body["slo_met"]


def test_empty_run_has_no_percentiles():
    assert summarise([]) == {"files": 0}
