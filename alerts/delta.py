"""Change rules: a rise over a few days (heart-failure weight), a rise over the person's own baseline (fever).

Both work on local calendar days, because the guideline rules are phrased in days ("more than 2 kg in
3 days") and people weigh themselves once a morning, not at fixed 24-hour intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from alerts.days import OSLO, Aggregation, consecutive_tail, daily, day_label
from alerts.explain import Decision, JSONValue, Level, insufficient, judged, parameters
from alerts.series import clean, quiet_numerics

Direction = Literal["up", "down"]


@dataclass(frozen=True)
class DeltaRule:
    """Triggered when a day's value differs from the lowest (rising) or highest (falling) daily value of the
    `days` calendar days before it by more than `change`, on `consecutive_days` consecutive days.

    Defaults are the ESC/HFA self-care rule for heart failure: weight up more than 2 kg in 3 days, using
    the first (morning) weight of each day.
    """

    metric: str = "body.weight"
    change: float = 2.0
    days: int = 3
    direction: Direction = "up"
    daily_value: Aggregation = "first"
    consecutive_days: int = 1
    level: Level = Level.YELLOW
    tz: str = OSLO

    def __post_init__(self) -> None:
        if self.days < 1 or self.consecutive_days < 1 or not self.change >= 0:
            raise ValueError("days and consecutive_days must be >= 1 and change >= 0")

    def thresholds(self) -> dict[str, JSONValue]:
        """The rule's parameters, for the explanation."""
        return parameters(self)

    @quiet_numerics
    def evaluate(self, times: npt.ArrayLike, values: npt.ArrayLike, now: float | None = None) -> Decision:
        """Judge a window of readings that reaches at least `days` days before the newest."""
        rule = f"delta.{self.direction}"
        series = clean(times, values, now)
        inputs: dict[str, JSONValue] = {"readings": len(series), "dropped": dict(series.dropped)}
        per_day = daily(series, self.daily_value, self.tz)
        changes = np.full(len(per_day), np.nan)
        for i, day in enumerate(per_day.days.tolist()):
            before = (per_day.days >= day - self.days) & (per_day.days < day)
            if before.any():
                earlier = per_day.values[before]
                reference = earlier.min() if self.direction == "up" else earlier.max()
                sign = 1.0 if self.direction == "up" else -1.0
                changes[i] = sign * (per_day.values[i] - reference)
        if not np.isfinite(changes).any():
            reason = f"needs readings on at least two days within {self.days} days of each other"
            return insufficient(rule, reason, inputs, self.thresholds())
        flags = np.nan_to_num(changes, nan=-np.inf) > self.change
        run = consecutive_tail(per_day.days, flags)
        triggered = run >= self.consecutive_days
        shown = slice(max(0, len(per_day) - self.days - self.consecutive_days), None)
        days: dict[str, JSONValue] = {"days": per_day.labels()[shown], "daily_values": per_day.values[shown].tolist()}
        found: dict[str, JSONValue] = {
            "change_latest_day": float(changes[-1]),
            "changes": changes[shown].tolist(),
            "days_in_a_row": run,
        }
        return judged(self.level, triggered, rule, {**inputs, **days}, found, self.thresholds())


@dataclass(frozen=True)
class BaselineRiseRule:
    """Triggered when the newest reading is more than `rise` above the person's baseline: the median of
    the daily medians over the `baseline_days` local days before the newest reading's day.

    Defaults are the IDSA criterion for fever in long-term care: a rise of more than 1.1 °C over baseline.
    """

    metric: str = "body.temperature"
    rise: float = 1.1
    baseline_days: int = 14
    min_baseline_days: int = 3
    level: Level = Level.YELLOW
    tz: str = OSLO

    def __post_init__(self) -> None:
        if not 1 <= self.min_baseline_days <= self.baseline_days or not self.rise >= 0:
            raise ValueError("need 1 <= min_baseline_days <= baseline_days and rise >= 0")

    def thresholds(self) -> dict[str, JSONValue]:
        """The rule's parameters, for the explanation."""
        return parameters(self)

    @quiet_numerics
    def evaluate(self, times: npt.ArrayLike, values: npt.ArrayLike, now: float | None = None) -> Decision:
        """Judge the newest reading against the baseline built from the days before it."""
        series = clean(times, values, now)
        inputs: dict[str, JSONValue] = {"readings": len(series), "dropped": dict(series.dropped)}
        per_day = daily(series, "median", self.tz)
        if not len(per_day):
            return insufficient(RISE_RULE, "no usable readings in the window", inputs, self.thresholds())
        today = int(per_day.days[-1])
        in_baseline = (per_day.days >= today - self.baseline_days) & (per_day.days < today)
        if int(in_baseline.sum()) < self.min_baseline_days:
            reason = f"baseline needs {self.min_baseline_days} days with readings, found {int(in_baseline.sum())}"
            return insufficient(RISE_RULE, reason, inputs, self.thresholds())
        baseline = float(np.median(per_day.values[in_baseline]))
        newest = float(series.values[-1])
        triggered = newest - baseline > self.rise
        newest_reading: dict[str, JSONValue] = {
            "newest_time": float(series.times[-1]),
            "newest_value": newest,
            "day": day_label(today),
        }
        found: dict[str, JSONValue] = {
            "baseline": baseline,
            "baseline_days_used": int(in_baseline.sum()),
            "rise": newest - baseline,
        }
        return judged(self.level, triggered, RISE_RULE, {**inputs, **newest_reading}, found, self.thresholds())


RISE_RULE: Final = "delta.above_baseline"
