"""States, probe outcomes, dependencies and failure reasons are enums whose values are the strings
logs, metrics, the breaker table and `courier status --json` always carried."""

from __future__ import annotations

import json

import pytest

from courier import aggregator
from courier.controller import STATE_VALUE, ProbeOutcome
from courier.errors import CourierError, Dependency, NoRoomError, Reason, reasons_where
from courier.operator.status import breaker_state
from courier.ports import BreakerState


def every_error_class() -> list[type[CourierError]]:
    found, pending = [], [CourierError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("member", [*BreakerState, *ProbeOutcome, *Dependency, *Reason], ids=repr)
def test_each_value_reads_as_its_plain_string_in_json_text_and_comparisons(member):
    plain = member.value
    assert json.dumps({"v": member}) == json.dumps({"v": plain})
    assert f"{member}" == str(member) == "%s" % member == plain  # noqa: UP031 - as logging formats it
    assert member == plain and {plain: 1}[member] == 1  # a string read back from DynamoDB finds it


def test_the_circuit_states_are_the_ones_powertools_stores_and_the_alarm_reads():
    assert [s.value for s in BreakerState] == ["CLOSED", "OPEN", "HALF_OPEN", "MISSING", "UNREADABLE"]
    assert STATE_VALUE == {"CLOSED": 0, "MISSING": 0, "HALF_OPEN": 1, "OPEN": 2}
    assert [p.value for p in ProbeOutcome] == ["ok", "busy"]


def test_every_error_class_names_its_reason_and_dependency_by_the_enums():
    for cls in every_error_class():
        assert isinstance(cls.reason, Reason), cls
        assert cls.dependency is None or isinstance(cls.dependency, Dependency), cls
    assert {cls.reason for cls in every_error_class()} == set(Reason)  # no reason left unused


def test_the_aggregator_keeps_no_reason_of_its_own_the_error_classes_say_which():
    assert aggregator.DEFERRED is NoRoomError.reason is Reason.DEFERRED
    assert aggregator.UNNOTED_REASONS == {Reason.BREAKER_OPEN, Reason.CLAIM_BUSY}
    assert aggregator.UNNOTED_REASONS == reasons_where(lambda error: not error.leaves_note)


class Table:
    def __init__(self, states: set[BreakerState]) -> None:
        self._states = states

    def states(self) -> set[BreakerState]:
        return self._states

    def dependency(self) -> str | None:
        return None


@pytest.mark.parametrize(
    ("stored", "worst"),
    [(set(), "CLOSED"), ({BreakerState.CLOSED, BreakerState.HALF_OPEN}, "HALF_OPEN"), (set(BreakerState), "OPEN")],
)
def test_status_reports_the_worst_circuit_as_the_same_json_string(stored, worst):
    assert json.dumps({"breaker_state": breaker_state(Table(stored))}) == json.dumps({"breaker_state": worst})
