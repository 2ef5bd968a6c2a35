"""Absolute limits: green / yellow / red per reading, with hysteresis and persistence.

Hysteresis stops a reading that hovers at a limit from flapping between levels: a level is entered at the
limit but left only once the value is `hysteresis` back inside it. Persistence stops one odd reading from
raising an alert: the level must hold in `n` of the last `m` readings (all within `within_s` of the newest)
and, for continuous streams, without interruption for at least `for_s` seconds. With `red_at_once` a reading
in the red band (the chart's 3-point band in the packaged protocols) is not held back by persistence.

A reading the device flagged as doubtful (device_profiles.quality) is not judged on its own while a new
measurement may still come: for `remeasure_wait_s` after it the rule waits (status "insufficient data", so it
neither opens nor resolves an alert) and asks for one; a red reading with `red_at_once` is judged at once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from alerts.explain import Decision, Explanation, JSONValue, Level, Status, insufficient
from alerts.series import FloatArray, Series, clean, quiet_numerics

RULE: Final = "threshold"


@dataclass(frozen=True)
class Limits:
    """Green while `green_low <= value <= green_high`, yellow while within the yellow limits, else red.

    None leaves a side open (SpO2 has no upper limit).
    """

    green_low: float | None = None
    green_high: float | None = None
    yellow_low: float | None = None
    yellow_high: float | None = None

    def __post_init__(self) -> None:
        lows = [x for x in (self.yellow_low, self.green_low) if x is not None]
        highs = [x for x in (self.green_high, self.yellow_high) if x is not None]
        if lows != sorted(lows) or highs != sorted(highs):
            raise ValueError(f"limits must nest (yellow outside green): {self}")

    def rank(self, value: float, margin: float = 0.0) -> int:
        """0 green, 1 yellow, 2 red; `margin` narrows every range (the test for leaving a level)."""
        inside_green = _inside(value, self.green_low, self.green_high, margin)
        inside_yellow = _inside(value, self.yellow_low, self.yellow_high, margin)
        return 0 if inside_green else (1 if inside_yellow else 2)

    def to_json(self) -> dict[str, JSONValue]:
        """The limits as a JSON-safe dict."""
        return asdict(self)


def _inside(value: float, low: float | None, high: float | None, margin: float) -> bool:
    return (low is None or value >= low + margin) and (high is None or value <= high - margin)


# Defaults per metric: green is the NEWS2 zero band, yellow a subscore of 1-2, red a subscore of 3
# (RCP 2017 chart 1, scale 1). Patients' protocols override them; see docs/detection.md#thresholds.
DEFAULT_LIMITS: Final[dict[str, Limits]] = {
    "resp.rate": Limits(green_low=12, green_high=20, yellow_low=9, yellow_high=24),
    "spo2": Limits(green_low=96, yellow_low=92),
    "bp.systolic": Limits(green_low=111, green_high=219, yellow_low=91, yellow_high=219),
    "heart_rate": Limits(green_low=51, green_high=90, yellow_low=41, yellow_high=130),
    "body.temperature": Limits(green_low=36.1, green_high=38.0, yellow_low=35.1),
}


def hysteresis_ranks(values: FloatArray, limits: Limits, hysteresis: float) -> npt.NDArray[np.int64]:
    """The level rank of each reading in time order, entering at the limit and leaving `hysteresis` inside."""
    ranks = np.zeros(values.size, dtype=np.int64)
    current = 0
    for i, value in enumerate(values.tolist()):
        raw = limits.rank(value)
        current = raw if raw >= current else min(current, limits.rank(value, hysteresis))
        ranks[i] = current
    return ranks


@dataclass(frozen=True)
class ThresholdRule:
    """A limit rule for one metric. `n` of the last `m` readings must reach a level, and when `for_s` > 0
    the readings at that level must run back at least `for_s` seconds with no gap over `max_gap_s`."""

    metric: str
    limits: Limits
    hysteresis: float = 0.0
    n: int = 1
    m: int = 1
    for_s: float = 0.0
    max_gap_s: float = math.inf
    within_s: float = math.inf
    red_at_once: bool = False
    remeasure_wait_s: float = 900.0

    def __post_init__(self) -> None:
        if not 1 <= self.n <= self.m:
            raise ValueError(f"persistence needs 1 <= n <= m, got n={self.n}, m={self.m}")
        if not (self.hysteresis >= 0 and self.for_s >= 0 and self.max_gap_s > 0 and self.within_s > 0):
            raise ValueError("hysteresis and for_s must be >= 0, max_gap_s and within_s > 0")
        if not 0 <= self.remeasure_wait_s <= 86_400:
            raise ValueError("remeasure_wait_s must lie between 0 and one day")

    def at_once(self, rank: int) -> bool:
        """Whether one reading at level `rank` (1 yellow, 2 red) is enough to trigger."""
        return (rank == 2 and self.red_at_once) or (self.n == 1 and self.for_s == 0)

    def thresholds(self) -> dict[str, JSONValue]:
        """The rule's parameters, for the explanation (`limits` as in `Limits.to_json`)."""
        return asdict(self)

    def _holds_for(self, series: Series, at_level: npt.NDArray[np.bool_]) -> float:
        """Seconds the newest uninterrupted run of readings at the level has lasted (0 if not at it now)."""
        if not at_level.size or not at_level[-1]:
            return 0.0
        start = series.times.size - 1
        while start > 0 and at_level[start - 1] and series.times[start] - series.times[start - 1] <= self.max_gap_s:
            start -= 1
        return float(series.times[-1] - series.times[start])

    def _awaiting(self, series: Series, ranks: npt.NDArray[np.int64], now: float | None) -> float | None:
        """Until when the rule waits for a new measurement instead of judging a doubtful newest reading."""
        if now is None or not series.doubtful[-1] or ranks[-1] == 0 or (ranks[-1] == 2 and self.at_once(2)):
            return None
        until = float(series.times[-1]) + self.remeasure_wait_s
        return until if now < until else None

    @quiet_numerics
    def evaluate(
        self,
        times: npt.ArrayLike,
        values: npt.ArrayLike,
        now: float | None = None,
        doubtful: npt.ArrayLike | None = None,
    ) -> Decision:
        """Judge a window of readings (Unix seconds UTC, values in the metric's unit; `doubtful` flags per reading)."""
        series = clean(times, values, now, doubtful=doubtful)
        inputs: dict[str, JSONValue] = {"readings": len(series), "dropped": dict(series.dropped)}
        if not len(series):
            return insufficient(RULE, "no usable readings in the window", inputs, self.thresholds())
        ranks = hysteresis_ranks(series.values, self.limits, self.hysteresis)
        inputs.update(newest_time=float(series.times[-1]), newest_value=float(series.values[-1]))
        inputs["newest_doubtful"] = bool(series.doubtful[-1])
        waiting = self._awaiting(series, ranks, now)
        if waiting is not None:
            note = "the newest reading was flagged doubtful by the device: waiting for a new measurement"
            waits: dict[str, JSONValue] = {"awaiting_remeasure_until": waiting}
            explanation = Explanation(RULE, inputs, waits, self.thresholds(), notes=(note,))
            return Decision(
                level=Level.GREEN, triggered=False, status=Status.INSUFFICIENT_DATA, explanation=explanation
            )
        recent = ranks[-self.m :][series.times[-self.m :] >= series.times[-1] - self.within_s]
        persisted = 0
        held: dict[str, JSONValue] = {}
        for rank in (2, 1):
            at_level = ranks >= rank
            count = int((recent >= rank).sum())
            lasted = self._holds_for(series, at_level)
            held[Level.from_rank(rank).value] = {"n_of_last_m": count, "held_for_s": lasted}
            if (rank == 2 and self.red_at_once and ranks[-1] == 2) or (count >= self.n and lasted >= self.for_s):
                persisted = rank
                break
        level = Level.from_rank(persisted)
        return Decision(
            level=level,
            triggered=persisted > 0,
            status=Status.EVALUATED,
            explanation=Explanation(
                rule=RULE,
                inputs=inputs,
                values={
                    "newest_level": Level.from_rank(self.limits.rank(float(series.values[-1]))).value,
                    "newest_level_with_hysteresis": Level.from_rank(int(ranks[-1])).value,
                    "persistence": held,
                },
                thresholds=self.thresholds(),
            ),
        )
