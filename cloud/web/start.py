"""The start (`/start`), where sign-in lands: each role goes on to the page it works from, the response
centre to its screen of safety alarms, the roles with patient data to the worklist. Installers and auditors,
who see no patient data, get a plain page of what they can use instead of a refusal."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cloud.access.policy import staff_only
from cloud.access.principal import Principal
from cloud.access.roles import PATIENT_SCOPE, Role
from cloud.web.navigation import PAGES_TAG, START, see_other
from cloud.web.templating import render
from common.i18n import N_

router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
# What the roles without patient data use today (their pages come with later issues): a description and the
# address of the API that answers it, which a signed-in browser may open.
USES: dict[Role, list[tuple[str, str]]] = {
    Role.AUDITOR: [(N_("The audit log: who looked at or changed what, and when"), "/api/v1/audit")],
}


@router.get(START)
async def start(request: Request, principal: Annotated[Principal, staff_only()]) -> Response:
    """Send the person on to their role's first page, or show what a role without patient data can use."""
    if principal.role == Role.RESPONSE_CENTRE:
        return see_other("/response-centre")
    if principal.role == Role.INSTALLER:  # kits, homes and the fleet: the fleet shows what needs a visit
        return see_other("/fleet")
    if PATIENT_SCOPE[principal.role] != "none":
        return see_other("/")
    return render(request, "start.html", {"uses": USES.get(principal.role, [])})
