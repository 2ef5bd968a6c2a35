"""Personal baselines and the trend detectors on daily series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alerts.baseline import MAD_TO_SD, BaselineWindow, baseline_of
from alerts.explain import Level, Status
from alerts.trend import CusumRule, EwmaRule, MacdRule, ZScoreRule
from tests.alerts.helpers import mornings, oslo

RNG = np.random.default_rng(20250501)
STABLE = (80.0 + RNG.normal(0, 0.3, 28)).round(1).tolist()
WINDOW = BaselineWindow(baseline_days=28, min_baseline_days=14, monitor_days=7)


def _series(recent: list[float], start: tuple[int, int, int] = (2025, 4, 1)) -> tuple[list[float], list[float]]:
    return mornings(start, STABLE + recent)


def test_baseline_statistics() -> None:
    baseline = baseline_of(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))
    assert baseline.median == 3.0
    assert baseline.mad == pytest.approx(MAD_TO_SD * 1.0)
    assert baseline.mean == 22.0
    assert baseline.sd == pytest.approx(np.std([1, 2, 3, 4, 100], ddof=1))
    assert baseline_of(np.array([5.0])).sd == 0.0


def test_window_parameters_are_checked() -> None:
    with pytest.raises(ValueError):
        BaselineWindow(baseline_days=7, min_baseline_days=14)


ALL = [ZScoreRule(window=WINDOW), CusumRule(window=WINDOW), EwmaRule(window=WINDOW)]


@pytest.mark.parametrize("rule", ALL, ids=lambda r: r.name)
def test_stable_person_stays_green(rule: ZScoreRule) -> None:
    times, values = _series([80.0, 80.1, 79.9, 80.0, 80.2, 79.8, 80.0])
    decision = rule.evaluate(times, values)
    assert decision.status is Status.EVALUATED
    assert not decision.triggered


@pytest.mark.parametrize("rule", ALL, ids=lambda r: r.name)
def test_sustained_rise_raises(rule: ZScoreRule) -> None:
    times, values = _series([80.2, 81.0, 81.6, 82.0, 82.4, 82.6, 82.8])
    decision = rule.evaluate(times, values)
    assert (decision.triggered, decision.level) == (True, Level.YELLOW)
    assert decision.explanation.rule == f"trend.{rule.name}"


def test_zscore_one_odd_day_does_not_raise_but_two_do() -> None:
    rule = ZScoreRule(window=WINDOW)
    one = rule.evaluate(*_series([80.0, 80.1, 79.9, 80.0, 80.2, 80.0, 83.0]))
    two = rule.evaluate(*_series([80.0, 80.1, 79.9, 80.0, 80.2, 83.0, 83.0]))
    assert not one.triggered
    assert one.explanation.values["flagged_days_in_a_row"] == 1
    assert two.triggered


def test_zscore_persistence_needs_consecutive_calendar_days() -> None:
    times, values = _series([80.0, 80.1, 79.9, 80.0, 83.0, 80.0, 83.0])
    del times[-2], values[-2]  # a day without weighing between two high days
    assert not ZScoreRule(window=WINDOW).evaluate(times, values).triggered


def test_zscore_direction() -> None:
    times, values = _series([80.0, 80.0, 80.0, 80.0, 80.0, 77.0, 77.0])
    assert not ZScoreRule(window=WINDOW).evaluate(times, values).triggered
    assert ZScoreRule(window=WINDOW, direction="down").evaluate(times, values).triggered
    assert ZScoreRule(window=WINDOW, direction="both").evaluate(times, values).triggered


def test_classic_method_uses_mean_and_sd() -> None:
    window = BaselineWindow(method="classic", min_baseline_days=14, monitor_days=7)
    decision = ZScoreRule(window=window).evaluate(*_series([80.0] * 5 + [83.0, 83.0]))
    assert decision.triggered
    baseline = decision.explanation.values["baseline"]
    assert isinstance(baseline, dict)
    assert decision.explanation.values["spread_used"] == pytest.approx(baseline["sd"])


@pytest.mark.parametrize("days", [0, 1, 13])
def test_too_short_a_baseline_is_insufficient(days: int) -> None:
    times, values = mornings((2025, 4, 1), STABLE[:days] + [90.0] * 7)
    decision = ZScoreRule(window=WINDOW).evaluate(times, values)
    assert decision.status is Status.INSUFFICIENT_DATA


def test_constant_baseline_needs_min_spread() -> None:
    times, values = mornings((2025, 4, 1), [80.0] * 28 + [80.1] * 7)
    assert ZScoreRule(window=WINDOW).evaluate(times, values).status is Status.INSUFFICIENT_DATA
    window = BaselineWindow(min_spread=0.5)
    assert not ZScoreRule(window=window).evaluate(times, values).triggered


def test_nan_duplicates_out_of_order_and_clock_jump() -> None:
    times, values = _series([80.2, 81.0, 81.6, 82.0, 82.4, 82.6, 82.8])
    times += [times[3], times[-1], 0.0, times[-1] + 86_400 * 400]
    values += [math.nan, 82.8, 200.0, 20.0]
    order = RNG.permutation(len(times))
    decision = CusumRule(window=WINDOW).evaluate(np.array(times)[order], np.array(values)[order], now=times[-5] + 3600)
    assert decision.triggered
    assert decision.explanation.inputs["dropped"] == {
        "implausible_time": 1,
        "future_time": 1,
        "non_finite_value": 1,
        "duplicate_time": 1,
    }


def test_baseline_spanning_dst_changes() -> None:
    times, values = _series([80.2, 81.0, 81.6, 82.0, 82.4, 82.6, 82.8], start=(2025, 3, 10))
    decision = EwmaRule(window=WINDOW).evaluate(times, values)
    assert decision.triggered
    days = decision.explanation.inputs["days"]
    assert isinstance(days, list)
    assert len(days) == 7 and days[0] == "2025-04-07"


def test_several_readings_a_day_aggregate_to_the_daily_median() -> None:
    times, values = _series([80.0] * 7)
    times += [oslo(2025, 5, 5, h) for h in (12, 18, 22)]
    values += [90.0, 90.0, 90.0]  # three high readings outvote the morning one on the last day
    decision = ZScoreRule(window=WINDOW, persist_days=1).evaluate(times, values)
    assert decision.triggered


def test_cusum_accumulates_a_small_shift() -> None:
    small = [80.3] * 7  # about one spread above normal: each day alone is unremarkable
    z = ZScoreRule(window=WINDOW).evaluate(*_series(small))
    cusum = CusumRule(window=WINDOW).evaluate(*_series(small))
    assert not z.triggered
    assert cusum.triggered


MACD = MacdRule()


def test_macd_flags_a_sustained_gain() -> None:
    times, values = mornings((2025, 4, 1), [80.0] * 20 + [80.5, 81.0, 81.6, 82.2, 82.8, 83.4])
    decision = MACD.evaluate(times, values)
    assert decision.triggered
    assert decision.explanation.rule == "trend.macd"


def test_macd_ignores_noise_and_one_spike() -> None:
    times, values = mornings((2025, 4, 1), [*STABLE, 83.0, 80.0])
    assert not MACD.evaluate(times, values).triggered


def test_macd_needs_long_days() -> None:
    times, values = mornings((2025, 4, 1), [80.0] * 13)
    assert MACD.evaluate(times, values).status is Status.INSUFFICIENT_DATA


@pytest.mark.parametrize("bad", [{"short": 14, "long": 3}, {"persist_days": 0}])
def test_macd_parameters_are_checked(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        MacdRule(**bad)  # type: ignore[arg-type]
