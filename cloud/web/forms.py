"""Reading the pages' forms: the fields as people type them (an Oslo wall-clock time, free text) checked
into what the triage service takes, with a message for the field at fault. Nothing is written here."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import Request

from cloud.worklist.actions import CLOCK_SLACK, MAX_SNOOZE_MINUTES, OUTCOMES
from common.i18n import N_
from common.timefmt import OSLO

MAX_TEXT = 2000
RESOLUTION_LENGTH = (3, 500)


@dataclass
class Checked:
    """What a form asked for: the values as typed (to show them again) and a message per field at fault."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    def refuse(self, name: str, message: str) -> None:
        """Mark `name` as at fault with `message` (a catalogue msgid)."""
        self.errors.setdefault(name, message)


def oslo_time(typed: str) -> datetime | None:
    """A `datetime-local` value (Oslo wall clock, `2026-12-03T14:05`) as an aware instant; None if empty.
    Raises ValueError for anything else."""
    if not typed.strip():
        return None
    moment = datetime.fromisoformat(typed.strip())
    if moment.tzinfo is not None:
        raise ValueError("a wall-clock time has no zone")
    return moment.replace(tzinfo=OSLO).astimezone(UTC)


def text(checked: Checked, name: str, *, required: str, bounds: tuple[int, int] = (1, MAX_TEXT)) -> str:
    """A free-text field, stripped: `required` is the message when it is empty or too short."""
    value = checked.values.get(name, "").strip()
    low, high = bounds
    if len(value) < low:
        checked.refuse(name, required)
    elif len(value) > high:
        checked.refuse(name, N_("The text is too long."))
    return value


def outcome_fields(checked: Checked, now: datetime) -> tuple[str, datetime | None, str | None]:
    """The outcome code, when it happened (None: now) and the note."""
    outcome = checked.values.get("outcome", "")
    if outcome not in OUTCOMES:
        checked.refuse("outcome", N_("Choose what was done."))
    try:
        at = oslo_time(checked.values.get("at", ""))
    except ValueError:
        checked.refuse("at", N_("Give the time as date and time of day."))
        at = None
    if at is not None and at > now + CLOCK_SLACK:
        checked.refuse("at", N_("The time cannot be in the future."))
    note = checked.values.get("note", "").strip()
    if len(note) > MAX_TEXT:
        checked.refuse("note", N_("The text is too long."))
    return outcome, at, note or None


def snooze_minutes(checked: Checked, now: datetime) -> int:
    """Whole minutes from now until the end time the person chose (which must be ahead, within 7 days)."""
    try:
        until = oslo_time(checked.values.get("until", ""))
    except ValueError:
        until = None
        checked.refuse("until", N_("Give the end as date and time of day."))
    if until is None:
        checked.refuse("until", N_("Choose when the snooze ends."))
        return 0
    if until <= now:
        checked.refuse("until", N_("The end time has passed; choose a time ahead."))
        return 0
    minutes = math.ceil((until - now).total_seconds() / 60)
    if minutes > MAX_SNOOZE_MINUTES:
        checked.refuse("until", N_("A snooze can last at most 7 days."))
    return minutes


async def read_form(request: Request) -> Checked:
    """A posted form's text fields, to be checked."""
    form = await request.form()
    return Checked({key: value for key, value in form.items() if isinstance(value, str)})
