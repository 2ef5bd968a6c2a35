"""Event rules of the welfare protocol: alarm button, fall, door opened at night, bed left at night and not
back, no activity in the daytime.

Safety events are judged as they arrive; the absence rules (not back in bed, no activity) are judged by the
clock, so the cloud evaluates them on a schedule as well as when a reading arrives. An event already
accounted for (`Context.handled_until`) never raises a second alert.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np

from alerts.days import local_hours
from alerts.explain import Decision, Explanation, JSONValue, Level, Status, insufficient
from alerts.inputs import Context, Outcome
from alerts.series import FloatArray, clean

EVENT_RULE: Final = "event"
NIGHT_EVENT_RULE: Final = "event.at_night"
BED_RULE: Final = "event.bed_not_back"
NO_ACTIVITY_RULE: Final = "event.no_activity"


def in_hours(hours: FloatArray, start: float, end: float) -> np.ndarray[tuple[int], np.dtype[np.bool_]]:
    """Whether each local hour lies in [start, end); a span past midnight (23 -> 6) wraps."""
    if start <= end:
        return np.asarray((hours >= start) & (hours < end), dtype=np.bool_)
    return np.asarray((hours >= start) | (hours < end), dtype=np.bool_)


def _local_instant(now: float, hour: float, tz: str) -> float:
    """Unix seconds of `hour` o'clock local time on the local day of `now`."""
    local = dt.datetime.fromtimestamp(now, ZoneInfo(tz))
    whole, minutes = int(hour), round((hour - int(hour)) * 60)
    return local.replace(hour=whole, minute=minutes, second=0, microsecond=0).timestamp()


def _verdict(triggered: bool, level: Level, explanation: Explanation) -> Decision:
    return Decision(
        level=level if triggered else Level.GREEN,
        triggered=triggered,
        status=Status.EVALUATED,
        explanation=explanation,
    )


@dataclass(frozen=True)
class EventRule:
    """Triggered by every new event of `metric` (value >= `min_value`): an alarm button press, a fall."""

    metric: str = "alarm.button"
    min_value: float = 1.0
    level: Level = Level.RED
    night_start: float | None = None
    night_end: float | None = None

    def thresholds(self) -> dict[str, JSONValue]:
        """The rule's parameters, for the explanation."""
        return {
            "metric": self.metric,
            "min_value": self.min_value,
            "night_start": self.night_start,
            "night_end": self.night_end,
        }

    def evaluate(self, ctx: Context) -> Outcome:
        """New events since the last handled one (only those at night when night hours are set)."""
        rule = EVENT_RULE if self.night_start is None else NIGHT_EVENT_RULE
        window = ctx.window(self.metric)
        series = clean(window.times, window.values, ctx.now)
        inputs: dict[str, JSONValue] = {"readings": len(series), "handled_until": ctx.handled_until}
        is_event = (series.values >= self.min_value) & (series.times > (ctx.handled_until or -np.inf))
        if self.night_start is not None and self.night_end is not None:
            is_event &= in_hours(local_hours(series.times, ctx.tz), self.night_start, self.night_end)
        times = series.times[is_event]
        if not times.size:
            return Outcome(
                _verdict(False, self.level, Explanation(rule, inputs, {"new_events": 0}, self.thresholds())), ""
            )
        newest = float(times[-1])
        values: dict[str, JSONValue] = {"new_events": int(times.size), "newest_event_time": newest}
        explanation = Explanation(rule, inputs, values, self.thresholds())
        return Outcome(_verdict(True, self.level, explanation), f"{self.metric}: {times.size} new", newest)


