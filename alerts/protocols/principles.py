"""Checks that hold for every rule of every protocol, whoever wrote it.

One reading in NEWS2's lowest scoring band (a subscore of 1: temperature 35.1-36.0 °C, pulse 91-110,
systolic 101-110 mmHg, ...) is common in people who are well and is not an alert by itself at home: a
threshold rule must ask for persistence (n of m readings) there, or leave the band green. Readings in the
red band may alert at once. The check runs on the chart itself (alerts.news2.chart, scale 1, on air), value
by value at the chart's resolution, so a limit set by a municipality or a nurse is held to the same
principle as the packaged files.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from alerts.news2.chart import PLAUSIBLE, RESOLUTION, Param
from alerts.news2.score import subscore
from alerts.news2.window import METRIC_KEYS
from alerts.thresholds import ThresholdRule

LOWEST_BAND_SCORE: Final = 1
_PARAM_OF_METRIC: Final = {metric: param for param, metric in METRIC_KEYS.items() if param in RESOLUTION}


def _grid(param: Param) -> list[Decimal]:
    low, high = PLAUSIBLE[param]
    step = RESOLUTION[param]
    return [low + step * i for i in range(int((high - low) / step) + 1)]


def single_reading_in_lowest_band(rule: ThresholdRule) -> Decimal | None:
    """The first value in NEWS2's 1-point band that would raise an alert from one reading, else None."""
    param = _PARAM_OF_METRIC.get(rule.metric)
    if param is None:
        return None
    for value in _grid(param):
        if subscore(param, float(value)) != LOWEST_BAND_SCORE:
            continue
        rank = rule.limits.rank(float(value))
        if rank and rule.at_once(rank):
            return value
    return None


def check_threshold(rule: ThresholdRule) -> None:
    """ValueError when one reading in NEWS2's 1-point band would raise an alert at once."""
    value = single_reading_in_lowest_band(rule)
    if value is not None:
        raise ValueError(
            f"one reading of {rule.metric} = {value} (NEWS2's 1-point band) would raise an alert at once; "
            "ask for persistence there (n of m readings) or keep that band green (docs/detection.md#one-reading)"
        )
