"""NEWS2 chart 1 (Royal College of Physicians, 2017) transcribed as data.

Each physiological parameter is a list of inclusive bands on the chart's own resolution (whole numbers,
tenths of a degree for temperature). Values are rounded half-up to that resolution before lookup, so a
thermometer reporting 38.05 °C is banded as 38.1 and never falls between 38.0 and 38.1.

Chart 3 (clinical risk) is the `band_of` table at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Final


class Param(StrEnum):
    """The NEWS2 parameters, in chart order (which is also the order of `missing`)."""

    RR = "rr"
    SPO2 = "spo2"
    OXYGEN = "oxygen"
    SBP = "sbp"
    PULSE = "pulse"
    CONSCIOUSNESS = "consciousness"
    TEMP = "temp"


class Consciousness(StrEnum):
    """ACVPU: Alert, new Confusion, Voice, Pain, Unresponsive."""

    A = "A"
    C = "C"
    V = "V"
    P = "P"
    U = "U"


class Band(StrEnum):
    """NEWS2 clinical risk (chart 3)."""

    LOW = "low"
    LOW_MEDIUM = "low-medium"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class Row:
    """One cell range of the chart: `low <= value <= high` scores `score` (None = open-ended).

    `oxygen` restricts a row to patients on air (False) or on supplemental oxygen (True); None means either.
    """

    low: Decimal | None
    high: Decimal | None
    score: int
    oxygen: bool | None = None

    def holds(self, value: Decimal, oxygen: bool) -> bool:
        """Whether this row scores `value` for a patient on oxygen (True) or air (False)."""
        above = self.low is None or value >= self.low
        below = self.high is None or value <= self.high
        return above and below and (self.oxygen is None or self.oxygen == oxygen)


def _rows(
    *cells: tuple[str | None, str | None, int] | tuple[str | None, str | None, int, bool],
) -> tuple[Row, ...]:
    return tuple(
        Row(
            low=None if cell[0] is None else Decimal(cell[0]),
            high=None if cell[1] is None else Decimal(cell[1]),
            score=cell[2],
            oxygen=cell[3] if len(cell) == 4 else None,
        )
        for cell in cells
    )


RESOLUTION: Final[dict[Param, Decimal]] = {
    Param.RR: Decimal("1"),
    Param.SPO2: Decimal("1"),
    Param.SBP: Decimal("1"),
    Param.PULSE: Decimal("1"),
    Param.TEMP: Decimal("0.1"),
}

# Plausible input ranges: outside them a value is a device or typing error, not a physiological state.
PLAUSIBLE: Final[dict[Param, tuple[Decimal, Decimal]]] = {
    Param.RR: (Decimal("0"), Decimal("80")),
    Param.SPO2: (Decimal("0"), Decimal("100")),
    Param.SBP: (Decimal("0"), Decimal("350")),
    Param.PULSE: (Decimal("0"), Decimal("300")),
    Param.TEMP: (Decimal("25"), Decimal("45")),
}

SCALE_1: Final[dict[Param, tuple[Row, ...]]] = {
    Param.RR: _rows((None, "8", 3), ("9", "11", 1), ("12", "20", 0), ("21", "24", 2), ("25", None, 3)),
    Param.SPO2: _rows((None, "91", 3), ("92", "93", 2), ("94", "95", 1), ("96", None, 0)),
    Param.SBP: _rows((None, "90", 3), ("91", "100", 2), ("101", "110", 1), ("111", "219", 0), ("220", None, 3)),
    Param.PULSE: _rows(
        (None, "40", 3),
        ("41", "50", 1),
        ("51", "90", 0),
        ("91", "110", 1),
        ("111", "130", 2),
        ("131", None, 3),
    ),
    Param.TEMP: _rows(
        (None, "35.0", 3), ("35.1", "36.0", 1), ("36.1", "38.0", 0), ("38.1", "39.0", 1), ("39.1", None, 2)
    ),
}

# Scale 2 differs only in SpO2: the upper bands score only on oxygen; on air any SpO2 >= 88 % scores 0.
SCALE_2: Final[dict[Param, tuple[Row, ...]]] = {
    **SCALE_1,
    Param.SPO2: _rows(
        (None, "83", 3),
        ("84", "85", 2),
        ("86", "87", 1),
        ("88", "92", 0),
        ("93", None, 0, False),
        ("93", "94", 1, True),
        ("95", "96", 2, True),
        ("97", None, 3, True),
    ),
}

SCALES: Final[dict[int, dict[Param, tuple[Row, ...]]]] = {1: SCALE_1, 2: SCALE_2}

OXYGEN_SCORE: Final[dict[bool, int]] = {False: 0, True: 2}

CONSCIOUSNESS_SCORE: Final[dict[Consciousness, int]] = {
    Consciousness.A: 0,
    Consciousness.C: 3,
    Consciousness.V: 3,
    Consciousness.P: 3,
    Consciousness.U: 3,
}

RED_SCORE: Final = 3  # a single parameter scoring 3 is a "red score" on chart 3


# Chart 3 by aggregate: the first row whose lowest aggregate is reached applies.
AGGREGATE_BANDS: Final[tuple[tuple[int, Band], ...]] = ((7, Band.HIGH), (5, Band.MEDIUM), (0, Band.LOW))


def band_of(aggregate: int, red_score: bool) -> Band:
    """Chart 3: the clinical-risk band of an aggregate score, given whether any parameter scored 3."""
    band = next(band for lowest, band in AGGREGATE_BANDS if aggregate >= lowest)
    return Band.LOW_MEDIUM if band is Band.LOW and red_score else band
