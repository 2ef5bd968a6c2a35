"""The outcomes a nurse or the response centre records on an alert, in words (the screens, the handover and
the journal note sent to the patient's record all say them the same way)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from alerts.wording.formats import Reader
from common.i18n import N_

OUTCOMES: Final[Mapping[str, str]] = {
    "resolved_by_phone": N_("Resolved by phone"),
    "visit_dispatched": N_("Help sent"),
    "on_site": N_("Help on site"),
    "done": N_("Done"),
    "false_alarm": N_("False alarm"),
}


def outcome_text(code: str | None, reader: Reader) -> str | None:
    """An outcome code in the reader's words (None stays None; an unknown code is shown as it is)."""
    if code is None:
        return None
    return reader._(OUTCOMES[code]) if code in OUTCOMES else code
