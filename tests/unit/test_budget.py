"""The time budget: POST timeouts derived from the function timeout, and the relations that must hold."""

from __future__ import annotations

import pytest

from courier import budget
from courier.config import Settings
from courier.errors import ConfigError

REQUIRED = {"COURIER_ARCHIVE_BUCKET": "a", "COURIER_NIFI_URL": "https://nifi.example/contentListener"}


@pytest.mark.parametrize("timeout", [40, 120, 300, 900])
def test_derived_read_timeout_keeps_a_bundle_within_half_the_function_time(timeout):
    read = budget.read_timeout_for(timeout, 5)
    assert budget.post_budget_seconds(5, read) == pytest.approx(budget.max_post_budget_seconds(timeout))
    assert budget.violated(timeout, 5, read) == []


def test_the_old_fixed_timeouts_would_not_fit_a_120_second_function():
    # connect 5 + write 60 + read 60 = 125 s for one POST: more than the whole function.
    assert budget.violated(120, 5, 60)


def test_settings_derive_the_read_timeout_from_the_function_timeout():
    settings = Settings.from_env(REQUIRED | {"COURIER_FUNCTION_TIMEOUT_SECONDS": "300"})
    assert settings.read_timeout_seconds == pytest.approx(budget.read_timeout_for(300, 5))


def test_a_read_timeout_that_breaks_the_budget_stops_with_one_line_naming_the_settings():
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(REQUIRED | {"COURIER_READ_TIMEOUT_SECONDS": "60"})
    message = str(caught.value)
    assert "\n" not in message and "COURIER_READ_TIMEOUT_SECONDS" in message and "125" not in message


def test_a_lease_shorter_than_the_function_timeout_is_refused():
    with pytest.raises(ConfigError, match="claim lease"):
        Settings.from_env(REQUIRED | {"COURIER_CLAIM_LEASE_SECONDS": "100"})


@pytest.mark.parametrize(("visibility", "window", "ok"), [(720, 0, True), (740, 20, True), (739, 20, False), (600, 0, False)])
def test_visibility_must_cover_six_function_timeouts_and_the_window(visibility, window, ok):
    problems = budget.violated(120, 5, budget.read_timeout_for(120, 5), 180, visibility, window)
    assert (problems == []) is ok


@pytest.mark.parametrize("days", ["7", "14"])
def test_a_ledger_ttl_shorter_than_a_message_can_live_is_refused(days):
    """14 days is what SQS keeps a message at most; the aggregator trusts the ledger an hour less than its TTL."""
    with pytest.raises(ConfigError, match=r"^COURIER_LEDGER_TTL_DAYS is too short") as raised:
        Settings.from_env(REQUIRED | {"COURIER_LEDGER_TTL_DAYS": days})
    assert "\n" not in str(raised.value) and "COURIER_CLAIM" not in str(raised.value)
    default = Settings.from_env(REQUIRED).ledger_ttl_days * 86400
    assert budget.ledger_window_seconds(default) >= 14 * 86400
