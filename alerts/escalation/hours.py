"""Service hours as data, and the pure answers "is the service open at instant t" and "when does it next open".

A team's hours are a weekly pattern of opening intervals, dated overrides (Christmas, summer: closed or other
hours on a date range) and public holidays (closed unless an override covers the date). Holiday dates are
handed in by the caller (the cloud reads them from the `holidays` package); nothing here does I/O.

Wall-clock times are in Europe/Oslo and become instants with `fold=0`: a time that does not exist on the
spring-forward night (02:30 on 2026-03-29) is read with the winter offset, so it lands an hour later on the
clock (03:30 summer time); a time that occurs twice on the autumn night (02:30 on 2026-10-25) is its first
occurrence. An interval's end of 00:00 means midnight at the end of the day. Both functions read intervals
the same way, so next_opening(t) is always open and nothing between t and it is.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

OSLO = ZoneInfo("Europe/Oslo")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NAME = r"^[a-z][a-z0-9_]*$"
HORIZON_DAYS = 400  # next_opening looks this far ahead (a year of overrides and holidays, and some)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Interval(_Frozen):
    """Open from `opens` until `closes` on the same day (`closes` 00:00: until midnight)."""

    opens: time
    closes: time

    @model_validator(mode="after")
    def _ordered(self) -> Interval:
        if self.closes != time(0) and self.closes <= self.opens:
            raise ValueError(f"closes ({self.closes:%H:%M}) must come after opens ({self.opens:%H:%M})")
        return self

    def end(self) -> time:
        """The closing time, with midnight as the end of the day (for comparisons on one day)."""
        return time.max if self.closes == time(0) else self.closes


def _no_overlap(intervals: tuple[Interval, ...], where: str) -> None:
    ordered = sorted(intervals, key=lambda i: i.opens)
    for first, second in pairwise(ordered):
        if second.opens < first.end():
            raise ValueError(f"{where}: intervals {first.opens:%H:%M} and {second.opens:%H:%M} overlap")


class Override(_Frozen):
    """Other hours from `first` to `last` (dates, inclusive); no intervals means closed."""

    first: date
    last: date
    hours: tuple[Interval, ...] = ()
    note: Annotated[str, Field(max_length=200)] = ""

    @model_validator(mode="after")
    def _valid(self) -> Override:
        if self.last < self.first:
            raise ValueError(f"override ends ({self.last}) before it starts ({self.first})")
        _no_overlap(self.hours, f"override {self.first}")
        return self


class TeamHours(_Frozen):
    """A team's service hours (`team` is the care team's name, or `municipality` for everyone else)."""

    team: Annotated[str, Field(min_length=1, max_length=120)]
    weekly: dict[Weekday, tuple[Interval, ...]] = {}
    overrides: tuple[Override, ...] = ()

    @model_validator(mode="after")
    def _valid(self) -> TeamHours:
        for day, intervals in self.weekly.items():
            _no_overlap(intervals, day)
        ordered = sorted(self.overrides, key=lambda o: o.first)
        for first, second in pairwise(ordered):
            if second.first <= first.last:
                raise ValueError(f"overrides from {first.first} and {second.first} overlap")
        return self


def intervals_on(hours: TeamHours, day: date, holidays: Collection[date]) -> tuple[Interval, ...]:
    """The opening intervals on a local date: an override's, else none on a holiday, else the week's."""
    for override in hours.overrides:
        if override.first <= day <= override.last:
            return override.hours
    if day in holidays:
        return ()
    return hours.weekly.get(WEEKDAYS[day.weekday()], ())


def instant(day: date, at: time) -> float:
    """The Unix time of a local wall-clock time on a date (fold=0: see the module's note on DST)."""
    return datetime.combine(day, at, OSLO).astimezone(UTC).timestamp()


def spans(hours: TeamHours, day: date, holidays: Collection[date]) -> Iterator[tuple[float, float]]:
    """The open spans of a local date as instants [start, end)."""
    for interval in intervals_on(hours, day, holidays):
        end_day = day + timedelta(days=1) if interval.closes == time(0) else day
        start, end = instant(day, interval.opens), instant(end_day, interval.closes)
        if end > start:  # 02:30-03:00 on the spring-forward night does not exist at all
            yield start, end


def local_day(t: float) -> date:
    """The Europe/Oslo date at instant t."""
    return datetime.fromtimestamp(t, OSLO).date()


def is_open(hours: TeamHours, holidays: Collection[date], t: float) -> bool:
    """Whether the service is open at instant t."""
    day = local_day(t)
    return any(start <= t < end for d in (day - timedelta(days=1), day) for start, end in spans(hours, d, holidays))


def next_opening(hours: TeamHours, holidays: Collection[date], t: float) -> float | None:
    """t itself when open, else the first instant after t when the service opens (None: closed for the
    next HORIZON_DAYS)."""
    first = local_day(t) - timedelta(days=1)
    for offset in range(HORIZON_DAYS + 2):
        for start, end in sorted(spans(hours, first + timedelta(days=offset), holidays)):
            if start <= t < end:
                return t
            if start > t:
                return start
    return None
