"""A relative's pages (`/relative`): the people who invited them, and the page of each as the patient sees it
(their measurements in words, the course over 30 days, when they measure next, who has looked), without the
questions, which are the patient's own. Read on every request under the patient's consent
(`policy.relative_record`): once the patient revokes it, the next request is refused, and audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cloud.access import relatives
from cloud.access.policy import PatientGrant, relative_record, relative_self
from cloud.access.principal import Principal
from cloud.requests import Conn
from cloud.web.citizen import own_page_context
from cloud.web.navigation import PAGES_TAG, see_other
from cloud.web.templating import render

router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
HOME = "/relative"


@router.get(HOME)
async def chooser(
    request: Request, conn: Conn, principal: Annotated[Principal, relative_self("relatives.read_following")]
) -> Response:
    """The people whose page the relative may see: straight to the page when there is one."""
    followed = await relatives.followed_by(conn, principal.id)
    if len(followed) == 1:
        return see_other(f"{HOME}/{followed[0].patient_id}")
    return render(request, "relative_choose.html", {"followed": followed})


@router.get(HOME + "/{patient_id}")
async def relative_page(
    request: Request, conn: Conn, grant: Annotated[PatientGrant, relative_record("patient.read_as_relative")]
) -> Response:
    """The page of a patient who invited the relative, read-only, without their questions."""
    context = await own_page_context(conn, grant.patient_id)
    return render(request, "relative.html", context)
