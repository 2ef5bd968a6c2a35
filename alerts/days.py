"""Local calendar days: daily series in the patient's time zone (Europe/Oslo by default).

A morning weight belongs to the day the person stepped on the scale, as they would say it, so days are
cut at local midnight. Across a DST change a local day is 23 or 25 hours long; computing the offset for
each reading (not once per window) keeps readings on the right side of midnight on those days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from alerts.series import FloatArray, Series

OSLO: Final = "Europe/Oslo"
DAY_S: Final = 86_400

IntArray = npt.NDArray[np.int64]
Aggregation = Literal["first", "last", "median", "mean", "min", "max"]

# Time-zone offsets only change on a quarter-hour boundary, so one lookup per quarter hour is exact.
_BUCKET_S: Final = 900

_AGGREGATE: Final[dict[str, Callable[[FloatArray], float]]] = {
    "first": lambda v: float(v[0]),
    "last": lambda v: float(v[-1]),
    "median": lambda v: float(np.median(v)),
    "mean": lambda v: float(np.mean(v)),
    "min": lambda v: float(np.min(v)),
    "max": lambda v: float(np.max(v)),
}


def local_seconds(times: FloatArray, tz: str = OSLO) -> FloatArray:
    """Unix seconds shifted by the zone's UTC offset at each instant (wall-clock seconds since 1970)."""
    if times.size == 0:
        return times.copy()
    zone = ZoneInfo(tz)
    buckets = np.floor(times / _BUCKET_S).astype(np.int64)
    unique, inverse = np.unique(buckets, return_inverse=True)
    offsets = np.array(
        [_offset_s(int(bucket) * _BUCKET_S, zone) for bucket in unique.tolist()],
        dtype=np.float64,
    )
    return times + offsets[inverse.ravel()]


def _offset_s(unix_s: int, zone: ZoneInfo) -> float:
    offset = dt.datetime.fromtimestamp(unix_s, tz=zone).utcoffset()
    return 0.0 if offset is None else offset.total_seconds()


def local_days(times: FloatArray, tz: str = OSLO) -> IntArray:
    """The local calendar day of each instant, as days since 1970-01-01."""
    return np.floor(local_seconds(times, tz) / DAY_S).astype(np.int64)


def day_label(day: int) -> str:
    """ISO date of a local day number, for explanations."""
    return (dt.date(1970, 1, 1) + dt.timedelta(days=int(day))).isoformat()


def local_hours(times: FloatArray, tz: str = OSLO) -> FloatArray:
    """The local wall-clock hour (0 <= h < 24, fractional) of each instant."""
    return np.mod(local_seconds(times, tz), DAY_S) / 3600.0


@dataclass(frozen=True)
class Daily:
    """One value per local day that had readings; days without readings are absent, not zero."""

    days: IntArray
    values: FloatArray
    counts: IntArray

    def __len__(self) -> int:
        return int(self.days.size)

    def labels(self) -> list[str]:
        """The days as ISO dates."""
        return [day_label(day) for day in self.days.tolist()]


def daily(series: Series, how: Aggregation = "median", tz: str = OSLO) -> Daily:
    """Aggregate a clean series to local days (`first` is the earliest reading, e.g. a morning weight)."""
    days = local_days(series.times, tz)
    unique, starts, counts = np.unique(days, return_index=True, return_counts=True)
    reduce = _AGGREGATE[how]
    values = np.array(
        [reduce(series.values[start : start + count]) for start, count in zip(starts, counts, strict=True)],
        dtype=np.float64,
    )
    return Daily(days=unique.astype(np.int64), values=values, counts=counts.astype(np.int64))


def consecutive_tail(days: IntArray, flags: npt.NDArray[np.bool_]) -> int:
    """How many of the newest days are flagged and follow each other without a missing calendar day."""
    run = 0
    for i in range(days.size - 1, -1, -1):
        if not flags[i] or (run and days[i + 1] - days[i] != 1):
            break
        run += 1
    return run
