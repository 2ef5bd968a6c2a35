"""Scripted scenarios layered on a home's everyday pattern: changes in the person (fluid retention, an
exacerbation, worsening symptoms), measurement-technique errors, and events from the devices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class WeightGain:
    """Fluid retention: weight rises by `kg_per_day` for `days` days from `start` (heart failure worsening)."""

    start: datetime
    kg_per_day: float
    days: float = 7.0


@dataclass(frozen=True, slots=True)
class VitalShift:
    """A change in the person's vital signs: from `start` the mean pulse, SpO2 and systolic pressure move
    linearly by the given amounts over `ramp_days` days, then stay moved for `hold_days` days (before a
    COPD exacerbation SpO2 falls and pulse rises; heart-failure worsening raises the pulse)."""

    start: datetime
    ramp_days: float
    pulse: float = 0.0
    spo2: float = 0.0
    systolic: float = 0.0
    hold_days: float = 30.0

    def fraction(self, moment: datetime) -> float:
        """How much of the shift applies at `moment` (0 before the start and after the hold, 1 on the plateau)."""
        return _ramp(self.start, self.ramp_days, self.hold_days, moment)


@dataclass(frozen=True, slots=True)
class SymptomShift:
    """A change in how the person answers the daily questionnaire: from `start` the mean answers move linearly
    by the given amounts over `ramp_days` days (0: at once), then stay moved for `hold_days` days.

    Breathlessness and swelling are scored 0 (none) to 4 (worst), so worsening is positive; well-being is 0
    (very poor) to 4 (very good), so worsening is negative; `cat` moves the weekly CAT total (0-40). Answers
    stay whole numbers within their scales, so a shift of 1.5 makes the next score up about every other day.
    """

    start: datetime
    ramp_days: float
    dyspnoea: float = 0.0
    oedema: float = 0.0
    wellbeing: float = 0.0
    cat: float = 0.0
    hold_days: float = 30.0

    def fraction(self, moment: datetime) -> float:
        """How much of the shift applies at `moment` (0 before the start and after the hold, 1 on the plateau)."""
        return _ramp(self.start, self.ramp_days, self.hold_days, moment)


def _ramp(start: datetime, ramp_days: float, hold_days: float, moment: datetime) -> float:
    days = (moment - start).total_seconds() / 86400
    if days <= 0 or days > ramp_days + hold_days:
        return 0.0
    return min(days / ramp_days, 1.0) if ramp_days > 0 else 1.0


@dataclass(frozen=True, slots=True)
class ClothesOnScale:
    """On local day `on` the person is weighed dressed (or holding something): the scale reads `kg` more."""

    on: date
    kg: float


@dataclass(frozen=True, slots=True)
class ColdFinger:
    """On local day `on` the `slot`-th oximeter reading of the day (0 morning, 1 evening) is taken on a cold
    finger and reads `drop` percentage points low (poor perfusion). With device status flags on
    (`HomeSimulator.status`), the oximeter says so on most such readings (`low_perfusion`)."""

    on: date
    drop: float
    slot: int = 0


@dataclass(frozen=True, slots=True)
class AlarmPress:
    """The person presses the safety alarm button at `at`."""

    at: datetime


@dataclass(frozen=True, slots=True)
class GarbagePayload:
    """The scale sends bytes no codec can read (a truncated packet) at `at`."""

    at: datetime
    data: bytes = b"\x02\x10"


Scenario = WeightGain | VitalShift | SymptomShift | ClothesOnScale | ColdFinger | AlarmPress | GarbagePayload
