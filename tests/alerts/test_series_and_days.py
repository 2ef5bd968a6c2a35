"""Cleaning raw windows, and local calendar days across DST."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alerts.days import consecutive_tail, daily, day_label, local_days, local_hours
from alerts.series import clean
from tests.alerts.helpers import oslo

T0 = 1_750_000_000.0


def test_empty() -> None:
    series = clean([], [])
    assert len(series) == 0
    assert series.dropped == {}


def test_out_of_order_is_sorted() -> None:
    series = clean([T0 + 20, T0, T0 + 10], [3, 1, 2])
    assert series.values.tolist() == [1, 2, 3]


def test_duplicate_timestamps_keep_the_last_arrival() -> None:
    series = clean([T0, T0 + 10, T0, T0 + 10], [1, 2, 5, 6])
    assert series.times.tolist() == [T0, T0 + 10]
    assert series.values.tolist() == [5, 6]
    assert series.dropped == {"duplicate_time": 2}


def test_non_finite_values_and_times_are_dropped_and_counted() -> None:
    series = clean([T0, T0 + 1, math.nan, T0 + 3, math.inf], [1, math.nan, 3, -math.inf, 5])
    assert series.values.tolist() == [1]
    assert series.dropped == {"bad_time": 2, "non_finite_value": 2}


def test_clock_reset_and_jump_are_dropped() -> None:
    series = clean([0.0, T0, T0 + 86_400 * 365 * 200, T0 + 3600], [1, 2, 3, 4], now=T0 + 60)
    assert series.values.tolist() == [2]
    assert series.dropped == {"implausible_time": 2, "future_time": 1}


def test_small_clock_drift_ahead_of_now_is_tolerated() -> None:
    assert len(clean([T0 + 100], [1], now=T0)) == 1


def test_unpaired_arrays_are_truncated_not_raised() -> None:
    series = clean([T0, T0 + 1, T0 + 2], [1, 2])
    assert len(series) == 2
    assert series.dropped == {"unpaired": 1}


def test_non_numeric_input_becomes_empty() -> None:
    assert len(clean(["a", "b"], [1, 2])) == 0


def test_two_dimensional_input_is_flattened() -> None:
    assert len(clean(np.array([[T0, T0 + 1]]), np.array([[1.0], [2.0]]))) == 2


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (oslo(2025, 3, 30, 0, 30), "2025-03-30"),  # CET, just after midnight on the spring-forward day
        (oslo(2025, 3, 30, 23, 30), "2025-03-30"),  # CEST; a fixed +1 h offset would say 22:30, same day
        (oslo(2025, 3, 31, 0, 30), "2025-03-31"),  # a fixed +1 h offset would put this on the 30th
        (oslo(2025, 10, 26, 0, 30), "2025-10-26"),  # CEST, fall-back day
        (oslo(2025, 10, 26, 2, 30, fold=1), "2025-10-26"),  # the repeated hour, second time (CET)
        (oslo(2025, 10, 26, 23, 30), "2025-10-26"),
        (oslo(2025, 10, 27, 0, 10), "2025-10-27"),
    ],
)
def test_local_days_across_dst(instant: float, expected: str) -> None:
    assert day_label(int(local_days(np.array([instant]))[0])) == expected


def test_local_hours_across_dst() -> None:
    hours = local_hours(np.array([oslo(2025, 3, 30, 7), oslo(2025, 3, 29, 7), oslo(2025, 10, 26, 7)]))
    assert hours.tolist() == [7.0, 7.0, 7.0]


def test_dst_days_are_23_and_25_hours_and_aggregate_to_one_day_each() -> None:
    spring = [oslo(2025, 3, 30, 0, 0), oslo(2025, 3, 30, 23, 59)]
    autumn = [oslo(2025, 10, 26, 0, 0), oslo(2025, 10, 26, 23, 59)]
    assert spring[1] - spring[0] == pytest.approx(23 * 3600 - 60)
    assert autumn[1] - autumn[0] == pytest.approx(25 * 3600 - 60)
    per_day = daily(clean(spring + autumn, [1, 3, 5, 9]), "mean")
    assert per_day.labels() == ["2025-03-30", "2025-10-26"]
    assert per_day.values.tolist() == [2, 7]
    assert per_day.counts.tolist() == [2, 2]


@pytest.mark.parametrize(("how", "expected"), [("first", 3), ("last", 1), ("median", 2), ("min", 1), ("max", 3)])
def test_daily_aggregations(how: str, expected: float) -> None:
    times = [oslo(2025, 5, 1, 7), oslo(2025, 5, 1, 12), oslo(2025, 5, 1, 20)]
    assert daily(clean(times, [3, 2, 1]), how).values.tolist() == [expected]  # type: ignore[arg-type]


def test_daily_of_nothing() -> None:
    assert len(daily(clean([], []))) == 0


def test_consecutive_tail_needs_adjacent_calendar_days() -> None:
    days = np.array([1, 2, 3, 5, 6], dtype=np.int64)
    assert consecutive_tail(days, np.array([True, True, True, True, True])) == 2
    assert consecutive_tail(days, np.array([True, True, True, True, False])) == 0
    assert consecutive_tail(days[:3], np.array([True, True, True])) == 3
    assert consecutive_tail(days[:0], np.array([], dtype=bool)) == 0
