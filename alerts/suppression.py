"""Silence, pause and inhibition: detection decides what not to notify, and says why.

- **Snooze** (on an open alert, see `lifecycle.snooze`): the alert stays open and counts repeats, but is not
  re-notified until the snooze ends.
- **Silence** (per patient and rule, with a reason): no new alert of that rule opens until it ends; what
  would have opened is recorded as `suppressed: silenced`.
- **Pause** (per patient, e.g. a hospital stay): rules marked `suspend` (vitals by default) open nothing
  until it ends, then a reminder is raised; alarms and liveness keep running.
- **Inhibition**: a gateway that is down suppresses the "sensor silent" alerts of the sensors behind it.

Alarm-class rules are never silenced or paused: a press of the alarm button always reaches a person.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from alerts.inputs import Outcome
from alerts.lifecycle import Suppression
from alerts.protocols.model import Rule


@dataclass(frozen=True)
class Silence:
    """New alerts of `rule` for this patient are blocked until `until` (Unix seconds); a reason is required."""

    rule: str
    until: float
    reason: str
    set_by: str

    def __post_init__(self) -> None:
        if len(self.reason.strip()) < 3 or not self.set_by.strip():
            raise ValueError("a silence needs a reason and who set it")

    def active(self, now: float) -> bool:
        """Whether the silence holds at `now`."""
        return now < self.until


@dataclass(frozen=True)
class Pause:
    """The patient is away from `start` until `until` (None: until someone ends it)."""

    start: float
    until: float | None
    reason: str

    def active(self, now: float) -> bool:
        """Whether the pause holds at `now`."""
        return self.start <= now and (self.until is None or now < self.until)

    def ended(self, now: float) -> bool:
        """Whether the planned end has passed (the evaluation then raises a reminder)."""
        return self.until is not None and now >= self.until


def suppression_for(
    rule: Rule, outcome: Outcome, silences: Iterable[Silence], pause: Pause | None, now: float
) -> Suppression | None:
    """Why a trigger of `rule` is not to be notified at `now`, or None.

    Inhibition is named first because it explains the cause (the gateway), then pause, then silence.
    """
    if outcome.inhibited:
        return Suppression.INHIBITED
    if rule.alarm:
        return None
    if pause is not None and pause.active(now) and rule.during_pause == "suspend":
        return Suppression.PAUSED
    if any(silence.rule == rule.id and silence.active(now) for silence in silences):
        return Suppression.SILENCED
    return None