@dataclass(frozen=True)
class BedNotBackRule:
    """Triggered when the bed was left at night (`metric` went to 0) and not re-occupied within `minutes`."""

    metric: str = "bed.occupied"
    minutes: float = 30.0
    night_start: float = 22.0
    night_end: float = 7.0
    level: Level = Level.YELLOW

    def thresholds(self) -> dict[str, JSONValue]:
        """The rule's parameters, for the explanation."""
        return {
            "metric": self.metric,
            "minutes": self.minutes,
            "night_start": self.night_start,
            "night_end": self.night_end,
        }

    def evaluate(self, ctx: Context) -> Outcome:
        """Judge the newest run of "out of bed" readings against the clock."""
        window = ctx.window(self.metric)
        series = clean(window.times, window.values, ctx.now)
        inputs: dict[str, JSONValue] = {"readings": len(series)}
        if not len(series):
            return Outcome(insufficient(BED_RULE, "no bed sensor readings", inputs, self.thresholds()), "")
        occupied = series.values >= 0.5
        if occupied[-1]:
            explanation = Explanation(BED_RULE, inputs, {"in_bed": True}, self.thresholds())
            return Outcome(_verdict(False, self.level, explanation), "")
        back_in_bed = np.flatnonzero(occupied)
        left_at = float(series.times[back_in_bed[-1] + 1] if back_in_bed.size else series.times[0])
        out_s = ctx.now - left_at
        at_night = bool(in_hours(local_hours(np.array([left_at]), ctx.tz), self.night_start, self.night_end)[0])
        new = ctx.handled_until is None or left_at > ctx.handled_until
        triggered = at_night and new and out_s >= self.minutes * 60
        values: dict[str, JSONValue] = {"in_bed": False, "left_at": left_at, "out_of_bed_min": out_s / 60}
        explanation = Explanation(BED_RULE, inputs, values, self.thresholds())
        return Outcome(_verdict(triggered, self.level, explanation), f"out of bed {out_s / 60:.0f} min", left_at)


@dataclass(frozen=True)
class NoActivityRule:
    """Triggered in the daytime when none of `metrics` has shown activity for `hours` (quiet time counts
    from the newest activity or from `day_start` today, whichever is later, so the night does not count)."""

    metrics: tuple[str, ...] = ("motion",)
    hours: float = 4.0
    day_start: float = 8.0
    day_end: float = 22.0
    level: Level = Level.YELLOW

    def thresholds(self) -> dict[str, JSONValue]:
        """The rule's parameters, for the explanation."""
        return {
            "metrics": list(self.metrics),
            "hours": self.hours,
            "day_start": self.day_start,
            "day_end": self.day_end,
        }

    def evaluate(self, ctx: Context) -> Outcome:
        """Judge the quiet time up to `now`."""
        active = [
            series.times[series.values >= 0.5]
            for series in (clean(ctx.window(m).times, ctx.window(m).values, ctx.now) for m in self.metrics)
        ]
        seen = sum(len(ctx.window(m).times) for m in self.metrics)
        inputs: dict[str, JSONValue] = {"readings": seen}
        if not seen:
            return Outcome(insufficient(NO_ACTIVITY_RULE, "no activity sensor readings", inputs, self.thresholds()), "")
        times = np.concatenate(active)
        last_activity = float(times.max()) if times.size else None
        hour = float(local_hours(np.array([ctx.now]), ctx.tz)[0])
        daytime = bool(in_hours(np.array([hour]), self.day_start, self.day_end)[0])
        day_start = _local_instant(ctx.now, self.day_start, ctx.tz)
        quiet_since = max(last_activity or day_start, day_start)
        quiet_h = (ctx.now - quiet_since) / 3600
        new = ctx.handled_until is None or quiet_since > ctx.handled_until
        triggered = daytime and new and quiet_h >= self.hours
        values: dict[str, JSONValue] = {
            "last_activity": last_activity,
            "quiet_since": quiet_since,
            "quiet_hours": quiet_h,
        }
        explanation = Explanation(NO_ACTIVITY_RULE, inputs, values, self.thresholds())
        return Outcome(_verdict(triggered, self.level, explanation), f"no activity for {quiet_h:.1f} h", quiet_since)
