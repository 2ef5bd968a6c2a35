"""Reading the patient page's forms: the fields as a nurse types them (a decimal comma, an Oslo wall-clock time,
a date) checked into what the services take, with a message for the field at fault. Nothing is written here;
the services check the values again (the vitals against the metric catalogue) and may refuse them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from cloud.evaluation.baselines import MAX_REVIEW_DAYS
from cloud.ingest.manual import Entry
from cloud.web.forms import Checked, oslo_time, text
from common.digits import plain_digits
from common.i18n import N_
from common.timefmt import OSLO

# The form's numeric fields, named as the visit service names them (cloud/ingest/manual.py): the vital signs,
# then the patient's answers about symptoms (0-4) and the CAT total, which the service checks as answers.
NUMBERS: Final = ("resp_rate", "spo2", "bp_systolic", "bp_diastolic", "pulse", "temperature",
                  "dyspnoea", "oedema", "wellbeing", "cat")  # fmt: skip
SCORE_UNIT: Final = "{score}"  # an answer's unit: a count of points, written without a symbol
ACVPU: Final = ("A", "C", "V", "P", "U")
REASON_LENGTH: Final = (3, 500)
OXYGEN: Final = {"yes": True, "no": False}
DECISIONS: Final = ("approve", "reject")


def _number(checked: Checked, name: str) -> float | None:
    """A number typed with a decimal comma or point (`37,5`, `37.5`); None when empty."""
    typed = checked.values.get(name, "").strip().replace("\N{MINUS SIGN}", "-").replace(" ", "")
    if not typed:
        return None
    try:
        return float(typed.replace(",", "."))
    except ValueError:
        checked.refuse(name, N_("Enter a number, such as 37,5."))
        return None


def vitals_entry(checked: Checked, now: datetime) -> Entry:
    """The visit's measurements as the visit service takes them (empty fields are not measured); the service
    checks the time measured against `now` itself."""
    values: dict[str, float | str | bool | None] = {name: _number(checked, name) for name in NUMBERS}
    consciousness = checked.values.get("consciousness", "").strip()
    if consciousness and consciousness not in ACVPU:
        checked.refuse("consciousness", N_("Choose one of the listed values."))
    values["consciousness"] = consciousness or None
    oxygen = checked.values.get("oxygen", "")
    if oxygen and oxygen not in OXYGEN:
        checked.refuse("oxygen", N_("Choose one of the listed values."))
    values["oxygen"] = OXYGEN.get(oxygen)
    try:
        measured_at = oslo_time(checked.values.get("measured_at", ""))
    except ValueError:
        checked.refuse("measured_at", N_("Give the time as date and time of day."))
        measured_at = None
    return Entry(values=values, measured_at=measured_at)


@dataclass(frozen=True)
class PauseFields:
    """A pause from now: why, and until when (None: until someone resumes)."""

    reason: str
    until: datetime | None


def pause_fields(checked: Checked, now: datetime) -> PauseFields:
    """The pause form: a reason, and an end ahead of now or none."""
    reason = text(checked, "reason", required=N_("Say why the alerts are paused."), bounds=REASON_LENGTH)
    try:
        until = oslo_time(checked.values.get("until", ""))
    except ValueError:
        checked.refuse("until", N_("Give the end as date and time of day."))
        until = None
    if until is not None and until <= now:
        checked.refuse("until", N_("The end time has passed; choose a time ahead."))
    return PauseFields(reason, until)


@dataclass(frozen=True)
class DecisionFields:
    """A decision on the waiting proposal: which one, approve or not, why, and when to review it."""

    proposal_id: int
    approve: bool
    reason: str
    review_by: date


def _review_by(checked: Checked, now: datetime) -> date:
    today = now.astimezone(OSLO).date()
    try:
        review_by = date.fromisoformat(checked.values.get("review_by", "").strip())
    except ValueError:
        checked.refuse("review_by", N_("Choose the date of the next review."))
        return today
    if not today < review_by <= today + timedelta(days=MAX_REVIEW_DAYS):
        checked.refuse("review_by", N_("The review date must be after today and within a year."))
    return review_by


def decision_fields(checked: Checked, now: datetime) -> DecisionFields:
    """The decision form: approve or reject, a reason, a review date after today (within a year), and the
    proposal the nurse saw."""
    decision = checked.values.get("decision", "")
    if decision not in DECISIONS:
        checked.refuse("decision", N_("Choose whether to approve or reject."))
    reason = text(checked, "reason", required=N_("Give a reason of at least 3 characters."), bounds=REASON_LENGTH)
    review_by = _review_by(checked, now)
    proposal = checked.values.get("proposal_id", "")
    return DecisionFields(int(proposal) if plain_digits(proposal) else 0, decision == "approve", reason, review_by)
