"""Limits, hysteresis and persistence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alerts.explain import Level, Status
from alerts.thresholds import DEFAULT_LIMITS, Limits, ThresholdRule, hysteresis_ranks

T0 = 1_750_000_000.0
SPO2 = DEFAULT_LIMITS["spo2"]
PULSE = DEFAULT_LIMITS["heart_rate"]


def _times(n: int, step: float = 60.0) -> list[float]:
    return [T0 + i * step for i in range(n)]


@pytest.mark.parametrize(
    ("metric", "value", "level"),
    [
        ("spo2", 96, 0),
        ("spo2", 95, 1),
        ("spo2", 92, 1),
        ("spo2", 91, 2),
        ("spo2", 100, 0),
        ("heart_rate", 51, 0),
        ("heart_rate", 50, 1),
        ("heart_rate", 41, 1),
        ("heart_rate", 40, 2),
        ("heart_rate", 90, 0),
        ("heart_rate", 91, 1),
        ("heart_rate", 130, 1),
        ("heart_rate", 131, 2),
        ("resp.rate", 8, 2),
        ("resp.rate", 9, 1),
        ("resp.rate", 12, 0),
        ("resp.rate", 20, 0),
        ("resp.rate", 21, 1),
        ("resp.rate", 24, 1),
        ("resp.rate", 25, 2),
        ("bp.systolic", 90, 2),
        ("bp.systolic", 91, 1),
        ("bp.systolic", 111, 0),
        ("bp.systolic", 219, 0),
        ("bp.systolic", 220, 2),
        ("body.temperature", 35.0, 2),
        ("body.temperature", 35.1, 1),
        ("body.temperature", 36.1, 0),
        ("body.temperature", 38.0, 0),
        ("body.temperature", 38.1, 1),
        ("body.temperature", 40.0, 1),
    ],
)
def test_default_limits_follow_the_news2_bands(metric: str, value: float, level: int) -> None:
    assert DEFAULT_LIMITS[metric].rank(value) == level


def test_limits_must_nest() -> None:
    with pytest.raises(ValueError):
        Limits(green_low=90, yellow_low=95)


@pytest.mark.parametrize(("n", "m"), [(0, 1), (3, 2)])
def test_persistence_parameters_are_checked(n: int, m: int) -> None:
    with pytest.raises(ValueError):
        ThresholdRule("spo2", SPO2, n=n, m=m)


def test_hysteresis_holds_a_level_until_the_value_is_clearly_back() -> None:
    values = np.array([97, 95, 96, 96.5, 97, 98, 95.5, 91, 92, 94, 97.5])
    ranks = hysteresis_ranks(values, SPO2, hysteresis=1.0)
    assert ranks.tolist() == [0, 1, 1, 1, 0, 0, 1, 2, 2, 1, 0]


def test_without_hysteresis_a_hovering_value_flaps() -> None:
    values = np.array([96, 95, 96, 95])
    assert hysteresis_ranks(values, SPO2, 0.0).tolist() == [0, 1, 0, 1]
    assert hysteresis_ranks(values, SPO2, 1.0).tolist() == [0, 1, 1, 1]


def test_single_reading_without_persistence_triggers() -> None:
    decision = ThresholdRule("spo2", SPO2).evaluate([T0], [90])
    assert (decision.level, decision.triggered, decision.status) == (Level.RED, True, Status.EVALUATED)


def test_n_of_m() -> None:
    rule = ThresholdRule("spo2", SPO2, n=2, m=3)
    assert rule.evaluate(_times(3), [97, 97, 90]).level is Level.GREEN
    assert rule.evaluate(_times(3), [90, 97, 90]).level is Level.RED
    assert rule.evaluate(_times(3), [90, 94, 97]).level is Level.YELLOW  # red once, but yellow-or-worse twice
    assert rule.evaluate(_times(4), [90, 90, 97, 97]).level is Level.GREEN  # outside the last m


def test_n_of_m_with_fewer_readings_than_m() -> None:
    rule = ThresholdRule("spo2", SPO2, n=2, m=5)
    assert rule.evaluate(_times(1), [90]).level is Level.GREEN
    assert rule.evaluate(_times(2), [90, 90]).level is Level.RED


def test_for_at_least_t_on_a_continuous_stream() -> None:
    rule = ThresholdRule("heart_rate", PULSE, for_s=600, max_gap_s=120)
    times = _times(11, 60)  # ten minutes of one-minute readings
    assert rule.evaluate(times, [140] * 11).level is Level.RED
    assert rule.evaluate(times[1:], [140] * 10).level is Level.GREEN  # nine minutes only
    assert rule.evaluate(times, [140] * 5 + [80] + [140] * 5).level is Level.GREEN


def test_a_gap_in_the_stream_breaks_the_run() -> None:
    rule = ThresholdRule("heart_rate", PULSE, for_s=600, max_gap_s=120)
    times = _times(5, 60) + [T0 + 900 + i * 60 for i in range(6)]
    decision = rule.evaluate(times, [140] * 11)
    assert decision.level is Level.GREEN


def test_for_at_least_t_falls_back_to_yellow_when_red_is_too_short() -> None:
    rule = ThresholdRule("heart_rate", PULSE, for_s=300)
    decision = rule.evaluate(_times(11, 60), [120] * 8 + [140] * 3)
    assert decision.level is Level.YELLOW


@pytest.mark.parametrize(
    ("times", "values"),
    [([], []), ([math.nan], [90]), ([T0], [math.nan]), ([0.0], [90])],
)
def test_no_usable_reading_is_insufficient_not_green(times: list[float], values: list[float]) -> None:
    decision = ThresholdRule("spo2", SPO2).evaluate(times, values)
    assert decision.status is Status.INSUFFICIENT_DATA
    assert not decision.triggered


def test_out_of_order_and_duplicates_are_judged_in_time_order() -> None:
    rule = ThresholdRule("spo2", SPO2, n=2, m=2)
    decision = rule.evaluate([T0 + 120, T0, T0 + 60, T0 + 120], [97, 90, 90, 90])
    assert decision.level is Level.RED
    assert decision.explanation.inputs["dropped"] == {"duplicate_time": 1}


def test_future_reading_from_a_clock_jump_does_not_decide() -> None:
    decision = ThresholdRule("spo2", SPO2).evaluate([T0, T0 + 86_400 * 30], [97, 80], now=T0 + 10)
    assert decision.level is Level.GREEN
    assert decision.explanation.inputs["dropped"] == {"future_time": 1}


def test_explanation_carries_inputs_values_and_thresholds() -> None:
    out = ThresholdRule("spo2", SPO2, n=1, m=3).evaluate(_times(2), [97, 93]).to_json()
    explanation = out["explanation"]
    assert isinstance(explanation, dict)
    assert explanation["thresholds"]["limits"]["yellow_low"] == 92  # type: ignore[index]
    assert explanation["inputs"]["newest_value"] == 93  # type: ignore[index]
    assert explanation["values"]["newest_level"] == "yellow"  # type: ignore[index]
    assert explanation["thresholds"]["max_gap_s"] == "inf"  # type: ignore[index]
