"""Rules over a protocol's aggregate rather than single readings: home blood pressure, glucose levels.

Home blood pressure is never judged on one reading: the protocol is duplicate readings morning and
evening for seven days, the first day discarded (its readings run high), the rest averaged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from alerts.days import OSLO, day_label, local_days, local_hours
from alerts.explain import Decision, Explanation, JSONValue, Level, Status, insufficient, judged, parameters
from alerts.series import clean, quiet_numerics

HOME_BP_RULE: Final = "aggregate.home_bp"
GLUCOSE_RULE: Final = "aggregate.glucose"


@dataclass(frozen=True)
class HomeBpRule:
    """Mean of protocol days 2..`protocol_days` of paired home readings, elevated at >= 135 systolic or
    >= 85 diastolic mmHg. Day 1 is the first local day with readings in the window (or `start_day`)."""

    systolic_limit: float = 135.0
    diastolic_limit: float = 85.0
    protocol_days: int = 7
    min_days: int = 3
    evening_from_hour: float = 12.0
    level: Level = Level.YELLOW
    tz: str = OSLO

    def __post_init__(self) -> None:
        if not 1 <= self.min_days <= self.protocol_days - 1:
            raise ValueError("need 1 <= min_days <= protocol_days - 1")

    def thresholds(self) -> dict[str, JSONValue]:
        """The rule's parameters, for the explanation."""
        return parameters(self, discarded_days=1)

    @quiet_numerics
    def evaluate(
        self,
        times: npt.ArrayLike,
        systolic: npt.ArrayLike,
        diastolic: npt.ArrayLike,
        start_day: int | None = None,
        now: float | None = None,
    ) -> Decision:
        """Judge one protocol week; `systolic` and `diastolic` pair with `times` (one cuff reading each).

        A reading counts only if both its values are usable, so the two means describe the same readings.
        `start_day` is a local day number (days since 1970-01-01) for day 1 of the protocol.
        """
        sys_series = clean(times, systolic, now)
        dia_series = clean(times, diastolic, now)
        paired, sys_at, dia_at = np.intersect1d(sys_series.times, dia_series.times, return_indices=True)
        sys_values, dia_values = sys_series.values[sys_at], dia_series.values[dia_at]
        inputs: dict[str, JSONValue] = {
            "readings": int(paired.size),
            "dropped_systolic": dict(sys_series.dropped),
            "dropped_diastolic": dict(dia_series.dropped),
        }
        if not paired.size:
            return insufficient(HOME_BP_RULE, "no paired readings in the window", inputs, self.thresholds())
        days = local_days(paired, self.tz)
        first = int(days.min()) if start_day is None else start_day
        used = (days > first) & (days < first + self.protocol_days)
        used_days = np.unique(days[used])
        if used_days.size < self.min_days:
            reason = f"protocol needs readings on {self.min_days} days after day 1, found {used_days.size}"
            return insufficient(HOME_BP_RULE, reason, {**inputs, "day_1": day_label(first)}, self.thresholds())
        evening = local_hours(paired[used], self.tz) >= self.evening_from_hour
        mean_sys, mean_dia = float(sys_values[used].mean()), float(dia_values[used].mean())
        elevated = mean_sys >= self.systolic_limit or mean_dia >= self.diastolic_limit
        used_inputs: dict[str, JSONValue] = {
            "day_1": day_label(first),
            "days_used": [day_label(day) for day in used_days.tolist()],
            "readings_used": int(used.sum()),
            "morning_readings": int((~evening).sum()),
            "evening_readings": int(evening.sum()),
        }
        means: dict[str, JSONValue] = {"mean_systolic": mean_sys, "mean_diastolic": mean_dia}
        return judged(self.level, elevated, HOME_BP_RULE, {**inputs, **used_inputs}, means, self.thresholds())


# Consensus glucose levels (Battelino et al. 2019), mmol/L: (name, test, limit, traffic light).
GLUCOSE_LEVELS: Final[tuple[tuple[str, str, float, Level], ...]] = (
    ("level_2_hypoglycaemia", "<", 3.0, Level.RED),
    ("level_1_hypoglycaemia", "<", 3.9, Level.YELLOW),
    ("level_2_hyperglycaemia", ">", 13.9, Level.YELLOW),
)


def glucose_category(value: float) -> tuple[str, Level]:
    """The consensus level of one glucose reading in mmol/L ("in_range" when none applies)."""
    for name, test, limit, level in GLUCOSE_LEVELS:
        if (value < limit) if test == "<" else (value > limit):
            return name, level
    return "in_range", Level.GREEN


@quiet_numerics
def glucose_levels(times: npt.ArrayLike, values: npt.ArrayLike, now: float | None = None) -> Decision:
    """The newest glucose reading's level, with how many readings in the window fell in each level."""
    series = clean(times, values, now)
    inputs: dict[str, JSONValue] = {"readings": len(series), "dropped": dict(series.dropped)}
    thresholds: dict[str, JSONValue] = {
        name: {"test": test, "mmol_per_l": limit, "level": level.value} for name, test, limit, level in GLUCOSE_LEVELS
    }
    if not len(series):
        return insufficient(GLUCOSE_RULE, "no usable readings in the window", inputs, thresholds)
    categories = [glucose_category(value)[0] for value in series.values.tolist()]
    newest, level = glucose_category(float(series.values[-1]))
    return Decision(
        level=level,
        triggered=level is not Level.GREEN,
        status=Status.EVALUATED,
        explanation=Explanation(
            rule=GLUCOSE_RULE,
            inputs={
                **inputs,
                "newest_time": float(series.times[-1]),
                "newest_value": float(series.values[-1]),
            },
            values={
                "newest_level": newest,
                "counts": {name: categories.count(name) for name in sorted(set(categories))},
            },
            thresholds=thresholds,
        ),
    )
