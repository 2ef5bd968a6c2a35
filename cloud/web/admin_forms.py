"""What the registry and administration pages share: a refused form to show again (its messages next to the
fields, what was typed), reading a posted form, and the checks of their fields. Nothing is written here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from fastapi import Request

from cloud.web.forms import Checked, oslo_time
from cloud.web.patient_page import LIFECYCLE_NAMES
from cloud.web.templating import gettext_of
from common.i18n import N_

BASIS_NAMES = {"consent": N_("Consent"), "assessment": N_("Documented assessment")}
STATUS_NAMES = {"valid": N_("In force"), "expired": N_("Lapsed"), "withdrawn": N_("Withdrawn")}
# What the registry's templates name in words (catalogue msgids).
NAMES = {"lifecycle_names": LIFECYCLE_NAMES, "bases": BASIS_NAMES, "statuses": STATUS_NAMES}


@dataclass(frozen=True)
class Refused:
    """A form that was not saved: its name, a message per field (in the reader's language), what was typed."""

    form: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    typed: dict[str, str] = field(default_factory=dict)
    status: int = 200

    def context(self) -> dict[str, Any]:
        """The template variables the forms' macros read (`_patient_forms.html`)."""
        return {"form": self.form, "errors": self.errors, "typed": self.typed}


async def posted(request: Request) -> tuple[Checked, list[str]]:
    """A posted form's text fields to check, and its ticked `protocols` boxes (a field given many times)."""
    form = await request.form()
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    return Checked(values), [str(v) for v in form.getlist("protocols")]


def refused(request: Request, form: str, checked: Checked, status: int = 422) -> Refused:
    """The form again with its messages translated for the reader."""
    _ = gettext_of(request)
    return Refused(form, {name: _(message) for name, message in checked.errors.items()}, checked.values, status)


def said(form: str, field_name: str, message: str, typed: dict[str, str], status: int = 422) -> Refused:
    """The form again with one message from a service (already worded: the service's own text)."""
    return Refused(form, {field_name: message}, typed, status)


def optional(checked: Checked, name: str, bounds: tuple[int, int]) -> str | None:
    """A field that may be left empty (None), else within `bounds` characters."""
    value = checked.values.get(name, "").strip()
    if not value:
        return None
    if not bounds[0] <= len(value) <= bounds[1]:
        checked.refuse(name, N_("The text is too short or too long."))
    return value


def day(checked: Checked, name: str, message: str) -> date | None:
    """A `date` field (`2026-12-31`)."""
    try:
        return date.fromisoformat(checked.values.get(name, "").strip())
    except ValueError:
        checked.refuse(name, message)
        return None


def moment(checked: Checked, name: str) -> datetime | None:
    """A `datetime-local` field as an instant (Oslo wall clock); required."""
    try:
        found = oslo_time(checked.values.get(name, ""))
    except ValueError:
        found = None
    if found is None:
        checked.refuse(name, N_("Give the time as date and time of day."))
    return found


def now() -> datetime:
    """The time the checks compare with."""
    return datetime.now(UTC)
