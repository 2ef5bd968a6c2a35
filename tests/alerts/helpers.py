"""Building readings at Oslo wall-clock times for detector tests."""

from __future__ import annotations

import datetime as dt

from common.timefmt import OSLO

DAY = 86_400.0


def oslo(year: int, month: int, day: int, hour: int = 7, minute: int = 0, fold: int = 0) -> float:
    """Unix seconds of an Oslo wall-clock time."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=OSLO, fold=fold).timestamp()


def mornings(start: tuple[int, int, int], values: list[float], hour: int = 7) -> tuple[list[float], list[float]]:
    """One reading per local morning from `start` on, at `hour` local time (correct across DST)."""
    first = dt.date(*start)
    times = []
    for i in range(len(values)):
        day = first + dt.timedelta(days=i)
        times.append(oslo(day.year, day.month, day.day, hour))
    return times, list(values)
