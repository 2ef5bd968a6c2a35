"""Scripted scenarios layered on a home's everyday pattern."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class WeightGain:
    """Fluid retention: weight rises by `kg_per_day` for `days` days from `start` (heart failure worsening)."""

    start: datetime
    kg_per_day: float
    days: float = 7.0


@dataclass(frozen=True, slots=True)
class AlarmPress:
    """The person presses the safety alarm button at `at`."""

    at: datetime


@dataclass(frozen=True, slots=True)
class GarbagePayload:
    """The scale sends bytes no codec can read (a truncated packet) at `at`."""

    at: datetime
    data: bytes = b"\x02\x10"


Scenario = WeightGain | AlarmPress | GarbagePayload
