"""The start (`/start`), where sign-in lands: each role goes on to the page it works from, the response
centre to its screen of safety alarms, auditors to the audit log, the roles with patient data to the worklist.
Installers, who see no patient data, get a plain page of what they can use instead of a refusal."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cloud.access.policy import staff_only
from cloud.access.principal import Principal
from cloud.access.roles import AUDIT_READERS, PATIENT_SCOPE, Role
from cloud.web.navigation import AUDIT_PAGE, PAGES_TAG, START, see_other
from cloud.web.templating import render
from common.i18n import N_

router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
# What the roles without patient data use today (their pages come with later issues): a description and the
# address of the API that answers it, which a signed-in browser may open.
USES: dict[Role, list[tuple[str, str]]] = {
    Role.INSTALLER: [
        (N_("Gateways of the municipality, with their health and their devices"), "/api/v1/fleet/gateways"),
        (N_("Devices registered in the municipality"), "/api/v1/devices"),
    ],
}


@router.get(START)
async def start(request: Request, principal: Annotated[Principal, staff_only()]) -> Response:
    """Send the person on to their role's first page, or show what a role without patient data can use."""
    if principal.role == Role.RESPONSE_CENTRE:
        return see_other("/response-centre")
    if principal.role in AUDIT_READERS:
        return see_other(AUDIT_PAGE)
    if PATIENT_SCOPE[principal.role] != "none":
        return see_other("/")
    return render(request, "start.html", {"uses": USES.get(principal.role, [])})
