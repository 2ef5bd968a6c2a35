"""Scoring a set of NEWS2 observations against the chart.

A missing parameter contributes nothing, so a partial score is a lower bound of the true NEWS2 and is
always labelled partial with the missing parameters named: a home without a respiration-rate sensor or a
consciousness assessment does not have a NEWS2, only part of one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final

from alerts.explain import Explanation, JSONValue, Level
from alerts.news2.chart import (
    CONSCIOUSNESS_SCORE,
    OXYGEN_SCORE,
    PLAUSIBLE,
    RED_SCORE,
    RESOLUTION,
    SCALES,
    Band,
    Consciousness,
    Param,
    band_of,
)

RULE: Final = "news2"

# Our home-care traffic light for the RCP bands (chart 4 translated to home nursing; see docs/detection.md).
BAND_LEVEL: Final[dict[Band, Level]] = {
    Band.LOW: Level.YELLOW,
    Band.LOW_MEDIUM: Level.RED,
    Band.MEDIUM: Level.RED,
    Band.HIGH: Level.RED,
}

NUMERIC: Final = tuple(RESOLUTION)


def rounded(param: Param, value: float) -> Decimal:
    """`value` rounded half-up to the chart's resolution for `param`; ValueError if unusable.

    Going through the shortest decimal text of the float keeps 38.05 as 38.05 (its binary value is
    38.0499...), so half-up rounding gives 38.1 as a person reading the thermometer would.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{param.value}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{param.value}: {value} is not a measurement")
    try:
        exact = Decimal(repr(float(value))).quantize(RESOLUTION[param], rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:
        raise ValueError(f"{param.value}: {value} cannot be rounded") from exc
    low, high = PLAUSIBLE[param]
    if not low <= exact <= high:
        raise ValueError(f"{param.value}: {value} is outside the plausible range {low}..{high}")
    return exact


def consciousness_of(value: object) -> Consciousness:
    """Parse an ACVPU letter (case-insensitive); ValueError otherwise."""
    text = str(value).strip().upper()
    if text not in Consciousness.__members__:
        raise ValueError(f"consciousness: {value!r} is not one of A, C, V, P, U")
    return Consciousness(text)


@dataclass(frozen=True)
class News2Input:
    """One set of observations; None means not measured. `oxygen` is True on supplemental oxygen.

    `scale` 2 is for a patient whose clinician has prescribed an SpO2 target of 88-92 %; it must come
    from the patient's record, never be guessed. Construction validates every value (ValueError).
    """

    rr: float | None = None
    spo2: float | None = None
    oxygen: bool | None = None
    sbp: float | None = None
    pulse: float | None = None
    consciousness: Consciousness | None = None
    temp: float | None = None
    scale: int = 1

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"scale: {self.scale!r} is not 1 or 2")
        for param in NUMERIC:
            value = getattr(self, param.value)
            if value is not None:
                rounded(param, value)
        if self.consciousness is not None:
            consciousness_of(self.consciousness)
        if self.oxygen is not None and not isinstance(self.oxygen, bool):
            raise ValueError(f"oxygen: {self.oxygen!r} is not true or false")


@dataclass(frozen=True)
class News2Result:
    """A NEWS2 score with its band, subscores, what was missing, and its explanation."""

    score: int
    band: Band
    partial: bool
    missing: tuple[Param, ...]
    subscores: Mapping[Param, int]
    level: Level
    explanation: Explanation = field(compare=False)

    def summary(self) -> dict[str, JSONValue]:
        """The compact form printed by `tryggheim alerts news2`."""
        return {
            "score": self.score,
            "band": self.band.value,
            "partial": self.partial,
            "missing": [param.value for param in self.missing],
            "subscores": {param.value: score for param, score in self.subscores.items()},
        }

    def to_json(self) -> dict[str, JSONValue]:
        """The summary plus level and explanation, for storing with an alert."""
        return {**self.summary(), "level": self.level.value, "explanation": self.explanation.to_json()}


def _numeric_subscore(param: Param, value: float, scale: int, oxygen: bool) -> tuple[int, Decimal]:
    exact = rounded(param, value)
    row = next(row for row in SCALES[scale][param] if row.holds(exact, oxygen))
    return row.score, exact


def subscore(param: Param, value: float, scale: int = 1, oxygen: bool = False) -> int:
    """The chart's score for one numeric parameter (rounded to the chart's resolution first)."""
    return _numeric_subscore(param, value, scale, oxygen)[0]


def score_news2(observations: News2Input, extra_notes: tuple[str, ...] = ()) -> News2Result:
    """Score one set of observations on the chart of its scale (1 or 2)."""
    subscores: dict[Param, int] = {}
    used: dict[str, JSONValue] = {}
    # Unknown air/oxygen is scored as air for the SpO2 lookup: the result is then a lower bound, as for
    # any missing parameter, and "oxygen" is named as missing.
    on_oxygen = bool(observations.oxygen)
    for param in Param:
        value = getattr(observations, param.value)
        if value is None:
            continue
        if param is Param.OXYGEN:
            subscores[param] = OXYGEN_SCORE[bool(value)]
            used[param.value] = bool(value)
        elif param is Param.CONSCIOUSNESS:
            subscores[param] = CONSCIOUSNESS_SCORE[consciousness_of(value)]
            used[param.value] = consciousness_of(value).value
        else:
            subscores[param], exact = _numeric_subscore(param, value, observations.scale, on_oxygen)
            used[param.value] = float(value)
            used[f"{param.value}_rounded"] = str(exact)
    missing = tuple(param for param in Param if param not in subscores)
    aggregate = sum(subscores.values())
    red = any(score >= RED_SCORE for score in subscores.values())
    band = band_of(aggregate, red)
    notes = extra_notes
    if missing:
        notes += ("partial: missing parameters score nothing, so the true NEWS2 may be higher",)
    return News2Result(
        score=aggregate,
        band=band,
        partial=bool(missing),
        missing=missing,
        subscores=subscores,
        level=Level.GREEN if aggregate == 0 else BAND_LEVEL[band],
        explanation=Explanation(
            rule=RULE,
            inputs=used,
            values={
                "score": aggregate,
                "subscores": {param.value: score for param, score in subscores.items()},
                "red_score": red,
                "band": band.value,
            },
            thresholds={"scale": observations.scale, "chart": "RCP 2017 NEWS2 chart 1 and chart 3"},
            notes=notes,
        ),
    )
