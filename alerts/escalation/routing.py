"""Routing by event class: who an alert reaches at instant t, and when.

Safety alarms and the safety events of digital supervision (falls, a door opened at night: detector `event`)
go to the response centre at once, around the clock. Clinical red alerts go to the on-duty team in service
hours, or outside them to the municipality's out-of-hours service (`legevakt` or `response_centre`). Clinical
yellow, liveness and data-quality alerts wait for the next service window and are shown as waiting until
then. The platform's own alerts (`internal`) go to the worklist at once. `why` is the sentence recorded on
the alert.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import ValidationError

from alerts.escalation.hours import OSLO, WEEKDAYS, is_open, next_opening
from alerts.escalation.schema import PolicySpec
from alerts.escalation.service import ServiceSettings, on_duty

RESPONSE_CENTRE = "response_centre"
CARE_TEAM = "care_team"
WAITING_CLASSES = frozenset({"liveness", "data_quality"})
OUT_OF_HOURS_WAIT_MIN = 0.5
ON_DUTY_ROLE = "nurse"  # the rota role a team's in-hours alerts reach


def rota_role(target: str) -> str:
    """The rota role a step's target is staffed by: the care team through its on-duty nurses, any other
    target (`team_lead`, `response_centre`, `legevakt`) by the role of that name."""
    return ON_DUTY_ROLE if target == CARE_TEAM else target


@dataclass(frozen=True)
class Route:
    """Who is reached (`recipient`, a role; `staff` from the rota when known), from when (`deliver_at`: None
    means at once) and why."""

    recipient: str
    deliver_at: float | None
    why: str
    staff: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        """The route as stored on the alert's escalation copy."""
        return {"recipient": self.recipient, "deliver_at": self.deliver_at, "why": self.why,
                "staff": list(self.staff)}  # fmt: skip


def _when(t: float) -> str:
    local = datetime.fromtimestamp(t, OSLO)
    return f"{WEEKDAYS[local.weekday()].capitalize()} {local:%H:%M}"


def round_the_clock(event_class: str, detector: str | None) -> bool:
    """Safety alarms, falls and night-door events: the response centre at once, whatever the hour."""
    return event_class == "alarm" or (event_class == "clinical" and detector == "event")


def route(
    settings: ServiceSettings, holidays: Collection[date], *, event_class: str, severity: str,
    detector: str | None, team: str | None, t: float,
) -> Route:  # fmt: skip
    """The route of an alert of this class opened (or previewed) at instant t."""
    if round_the_clock(event_class, detector):
        return Route(RESPONSE_CENTRE, None, f"safety alarm or event ({_when(t)}): response centre at once, 24/7")
    if event_class == "internal":
        return Route(CARE_TEAM, None, "platform alert: the worklist at once")
    hours = settings.hours_for(team)
    staff = on_duty(settings, hours.team, ON_DUTY_ROLE, t)
    if is_open(hours, holidays, t):
        return Route(CARE_TEAM, None, f"in service hours ({_when(t)}): on-duty team {hours.team}", staff)
    outside = f"outside service hours ({_when(t)})"
    if event_class == "clinical" and severity == "red":
        return Route(settings.out_of_hours, None, f"{outside}: out-of-hours service {settings.out_of_hours}")
    if event_class == "clinical" or event_class in WAITING_CLASSES:
        opening = next_opening(hours, holidays, t)
        if opening is None:
            return Route(CARE_TEAM, None, f"{outside}, and no opening within a year: the worklist at once")
        staff = on_duty(settings, hours.team, ON_DUTY_ROLE, opening)
        return Route(CARE_TEAM, opening, f"{outside}: waits for the team {hours.team}, opening {_when(opening)}",
                     staff)  # fmt: skip
    return Route(CARE_TEAM, None, f"{outside}: the worklist at once")


def retarget(policy: PolicySpec, chosen: Route) -> PolicySpec:
    """The policy as the route wants it: when the route names an out-of-hours service, the policy's external
    steps reach it instead, the first of them within half a minute (it is the only one awake)."""
    if chosen.recipient in (CARE_TEAM, RESPONSE_CENTRE):
        return policy
    steps = []
    first = True
    for step in policy.steps:
        if step.channel == "in_app":
            steps.append(step)
            continue
        after = min(step.after_minutes, OUT_OF_HOURS_WAIT_MIN) if first else step.after_minutes
        steps.append(step.model_copy(update={"target": chosen.recipient, "after_minutes": after}))
        first = False
    try:
        return PolicySpec.model_validate({**policy.model_dump(), "steps": [s.model_dump() for s in steps]})
    except ValidationError:  # the quicker first step would break the order: keep the waits, change who
        return PolicySpec.model_validate(
            {**policy.model_dump(), "steps": [{**s.model_dump(), "target": chosen.recipient}
                                              if s.channel != "in_app" else s.model_dump() for s in policy.steps]}
        )  # fmt: skip
