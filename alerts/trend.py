"""Trend detectors on daily series against the person's baseline: z-score, CUSUM, EWMA and MACD.

Each computes one statistic per monitored local day and a limit; a day is flagged when the statistic
crosses it in the rule's direction. The rule raises only when the newest `persist_days` days are all
flagged and follow each other on the calendar (two consecutive days by default): a single odd day is
the commonest false alert in home telemonitoring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from alerts.baseline import BaselineWindow, Direction, Standardised, exceeds, standardise
from alerts.days import OSLO, Aggregation, consecutive_tail, daily
from alerts.explain import Decision, JSONValue, Level, insufficient, judged
from alerts.series import FloatArray, clean, quiet_numerics

DEFAULT_PERSIST_DAYS: Final = 2


@dataclass(frozen=True)
class Flagged:
    """Per monitored day: the statistic, its limit, and whether it crossed."""

    statistic: FloatArray
    limit: FloatArray
    flags: npt.NDArray[np.bool_]


def _decide(
    rule: str,
    days: npt.NDArray[np.int64],
    labels: list[str],
    flagged: Flagged,
    persist_days: int,
    level: Level,
    inputs: dict[str, JSONValue],
    values: dict[str, JSONValue],
    thresholds: dict[str, JSONValue],
) -> Decision:
    run = consecutive_tail(days, flagged.flags)
    found: dict[str, JSONValue] = {
        **values,
        "statistic": flagged.statistic.tolist(),
        "limit": flagged.limit.tolist(),
        "flagged": flagged.flags.tolist(),
        "flagged_days_in_a_row": run,
    }
    all_thresholds = {**thresholds, "persist_days": persist_days}
    return judged(level, run >= persist_days, rule, {**inputs, "days": labels}, found, all_thresholds)


@dataclass(frozen=True)
class _BaselineRule:
    metric: str = "body.weight"
    direction: Direction = "up"
    window: BaselineWindow = field(default_factory=BaselineWindow)
    persist_days: int = DEFAULT_PERSIST_DAYS
    level: Level = Level.YELLOW

    name = "baseline"

    def __post_init__(self) -> None:
        if self.persist_days < 1:
            raise ValueError("persist_days must be >= 1")

    def parameters(self) -> dict[str, JSONValue]:
        """The detector's own parameters (beyond metric, direction and window)."""
        return {}

    def flag(self, standardised: Standardised) -> Flagged:
        """The per-day statistic, limit and flags."""
        raise NotImplementedError

    @quiet_numerics
    def evaluate(self, times: npt.ArrayLike, values: npt.ArrayLike, now: float | None = None) -> Decision:
        """Judge a window holding the baseline period and the monitored days."""
        rule = f"trend.{self.name}"
        series = clean(times, values, now)
        inputs: dict[str, JSONValue] = {"readings": len(series), "dropped": dict(series.dropped)}
        thresholds: dict[str, JSONValue] = {
            "metric": self.metric,
            "direction": self.direction,
            "window": self.window.to_json(),
            **self.parameters(),
        }
        standardised = standardise(series, self.window)
        if isinstance(standardised, str):
            return insufficient(rule, standardised, inputs, thresholds)
        monitored = standardised.monitored
        return _decide(
            rule,
            monitored.days,
            monitored.labels(),
            self.flag(standardised),
            self.persist_days,
            self.level,
            {**inputs, "daily_values": monitored.values.tolist()},
            {
                "baseline": standardised.baseline.to_json(),
                "spread_used": standardised.spread,
                "z": standardised.z.tolist(),
            },
            thresholds,
        )


@dataclass(frozen=True)
class ZScoreRule(_BaselineRule):
    """Flags a day whose value is more than `k` baseline spreads from the baseline centre."""

    k: float = 2.0
    name = "zscore"

    def parameters(self) -> dict[str, JSONValue]:
        """k, in baseline spreads."""
        return {"k": self.k}

    def flag(self, standardised: Standardised) -> Flagged:
        """|z| against k."""
        limit = np.full(standardised.z.size, self.k)
        return Flagged(standardised.z, limit, exceeds(standardised.z, limit, self.direction))


