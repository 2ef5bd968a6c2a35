"""Reading the patient forms of the registry pages: a new patient, and a patient's record (name, phone, care
team, home, GP and the contacts in call order) into the registry's `PatientFields`, with a message for the
field at fault. Nothing is written here; the registry checks the identity number, the team and the home again.
"""

from __future__ import annotations

import re
from uuid import UUID

from cloud.registry.patients import Contact, PatientFields
from cloud.web.admin_forms import Refused, optional
from cloud.web.forms import Checked, text
from common.i18n import N_

MAX_CONTACTS = 20
NEW_STATES = ("referral", "trial", "active")
CONTACT_FIELDS = ("name", "relation", "phone", "note")


def _choice(checked: Checked, name: str, clear: set[str]) -> UUID | None:
    """A chosen team or home (an id), or none chosen: then the field is cleared."""
    typed = checked.values.get(name, "").strip()
    if not typed:
        clear.add(name)
        return None
    try:
        return UUID(typed)
    except ValueError:
        checked.refuse(name, N_("Choose one of the listed values."))
        return None


def _contact(checked: Checked, row: int) -> Contact | None:
    """Row `row` of the contacts (`c{row}_name`...); None when it is left empty."""
    typed = {name: checked.values.get(f"c{row}_{name}", "").strip() for name in CONTACT_FIELDS}
    if not any(typed.values()):
        return None
    for name, low, high in (("name", 1, 200), ("relation", 1, 100), ("phone", 3, 40), ("note", 0, 500)):
        if not low <= len(typed[name]) <= high:
            checked.refuse(f"c{row}_{name}", N_("Fill in name, relation and phone for each person to call."))
    return Contact(typed["name"], typed["relation"], typed["phone"], f"c{row}_next_of_kin" in checked.values,
                   typed["note"])  # fmt: skip


def contacts(checked: Checked) -> list[Contact]:
    """The filled rows of the contact list, ordered by the call order typed next to each (`c{row}_order`)."""
    rows: list[tuple[float, int, Contact]] = []
    for row in range(MAX_CONTACTS):
        found = _contact(checked, row)
        if found is None:
            continue
        typed = checked.values.get(f"c{row}_order", "").strip()
        order = float(row + 1)
        try:
            order = float(typed.replace(",", ".")) if typed else order
        except ValueError:
            checked.refuse(f"c{row}_order", N_("Enter a number, such as 37,5."))
        rows.append((order, row, found))
    return [contact for _order, _row, contact in sorted(rows, key=lambda item: (item[0], item[1]))]


def contact_rows(stored: int, refusal: Refused) -> int:
    """How many contact rows the record form shows: the stored contacts and one empty row, or as many as a
    refused form had filled in (so each message shows next to its row)."""
    typed = [int(key[1:].split("_")[0]) for key in refusal.typed if re.match(r"^c\d+_", key)]
    wanted = max([stored, *typed]) + 1 if refusal.form == "record" and typed else stored + 1
    return min(wanted, MAX_CONTACTS)


def record_fields(checked: Checked) -> PatientFields:
    """The record form: a name, an optional phone, a team, a home, the GP and the contacts."""
    clear: set[str] = set()
    name = text(checked, "display_name", required=N_("Give the person's name."), bounds=(1, 200))
    phone = optional(checked, "phone", (3, 40))
    if phone is None:
        clear.add("phone")
    team, home = _choice(checked, "care_team_id", clear), _choice(checked, "home_id", clear)
    gp = {key: checked.values.get(f"gp_{key}", "").strip() for key in ("name", "office", "phone")}
    if any(len(value) > 200 for value in gp.values()):
        checked.refuse("gp_name", N_("The text is too long."))
    return PatientFields(display_name=name, phone=phone, care_team_id=team, home_id=home,
                         gp={k: v for k, v in gp.items() if v}, contacts=contacts(checked), clear=clear)  # fmt: skip


def new_patient(checked: Checked) -> tuple[PatientFields, str]:
    """The new patient form: a name, an optional identity number and phone, a team, a home and where the
    patient starts (referral, trial or active)."""
    fields = record_fields(checked)
    fields.contacts, fields.clear, fields.gp = [], set(), None
    fields.national_id = optional(checked, "national_id", (11, 13))
    lifecycle = checked.values.get("lifecycle", "")
    if lifecycle not in NEW_STATES:
        checked.refuse("lifecycle", N_("Choose the new state."))
    return fields, lifecycle


def field_of(error: str) -> str:
    """The form field a registry refusal is about (its message names the team, the home or the number)."""
    for words, name in (("care team", "care_team_id"), ("home", "home_id"), ("identity", "national_id"),
                        ("national", "national_id"), ("number", "national_id")):  # fmt: skip
        if words in error:
            return name
    return "display_name"
