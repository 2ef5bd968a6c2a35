"""Weight gain over days and temperature above the person's baseline."""

from __future__ import annotations

import math

import pytest

from alerts.delta import BaselineRiseRule, DeltaRule
from alerts.explain import Level, Status
from tests.alerts.helpers import mornings, oslo

WEIGHT = DeltaRule()


def test_esc_rule_more_than_2_kg_in_3_days() -> None:
    times, values = mornings((2025, 5, 1), [80.0, 80.4, 81.2, 82.1])
    decision = WEIGHT.evaluate(times, values)
    assert (decision.level, decision.triggered) == (Level.YELLOW, True)
    assert decision.explanation.values["change_latest_day"] == pytest.approx(2.1)


def test_exactly_2_kg_does_not_trigger() -> None:
    times, values = mornings((2025, 5, 1), [80.0, 80.5, 81.0, 82.0])
    assert not WEIGHT.evaluate(times, values).triggered


def test_gain_spread_over_more_than_3_days_does_not_trigger() -> None:
    times, values = mornings((2025, 5, 1), [80.0, 80.6, 81.2, 81.8, 82.4])
    assert not WEIGHT.evaluate(times, values).triggered


def test_gain_from_a_dip_inside_the_window_counts() -> None:
    times, values = mornings((2025, 5, 1), [81.0, 79.8, 81.0, 82.0])
    assert WEIGHT.evaluate(times, values).triggered


def test_first_weight_of_the_day_is_the_morning_weight() -> None:
    times, values = mornings((2025, 5, 1), [80.0, 80.0, 80.0, 81.0])
    times.append(oslo(2025, 5, 4, 19))
    values.append(83.0)  # evening weight after dinner: not the daily value
    assert not WEIGHT.evaluate(times, values).triggered


def test_gain_across_the_spring_dst_change() -> None:
    times, values = mornings((2025, 3, 28), [80.0, 80.3, 81.0, 82.2])
    decision = WEIGHT.evaluate(times, values)
    assert decision.triggered
    assert decision.explanation.inputs["days"][-1] == "2025-03-31"  # type: ignore[index]


def test_second_day_confirmation() -> None:
    rule = DeltaRule(consecutive_days=2)
    times, values = mornings((2025, 5, 1), [80.0, 80.4, 81.2, 82.1])
    assert not rule.evaluate(times, values).triggered
    times, values = mornings((2025, 5, 1), [80.0, 80.4, 81.2, 82.1, 82.6])
    assert rule.evaluate(times, values).triggered


def test_confirmation_needs_consecutive_calendar_days() -> None:
    rule = DeltaRule(consecutive_days=2, days=4)
    times, values = mornings((2025, 5, 1), [80.0, 80.0, 82.5, 80.0, 82.6])
    del times[3], values[3]  # no weighing on the 4th: the 3rd and 5th are not consecutive days
    assert not rule.evaluate(times, values).triggered


def test_falling_direction() -> None:
    rule = DeltaRule(metric="body.weight", change=2.0, direction="down")
    times, values = mornings((2025, 5, 1), [80.0, 79.0, 77.5])
    assert rule.evaluate(times, values).triggered


@pytest.mark.parametrize(
    ("times", "values"),
    [([], []), ([oslo(2025, 5, 1)], [80.0]), ([oslo(2025, 5, 1), oslo(2025, 5, 1, 8)], [80.0, 83.0])],
)
def test_too_little_data_is_insufficient(times: list[float], values: list[float]) -> None:
    decision = WEIGHT.evaluate(times, values)
    assert decision.status is Status.INSUFFICIENT_DATA
    assert not decision.triggered


def test_nan_duplicates_and_out_of_order() -> None:
    times, values = mornings((2025, 5, 1), [80.0, 80.4, 81.2, 82.1])
    times += [times[0], times[2]]
    values += [math.nan, 81.2]
    decision = WEIGHT.evaluate(list(reversed(times)), list(reversed(values)))
    assert decision.triggered


def test_invalid_parameters() -> None:
    with pytest.raises(ValueError):
        DeltaRule(days=0)


FEVER = BaselineRiseRule()


def test_temperature_rise_over_personal_baseline() -> None:
    times, values = mornings((2025, 5, 1), [36.3, 36.4, 36.2, 36.3, 36.4])
    times.append(oslo(2025, 5, 6, 15))
    values.append(37.6)  # 1.3 above a 36.3 baseline; under the 37.8 population fever cut-off
    decision = FEVER.evaluate(times, values)
    assert decision.triggered
    assert decision.explanation.values["baseline"] == pytest.approx(36.3)


def test_rise_of_exactly_1_1_does_not_trigger() -> None:
    times, values = mornings((2025, 5, 1), [36.5, 36.5, 36.5, 37.5])
    assert not FEVER.evaluate(times, values).triggered


def test_today_is_not_part_of_its_own_baseline() -> None:
    times, values = mornings((2025, 5, 1), [36.3, 36.3, 36.3])
    times += [oslo(2025, 5, 4, h) for h in (7, 9, 11, 13, 15)]
    values += [37.5, 37.5, 37.5, 37.5, 37.6]
    assert FEVER.evaluate(times, values).triggered


@pytest.mark.parametrize("days", [0, 1, 2])
def test_baseline_needs_three_days(days: int) -> None:
    times, values = mornings((2025, 5, 1), [36.3] * days + [38.5])
    decision = FEVER.evaluate(times, values)
    assert decision.status is Status.INSUFFICIENT_DATA


def test_baseline_across_autumn_dst() -> None:
    times, values = mornings((2025, 10, 23), [36.2, 36.2, 36.2, 36.2, 37.5])
    decision = FEVER.evaluate(times, values)
    assert decision.triggered
    assert decision.explanation.inputs["day"] == "2025-10-27"
