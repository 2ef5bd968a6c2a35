"""The population sweep decides exactly what the z-score and CUSUM detectors decide, day by day."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.baseline import BaselineWindow
from alerts.sweep import sweep
from alerts.trend import CusumRule, ZScoreRule
from common.timefmt import OSLO

NOON = dt.datetime(2026, 3, 1, 12, tzinfo=OSLO)  # spans the DST change on 29 March


def _stamp(day: int) -> float:
    return (NOON + dt.timedelta(days=day)).timestamp()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    days=st.integers(10, 50),
    missing=st.sampled_from([0.0, 0.1, 0.3]),
    direction=st.sampled_from(["up", "down", "both"]),
    baseline_days=st.integers(14, 28),
    persist=st.integers(1, 3),
)
def test_the_sweep_matches_the_detectors(
    seed: int, days: int, missing: float, direction: str, baseline_days: int, persist: int
) -> None:
    rng = np.random.default_rng(seed)
    values = rng.normal(70, 3, (3, days)) + np.where(np.arange(days) > days * 0.6, rng.uniform(-9, 9, (3, 1)), 0)
    values = np.round(values, 1)  # device resolution, and ties in the medians
    values[rng.random(values.shape) < missing] = np.nan
    window = BaselineWindow(baseline_days=baseline_days, min_baseline_days=7, monitor_days=5, min_spread=1.0)
    result = sweep(values, window, direction=direction, persist_days=persist)  # type: ignore[arg-type]
    rules = (
        ZScoreRule(direction=direction, window=window, persist_days=persist),  # type: ignore[arg-type]
        CusumRule(direction=direction, window=window, persist_days=persist),  # type: ignore[arg-type]
    )
    for row in range(values.shape[0]):
        for day in range(days):
            if np.isnan(values[row, day]):
                assert not result.zscore[row, day] and not result.cusum[row, day]
                continue
            seen = [d for d in range(day + 1) if not np.isnan(values[row, d])]
            times, observed = [_stamp(d) for d in seen], [values[row, d] for d in seen]
            decided = [rule.evaluate(times, observed).triggered for rule in rules]
            assert decided == [result.zscore[row, day], result.cusum[row, day]], (row, day)


def test_float32_gives_the_same_decisions_on_device_resolution_values() -> None:
    rng = np.random.default_rng(7)
    values = np.round(rng.normal(95, 1.2, (400, 60)), 0)
    values[:40, 40:] -= 3
    values[rng.random(values.shape) < 0.05] = np.nan
    window = BaselineWindow(min_spread=1.0)
    wide, narrow = (sweep(values, window, direction="down", dtype=t) for t in (np.float64, np.float32))
    assert wide.zscore[:40].any()
    assert np.array_equal(wide.zscore, narrow.zscore) and np.array_equal(wide.cusum, narrow.cusum)


def test_chunked_and_whole_sweeps_agree_and_bad_settings_are_refused() -> None:
    values = np.random.default_rng(3).normal(80, 0.4, (1100, 40))
    whole = sweep(values)
    parts = [sweep(values[i : i + 100]) for i in range(0, 1100, 100)]
    assert np.array_equal(whole.zscore, np.concatenate([p.zscore for p in parts]))
    assert np.allclose(whole.center, np.concatenate([p.center for p in parts]), equal_nan=True)
    with pytest.raises(ValueError, match="robust"):
        sweep(values, BaselineWindow(method="classic"))
    with pytest.raises(ValueError, match="persist_days"):
        sweep(values, persist_days=8)
