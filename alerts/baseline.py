"""The person's own normal: a baseline from a window of daily values, and z-scores against it.

Home measurements of older people vary a lot between people and little within one person, so "outside
your own normal" finds change that population limits miss (and stays quiet for a person whose normal is
unusual). The robust baseline (median, MAD) is the default because one bad weigh-in or a febrile day in
the baseline window should not move the normal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from alerts.days import OSLO, Aggregation, Daily, daily, day_label
from alerts.explain import JSONValue
from alerts.series import FloatArray, Series

Method = Literal["robust", "classic"]
Direction = Literal["up", "down", "both"]

# The MAD of normally distributed data times this is its standard deviation, so both methods give z-scores
# on the same scale and the same k means the same thing.
MAD_TO_SD: Final = 1.4826


@dataclass(frozen=True)
class Baseline:
    """Summary of the baseline days: robust (median, scaled MAD) and classic (mean, sample SD)."""

    days: int
    median: float
    mad: float
    mean: float
    sd: float

    def center(self, method: Method) -> float:
        """The person's normal value."""
        return self.median if method == "robust" else self.mean

    def spread(self, method: Method) -> float:
        """The person's normal variation, on the scale of a standard deviation."""
        return self.mad if method == "robust" else self.sd

    def to_json(self) -> dict[str, JSONValue]:
        """The baseline as a JSON-safe dict."""
        return asdict(self)


def baseline_of(values: FloatArray) -> Baseline:
    """The baseline of a non-empty array of daily values."""
    median = float(np.median(values))
    return Baseline(
        days=int(values.size),
        median=median,
        mad=MAD_TO_SD * float(np.median(np.abs(values - median))),
        mean=float(np.mean(values)),
        sd=float(np.std(values, ddof=1)) if values.size > 1 else 0.0,
    )


@dataclass(frozen=True)
class BaselineWindow:
    """Which days form the baseline and which are monitored against it.

    The newest `monitor_days` local days are monitored; the `baseline_days` days before them are the
    baseline, used only when at least `min_baseline_days` of them have readings. `min_spread` keeps a
    near-constant baseline (a scale that reports 80.0 every day) from turning tiny changes into huge
    z-scores: set it to the smallest change that matters clinically for the metric.
    """

    baseline_days: int = 28
    min_baseline_days: int = 14
    monitor_days: int = 7
    method: Method = "robust"
    min_spread: float = 0.0
    daily_value: Aggregation = "median"
    tz: str = OSLO

    def __post_init__(self) -> None:
        if not 2 <= self.min_baseline_days <= self.baseline_days or self.monitor_days < 1:
            raise ValueError("need 2 <= min_baseline_days <= baseline_days and monitor_days >= 1")
        if not self.min_spread >= 0:
            raise ValueError("min_spread must be >= 0")

    def to_json(self) -> dict[str, JSONValue]:
        """The window's parameters, for explanations."""
        return asdict(self)


@dataclass(frozen=True)
class Standardised:
    """Monitored days and their z-scores against the baseline."""

    monitored: Daily
    z: FloatArray
    baseline: Baseline
    spread: float


def standardise(series: Series, window: BaselineWindow) -> Standardised | str:
    """z-scores of the monitored days, or the reason they cannot be computed."""
    per_day = daily(series, window.daily_value, window.tz)
    if not len(per_day):
        return "no usable readings in the window"
    latest = int(per_day.days[-1])
    first_monitored = latest - window.monitor_days + 1
    in_baseline = (per_day.days >= first_monitored - window.baseline_days) & (per_day.days < first_monitored)
    found = int(in_baseline.sum())
    if found < window.min_baseline_days:
        before = day_label(first_monitored)
        return f"baseline needs {window.min_baseline_days} days with readings before {before}, found {found}"
    baseline = baseline_of(per_day.values[in_baseline])
    spread = max(baseline.spread(window.method), window.min_spread)
    if spread <= 0:
        return "the baseline has no spread; set min_spread for this metric"
    monitored = per_day.days >= first_monitored
    days = Daily(per_day.days[monitored], per_day.values[monitored], per_day.counts[monitored])
    z = (days.values - baseline.center(window.method)) / spread
    return Standardised(monitored=days, z=z, baseline=baseline, spread=spread)


def exceeds(statistic: FloatArray, limit: FloatArray, direction: Direction) -> npt.NDArray[np.bool_]:
    """Per day: whether the statistic is beyond +limit (up), below -limit (down), or either (both)."""
    up = statistic > limit
    down = statistic < -limit
    return {"up": up, "down": down, "both": up | down}[direction]
