"""The reasons a staff member may give for emergency access (break-the-glass), as data: a code stored with the
grant and written in its audit records, and the text the patient reads in their access log.

Norwegian records work the same way: explicit access outside one's care responsibility is opened by choosing a
reason from a list, and the chosen reason, never a free-text note, is what the patient is shown (Helse Vest,
"Innsynslogg"; helsepersonelloven § 21 a). Which codes a municipality offers is a setting
(`TRYGGHEIM_EMERGENCY_ACCESS_REASONS`); a code is never reworded to mean something else, since old grants keep it.
"""

from __future__ import annotations

from typing import Final

from common.i18n import N_

REASONS: Final[dict[str, str]] = {
    "acute_care": N_("Acute need for health care"),
    "covering_team": N_("Covering for the patient's care team"),
    "patient_request": N_("At the request of the patient or a relative"),
    "care_coordination": N_("Coordinating the patient's care with other services"),
}


def reason_text(code: str) -> str:
    """The source text (for the catalogue) of a reason code; an unknown code, from a list since shortened, is
    shown as it is."""
    return REASONS.get(code, code)
