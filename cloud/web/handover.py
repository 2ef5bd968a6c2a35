"""The shift handover page (`/handover`): what happened to my teams' patients since a chosen time, and what is
still waiting for the next shift.

It reads through the same service and access policy as `GET /api/v1/handover` (`patient_search`, one audit
record per view, the caller's teams as the filter). The start is a plain GET form with an Oslo wall-clock
time (default: 8 hours ago); a start the service refuses (in the future, more than 7 days ago, not a time)
is shown next to the field, and nothing else is read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cloud.access.policy import PatientScopeFilter, patient_search
from cloud.requests import Conn
from cloud.web.forms import oslo_time
from cloud.web.navigation import PAGES_TAG
from cloud.web.templating import reader_of_page, render
from cloud.worklist.handover import HandoverError, handover, period_start
from common.i18n import N_

router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
NOT_A_TIME = N_("Give the start as date and time of day.")
OCCASIONS = {"trial_ended": N_("The trial period has ended"), "review_due": N_("The review is due")}
# The handover's sections in the order the page shows them, with their headings.
SECTIONS = (
    ("still_open", N_("Still open")),
    ("opened", N_("Opened")),
    ("acknowledged", N_("Acknowledged")),
    ("resolved", N_("Resolved")),
)


@router.get("/handover")
async def handover_page(
    request: Request,
    conn: Conn,
    scope: Annotated[PatientScopeFilter, patient_search("handover.read")],
    since: str = "",
) -> Response:
    """The handover since `since` (Oslo time, `2026-12-03T06:00`; empty: 8 hours ago)."""
    reader = reader_of_page(request)
    now = datetime.now(UTC)
    context: dict[str, Any] = {"typed": since, "error": "", "sections": SECTIONS, "occasions": OCCASIONS}
    try:
        start = period_start(oslo_time(since), now)
    except HandoverError as refused:  # a ValueError too: caught first
        context["error"] = refused.text(reader)
    except ValueError:
        context["error"] = reader._(NOT_A_TIME)
    if context["error"]:
        return render(request, "handover.html", context | {"found": None}, status=422)
    teams = None if scope.team_ids is None else sorted(scope.team_ids)
    found = await handover(conn, scope.municipality_id, teams, start, reader, now, scope.hidden)
    return render(request, "handover.html", context | {"found": found})
