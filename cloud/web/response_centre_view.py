"""What the response centre's screen shows, put together from the response-centre service's answer: open
alarms in full (where, how to get in, whom to call, what to do next) and the last day's handled alarms in
short, every time with its seconds, and the share taken within the answer target, in the person's language.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from babel.dates import format_time, format_timedelta
from babel.numbers import format_percent
from fastapi import Request
from fastapi.responses import Response
from psycopg import AsyncConnection

from alerts.wording.formats import LOCALES
from cloud.access.principal import Principal
from cloud.access.roles import PATIENT_SCOPE
from cloud.web.templating import reader_of_page, render
from cloud.worklist.response_centre import AnswerShare, SafetyAlarm, screen
from common.i18n import N_
from common.timefmt import OSLO

# The outcomes the screen offers, by what the operator did, and those that end the alarm.
FIRST_OUTCOMES = {
    "resolved_by_phone": N_("Talked to the person"),
    "visit_dispatched": N_("Help sent"),
    "false_alarm": N_("False alarm"),
}
AFTER_HELP_SENT = {"on_site": N_("Help has arrived"), "done": N_("Done"), "false_alarm": N_("False alarm")}
CLOSES = frozenset({"resolved_by_phone", "done", "false_alarm"})
DONE = {"taken": N_("The alarm is taken."), "outcome": N_("The outcome is recorded.")}


@dataclass
class AlarmView:
    """One alarm as the screen shows it: the service's alarm and its times in words."""

    alarm: SafetyAlarm
    received: str
    last_pressed: str
    since_ms: int
    waited: str
    taken: str
    taken_after: str
    outcome_at: str
    choices: dict[str, str] = field(default_factory=dict)


def seconds_clock(moment: datetime | None, language: str) -> str:
    """The Oslo time of day with seconds (`14:05:09`): for an alarm, seconds count."""
    return "" if moment is None else format_time(moment.astimezone(OSLO), "HH:mm:ss", locale=LOCALES[language])


def stopwatch(seconds: float) -> str:
    """Elapsed time as a stopwatch shows it, `m:ss` or `h:mm:ss` (the same in every language; the page's
    script keeps it running in the same form)."""
    whole = max(int(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def duration(seconds: float, language: str) -> str:
    """A short span in words, exact to the second: `1 min 5 sek`, `42 secs`."""
    whole = max(math.ceil(seconds), 0)
    minutes, secs = divmod(whole, 60)
    parts = [timedelta(minutes=minutes)] if minutes else []
    if secs or not minutes:
        parts.append(timedelta(seconds=secs))
    return " ".join(format_timedelta(part, format="short", locale=LOCALES[language]) for part in parts)


def choices(alarm: SafetyAlarm) -> dict[str, str]:
    """The outcomes the operator may record next: the first ones, or once help is on its way what follows."""
    if alarm.resolved_at is not None or alarm.taken_at is None:
        return {}
    if alarm.outcome in {"visit_dispatched", "on_site"}:
        return {code: name for code, name in AFTER_HELP_SENT.items() if code != alarm.outcome}
    return dict(FIRST_OUTCOMES)


def alarm_view(alarm: SafetyAlarm, now: datetime, language: str) -> AlarmView:
    """The alarm with its times formatted for `language`."""
    return AlarmView(
        alarm=alarm,
        received=seconds_clock(alarm.received_at, language),
        last_pressed=seconds_clock(alarm.last_pressed_at, language),
        since_ms=int(alarm.received_at.timestamp() * 1000),
        waited=stopwatch((now - alarm.received_at).total_seconds()),
        taken=seconds_clock(alarm.taken_at, language),
        taken_after="" if alarm.taken_after_s is None else duration(alarm.taken_after_s, language),
        outcome_at=seconds_clock(alarm.outcome_at, language),
        choices=choices(alarm),
    )


def share_text(answered: AnswerShare, language: str) -> str:
    """The share taken within the target as a percentage (`92 %`), or "" when no alarm counted."""
    return "" if answered.share is None else format_percent(answered.share, locale=LOCALES[language])


def scope_teams(principal: Principal) -> list[UUID] | None:
    """The teams whose alarms the person sees: None (the whole municipality) for the roles that reach it."""
    return None if PATIENT_SCOPE[principal.role] == "municipality" else sorted(principal.team_ids)


@dataclass
class Shown:
    """How the screen is shown: the alarm a form was about, its refusal (a catalogue msgid) with the note as
    typed, and what was just done."""

    alarm: int | None = None
    error: str = ""
    note: str = ""
    done: str = ""
    fragment: bool = False
    status: int = 200


def focus(open_views: list[AlarmView], shown: Shown) -> str:
    """The id of the control that gets the focus: where the next keystroke is needed, the first outcome of the
    alarm just taken, else the newest alarm nobody has taken; none on a live refresh (which must not move the
    focus) or with a refusal (whose message is read out instead)."""
    if shown.fragment or shown.error:
        return ""
    if shown.done == "taken":
        just_taken = next((v for v in open_views if v.alarm.alert_id == shown.alarm and v.choices), None)
        if just_taken is not None:
            return f"outcome-{just_taken.alarm.alert_id}-{next(iter(just_taken.choices))}"
    waiting = next((v for v in open_views if v.alarm.taken_at is None), None)
    return "" if waiting is None else f"take-{waiting.alarm.alert_id}"


async def page(request: Request, conn: AsyncConnection[Any], principal: Principal, shown: Shown) -> Response:
    """The screen (or with `shown.fragment` the alarm list alone, for a live refresh)."""
    reader = reader_of_page(request)
    found = await screen(conn, principal.municipality_id, scope_teams(principal), reader)
    views = [alarm_view(alarm, found.now, reader.language) for alarm in found.alarms]
    open_views = [view for view in views if view.alarm.resolved_at is None]
    context = {
        "screen": found,
        "now_ms": int(found.now.timestamp() * 1000),
        "open_alarms": open_views,
        "handled": [view for view in views if view.alarm.resolved_at is not None],
        "share": share_text(found.answered, reader.language),
        "target_s": int(found.answered.target_s),
        "closes": CLOSES,
        "shown": shown,
        # A refusal about an alarm that is no longer open (someone closed it meanwhile) has no form to stand at.
        "error_above": shown.error if all(view.alarm.alert_id != shown.alarm for view in open_views) else "",
        "done": DONE.get(shown.done, ""),
        "focus": focus(open_views, shown),
    }
    template = "_response_centre.html" if shown.fragment else "response_centre.html"
    return render(request, template, context, status=shown.status)
