"""The citizen's own page (`/me`) after signing in through ID-porten: who they are in the service, who has
opened their record (the access log, with the chosen reason of any emergency access, never a free-text note),
and whom they have blocked. Read-only for now: blocking and lifting are on the API (`/api/v1/citizen/blocks`)
until the citizens' pages get their forms."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cloud.access import access_log, blocks
from cloud.access.policy import PatientGrant, own_record
from cloud.access.reasons import reason_text
from cloud.access.roles import ROLE_NAMES, Role
from cloud.registry import patients as registry
from cloud.requests import Conn
from cloud.web.navigation import PAGES_TAG
from cloud.web.templating import render

router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
SHOWN = 50  # the newest accesses; the API pages through the rest


@router.get("/me")
async def my_page(
    request: Request, conn: Conn, grant: Annotated[PatientGrant, own_record("access_log.read_own")]
) -> Response:
    """The signed-in citizen's page."""
    record = await registry.details(conn, grant.patient_id)
    entries = await access_log.entries(conn, grant.patient_id, limit=SHOWN)
    context = {
        "record": record,
        "entries": entries,
        "blocks": [b for b in await blocks.list_blocks(conn, grant.patient_id) if b.active],
        "role_names": {str(role): name for role, name in ROLE_NAMES.items() if role != Role.PATIENT},
        "reason_text": reason_text,
    }
    return render(request, "citizen.html", context)
