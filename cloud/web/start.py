"""The start (`/start`), where sign-in lands: each role goes on to the page it works from, the response
centre to its screen of safety alarms, the roles with patient data to the worklist, installers to the fleet and
auditors to the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cloud.access.policy import staff_only
from cloud.access.principal import Principal
from cloud.access.roles import PATIENT_SCOPE, Role
from cloud.web.navigation import PAGES_TAG, START, menu, see_other
from cloud.web.templating import render

router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])


@router.get(START)
async def start(request: Request, principal: Annotated[Principal, staff_only()]) -> Response:
    """Send the person on to their role's first page: the response centre's screen, the worklist for the other
    roles with patient data, else the first page of the role's menu (the fleet for installers, the audit log for
    auditors); a role with no page of its own gets a plain page saying it sees no patient data."""
    if principal.role == Role.RESPONSE_CENTRE:
        return see_other("/response-centre")
    if PATIENT_SCOPE[principal.role] != "none":
        return see_other("/")
    first = menu(principal.role)[0][0]
    return see_other(first) if first != START else render(request, "start.html", {})
