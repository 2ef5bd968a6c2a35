"""Property: no detector raises on any finite or non-finite input arrays, and every answer is JSON."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from alerts.aggregates import HomeBpRule, glucose_levels
from alerts.baseline import BaselineWindow
from alerts.delta import BaselineRiseRule, DeltaRule
from alerts.explain import Decision
from alerts.news2 import Observation, news2_from_observations
from alerts.series import EARLIEST_S, LATEST_S
from alerts.thresholds import DEFAULT_LIMITS, ThresholdRule
from alerts.trend import CusumRule, EwmaRule, MacdRule, ZScoreRule

ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True, width=64)
# Mostly plausible times close together (so the detectors get past their data checks), plus anything.
NEAR = st.floats(min_value=1_750_000_000.0, max_value=1_750_000_000.0 + 60 * 86_400.0)
TIME = st.one_of(NEAR, NEAR, NEAR, st.floats(min_value=EARLIEST_S, max_value=LATEST_S), ANY_FLOAT)
VALUE = st.one_of(st.floats(min_value=30, max_value=150), ANY_FLOAT)

Evaluate = Callable[[np.ndarray, np.ndarray], Decision]

DETECTORS: dict[str, Evaluate] = {
    "threshold": ThresholdRule("heart_rate", DEFAULT_LIMITS["heart_rate"], hysteresis=2, n=2, m=3, for_s=60).evaluate,
    "delta": DeltaRule().evaluate,
    "above_baseline": BaselineRiseRule(min_baseline_days=1).evaluate,
    "zscore": ZScoreRule(window=BaselineWindow(min_baseline_days=2, monitor_days=3)).evaluate,
    "cusum": CusumRule(direction="both").evaluate,
    "ewma": EwmaRule(direction="down").evaluate,
    "macd": MacdRule(long=3, short=2).evaluate,
    "glucose": glucose_levels,
    "home_bp": lambda t, v: HomeBpRule().evaluate(t, v, v[::-1]),
}

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", sorted(DETECTORS))
@SETTINGS
@given(data=st.data())
def test_detectors_never_raise(name: str, data: st.DataObject) -> None:
    size = data.draw(st.integers(0, 80))
    times = data.draw(arrays(np.float64, size, elements=TIME))
    values = data.draw(arrays(np.float64, size, elements=VALUE))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numeric warnings would be noise in the cloud's logs
        decision = DETECTORS[name](times, values)
    json.dumps(decision.to_json(), allow_nan=False)


@pytest.mark.parametrize("name", sorted(DETECTORS))
@SETTINGS
@given(
    times=arrays(np.float64, st.integers(0, 20), elements=ANY_FLOAT),
    values=arrays(np.float64, st.integers(0, 20), elements=ANY_FLOAT),
)
def test_detectors_never_raise_on_unpaired_arrays(name: str, times: np.ndarray, values: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decision = DETECTORS[name](times, values)
    json.dumps(decision.to_json(), allow_nan=False)


PARAM = st.sampled_from(["rr", "spo2", "oxygen", "sbp", "pulse", "consciousness", "temp", "other"])
OBS_VALUE = st.one_of(ANY_FLOAT, st.booleans(), st.sampled_from(["A", "c", "V", "X", ""]))


@SETTINGS
@given(st.lists(st.builds(Observation, PARAM, TIME, OBS_VALUE), max_size=30), st.sampled_from([1, 2]))
def test_news2_from_observations_never_raises(observations: list[Observation], scale: int) -> None:
    result = news2_from_observations(observations, scale=scale, now=1_750_000_000.0 + 30 * 86_400.0)
    assert 0 <= result.score <= 20
    json.dumps(result.to_json(), allow_nan=False)


DAILY = 1_750_000_000.0 + np.arange(40) * 86_400.0


@pytest.mark.parametrize("name", sorted(DETECTORS))
@SETTINGS
@given(values=arrays(np.float64, 40, elements=st.one_of(st.just(1.7e308), st.just(-1.7e308), ANY_FLOAT)))
def test_extreme_values_on_a_full_daily_window(name: str, values: np.ndarray) -> None:
    # Forty daily readings get every detector past its data checks into the arithmetic.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decision = DETECTORS[name](DAILY, values)
    json.dumps(decision.to_json(), allow_nan=False)
