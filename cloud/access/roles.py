"""Roles and what each may reach. Data, not code paths: one table decides patient scope.

Scope of patient data per role (Normen: access only with a service need, "tjenstlig behov"):
- `team`: patients of the care teams the person belongs to;
- `municipality`: every patient of the person's municipality;
- `none`: no patient data (installers see kits, homes' addresses and residents' names, auditors the audit log);
- `self`: one's own record only (a citizen signed in through ID-porten, bound to their record by national id),
  or for a relative the records of the patients who invited them (`cloud.access.relatives`).
Nobody ever reaches another municipality's data.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from common.i18n import N_

PatientScope = Literal["team", "municipality", "none", "self"]


class Role(StrEnum):
    """Staff roles, and the citizens' own (`patient`, `relative`: never a staff member's role, `STAFF_ROLES`)."""

    NURSE = "nurse"
    TEAM_LEAD = "team_lead"
    RESPONSE_CENTRE = "response_centre"
    MUNICIPALITY_ADMIN = "municipality_admin"
    INSTALLER = "installer"
    AUDITOR = "auditor"
    PATIENT = "patient"
    RELATIVE = "relative"


STAFF_ROLES = frozenset(Role) - {Role.PATIENT, Role.RELATIVE}

# Each role in words (source texts of the catalogue), for what people read.
ROLE_NAMES: dict[Role, str] = {
    Role.NURSE: N_("nurse"),
    Role.TEAM_LEAD: N_("team lead"),
    Role.RESPONSE_CENTRE: N_("response centre"),
    Role.MUNICIPALITY_ADMIN: N_("municipality administrator"),
    Role.INSTALLER: N_("installer"),
    Role.AUDITOR: N_("auditor"),
    Role.PATIENT: N_("patient"),
    Role.RELATIVE: N_("relative"),
}

PATIENT_SCOPE: dict[Role, PatientScope] = {
    Role.NURSE: "team",
    Role.TEAM_LEAD: "team",
    # The response centre answers safety alarms for the whole municipality, around the clock.
    Role.RESPONSE_CENTRE: "municipality",
    Role.MUNICIPALITY_ADMIN: "municipality",
    Role.INSTALLER: "none",
    Role.AUDITOR: "none",
    Role.PATIENT: "self",
    Role.RELATIVE: "self",
}

# The response centre's screen of safety alarms: the centre's operators, and the administrators who run it.
RESPONSE_CENTRE_SCREEN = (Role.RESPONSE_CENTRE, Role.MUNICIPALITY_ADMIN)
# Administration of staff and care teams within one's own municipality.
STAFF_ADMINS = frozenset({Role.MUNICIPALITY_ADMIN})
AUDIT_READERS = frozenset({Role.AUDITOR})
# The fleet view (kit health, no patient data): those who install and manage kits, and those who rely on
# them working (nurses and the response centre must know when a home's alarms cannot get through).
FLEET_READERS = frozenset({Role.MUNICIPALITY_ADMIN, Role.INSTALLER, Role.TEAM_LEAD, Role.NURSE, Role.RESPONSE_CENTRE})
# Kits in homes: creating homes and editing their addresses, enrolment codes, devices (register, assign to a
# resident or a home, end), confirming a gateway's proposed devices. Installers see homes' addresses and their
# residents' names for this, never health data (readings, alerts, quarantined values: PATIENT_SCOPE "none").
KIT_MANAGERS = frozenset({Role.MUNICIPALITY_ADMIN, Role.INSTALLER})
