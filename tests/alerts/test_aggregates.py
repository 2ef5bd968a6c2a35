"""Home blood pressure per protocol and glucose levels."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from alerts.aggregates import HomeBpRule, glucose_category, glucose_levels
from alerts.days import local_days
from alerts.explain import Level, Status
from tests.alerts.helpers import oslo

RULE = HomeBpRule()


def _week(
    day1: tuple[int, int], rest: tuple[int, int], start: tuple[int, int, int] = (2025, 5, 5), days: int = 7
) -> tuple[list[float], list[float], list[float]]:
    """Duplicate morning and evening readings; day 1 at `day1` (sys, dia), the other days at `rest`."""
    times, sys, dia = [], [], []
    for d in range(days):
        for hour, minute in ((7, 0), (7, 2), (21, 0), (21, 2)):
            day = dt.date(*start) + dt.timedelta(days=d)
            times.append(oslo(day.year, day.month, day.day, hour, minute))
            value = day1 if d == 0 else rest
            sys.append(float(value[0]))
            dia.append(float(value[1]))
    return times, sys, dia


def test_first_day_is_discarded() -> None:
    decision = RULE.evaluate(*_week((170, 100), (128, 80)))
    assert not decision.triggered
    assert decision.explanation.values == {"mean_systolic": 128, "mean_diastolic": 80}
    assert decision.explanation.inputs["readings_used"] == 24
    assert decision.explanation.inputs["morning_readings"] == 12


@pytest.mark.parametrize(
    ("rest", "elevated"),
    [((135, 80), True), ((134, 84), False), ((120, 85), True), ((134.9, 84.9), False)],
)
def test_limits_are_135_over_85_inclusive(rest: tuple[int, int], elevated: bool) -> None:
    decision = RULE.evaluate(*_week((120, 70), rest))
    assert decision.triggered is elevated
    assert decision.level is (Level.YELLOW if elevated else Level.GREEN)


def test_readings_after_day_7_are_not_used() -> None:
    times, sys, dia = _week((120, 70), (120, 70), days=7)
    times.append(oslo(2025, 5, 12, 7))
    sys.append(220.0)
    dia.append(120.0)
    assert not RULE.evaluate(times, sys, dia).triggered


def test_explicit_start_day() -> None:
    times, sys, dia = _week((150, 95), (120, 70), days=7)
    start = int(local_days(np.array([oslo(2025, 5, 4)]))[0])
    decision = RULE.evaluate(times, sys, dia, start_day=start)
    assert decision.explanation.inputs["day_1"] == "2025-05-04"
    assert decision.explanation.inputs["readings_used"] == 24  # 5..10 May; the 11th is day 8


@pytest.mark.parametrize("days", [0, 1, 3])
def test_too_few_days_is_insufficient(days: int) -> None:
    decision = RULE.evaluate(*_week((150, 95), (150, 95), days=days))
    assert decision.status is Status.INSUFFICIENT_DATA


def test_nan_in_one_arm_drops_the_pair() -> None:
    times, sys, dia = _week((120, 70), (130, 80))
    sys[5] = math.nan
    dia[6] = 300.0
    decision = RULE.evaluate(times, sys, dia)
    assert decision.explanation.inputs["readings"] == 27
    assert decision.explanation.values["mean_systolic"] == pytest.approx((130 * 22 + 130) / 23)


def test_protocol_week_across_dst_and_out_of_order() -> None:
    times, sys, dia = _week((120, 70), (140, 90), start=(2025, 3, 27))
    decision = RULE.evaluate(times[::-1], sys[::-1], dia[::-1])
    assert decision.triggered
    assert decision.explanation.inputs["evening_readings"] == 12


@pytest.mark.parametrize(
    ("value", "name", "level"),
    [
        (2.9, "level_2_hypoglycaemia", Level.RED),
        (3.0, "level_1_hypoglycaemia", Level.YELLOW),
        (3.8, "level_1_hypoglycaemia", Level.YELLOW),
        (3.9, "in_range", Level.GREEN),
        (13.9, "in_range", Level.GREEN),
        (14.0, "level_2_hyperglycaemia", Level.YELLOW),
    ],
)
def test_glucose_levels(value: float, name: str, level: Level) -> None:
    assert glucose_category(value) == (name, level)


def test_glucose_window_judges_the_newest_and_counts_the_rest() -> None:
    t = oslo(2025, 5, 1, 8)
    decision = glucose_levels([t + 600, t, t + 300, t + 900], [2.8, 6.0, 15.0, math.nan])
    assert decision.level is Level.RED
    assert decision.explanation.values["counts"] == {
        "in_range": 1,
        "level_2_hyperglycaemia": 1,
        "level_2_hypoglycaemia": 1,
    }


def test_glucose_empty_window() -> None:
    assert glucose_levels([], []).status is Status.INSUFFICIENT_DATA