@dataclass(frozen=True)
class CusumRule(_BaselineRule):
    """Tabular CUSUM on z-scores: sums drift beyond `k` spreads per day and flags when the sum passes `h`."""

    k: float = 0.5
    h: float = 4.0
    name = "cusum"

    def parameters(self) -> dict[str, JSONValue]:
        """Allowance k and decision interval h, in baseline spreads."""
        return {"k": self.k, "h": self.h}

    def flag(self, standardised: Standardised) -> Flagged:
        """Upper sum for up, lower sum (reported negative) for down, the larger for both."""
        upper = lower = 0.0
        stats = np.zeros(standardised.z.size)
        for i, z in enumerate(standardised.z.tolist()):
            upper = max(0.0, upper + z - self.k)
            lower = max(0.0, lower - z - self.k)
            stats[i] = {"up": upper, "down": -lower, "both": upper if upper >= lower else -lower}[self.direction]
        limit = np.full(stats.size, self.h)
        return Flagged(stats, limit, exceeds(stats, limit, self.direction))


@dataclass(frozen=True)
class EwmaRule(_BaselineRule):
    """EWMA of z-scores with weight `lam`, flagged outside `width` times its standard error."""

    lam: float = 0.2
    width: float = 3.0
    name = "ewma"

    def parameters(self) -> dict[str, JSONValue]:
        """Smoothing weight and control-limit width."""
        return {"lambda": self.lam, "width": self.width}

    def flag(self, standardised: Standardised) -> Flagged:
        """Exact (time-varying) control limits, so the first monitored days are not over-sensitive."""
        smoothed = 0.0
        stats = np.zeros(standardised.z.size)
        limit = np.zeros(standardised.z.size)
        for i, z in enumerate(standardised.z.tolist()):
            smoothed = self.lam * z + (1 - self.lam) * smoothed
            stats[i] = smoothed
            limit[i] = self.width * math.sqrt(self.lam / (2 - self.lam) * (1 - (1 - self.lam) ** (2 * (i + 1))))
        return Flagged(stats, limit, exceeds(stats, limit, self.direction))


def _ema(values: FloatArray, span: int) -> FloatArray:
    alpha = 2.0 / (span + 1)
    out = np.empty(values.size)
    current = float(values[0]) if values.size else 0.0
    for i, value in enumerate(values.tolist()):
        current = alpha * value + (1 - alpha) * current
        out[i] = current
    return out


@dataclass(frozen=True)
class MacdRule:
    """MACD on daily values: the short minus the long exponential moving average, flagged beyond `threshold`
    (in the metric's unit), once at least `long` days have readings. No baseline period is needed."""

    metric: str = "body.weight"
    short: int = 3
    long: int = 14
    threshold: float = 1.0
    direction: Direction = "up"
    daily_value: Aggregation = "first"
    persist_days: int = DEFAULT_PERSIST_DAYS
    level: Level = Level.YELLOW
    tz: str = OSLO

    def __post_init__(self) -> None:
        if not 1 <= self.short < self.long or self.persist_days < 1 or not self.threshold >= 0:
            raise ValueError("need 1 <= short < long, persist_days >= 1 and threshold >= 0")

    @quiet_numerics
    def evaluate(self, times: npt.ArrayLike, values: npt.ArrayLike, now: float | None = None) -> Decision:
        """Judge a window of at least `long` days."""
        series = clean(times, values, now)
        inputs: dict[str, JSONValue] = {"readings": len(series), "dropped": dict(series.dropped)}
        thresholds: dict[str, JSONValue] = {
            "metric": self.metric,
            "short": self.short,
            "long": self.long,
            "threshold": self.threshold,
            "direction": self.direction,
            "daily_value": self.daily_value,
            "tz": self.tz,
        }
        per_day = daily(series, self.daily_value, self.tz)
        if len(per_day) < self.long:
            reason = f"MACD needs {self.long} days with readings, found {len(per_day)}"
            return insufficient("trend.macd", reason, inputs, thresholds)
        macd = _ema(per_day.values, self.short) - _ema(per_day.values, self.long)
        limit = np.full(macd.size, self.threshold)
        # Days before the long average has seen `long` days are warm-up and never flag.
        flags = exceeds(macd, limit, self.direction) & (np.arange(macd.size) >= self.long - 1)
        shown = slice(self.long - 1, None)
        return _decide(
            "trend.macd",
            per_day.days[shown],
            per_day.labels()[shown],
            Flagged(macd[shown], limit[shown], flags[shown]),
            self.persist_days,
            self.level,
            {**inputs, "daily_values": per_day.values[shown].tolist()},
            {},
            thresholds,
        )
