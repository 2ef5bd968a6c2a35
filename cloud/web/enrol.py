"""The enrolment page, opened from the QR code on the installer's phone: which home the code is for (address,
residents' names), "this is the home I am in" or not, then the gateway's command and the gateway coming online
live (enrolled, first heartbeat, online), then its proposed devices.

The QR code's address is `/enrol#code=...`. That page needs no sign-in: its script (enrol.js) keeps the code in
the tab's session storage and goes on to `/enrol/code`, which does (a signed-out installer signs in and comes
back), fills in the code and posts it, so the code is never in an address a server sees. Without JavaScript the
installer types the code. Confirming and rejecting go through the enrolment service (audited); a code of another
municipality's home gets a clear page, nothing written, and an audit record.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from cloud.access.policy import Public, actor, staff_only
from cloud.access.principal import Principal
from cloud.access.roles import KIT_MANAGERS
from cloud.fleet.status import FleetFilter, list_gateways
from cloud.gateways import enrolment, reports
from cloud.gateways.credentials import EnrolmentThrottled
from cloud.gateways.enrolment import Enrolment, ForeignHomeError
from cloud.registry.errors import NotFoundError, RegistryError
from cloud.requests import Conn
from cloud.web.forms import read_form, text
from cloud.web.kits import notice
from cloud.web.navigation import PAGES_TAG, see_other
from cloud.web.templating import render
from common.i18n import N_

router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
KitReader = Annotated[Principal, staff_only(*sorted(KIT_MANAGERS))]  # polled: the service audits what matters
KitManager = Annotated[Principal, staff_only(*sorted(KIT_MANAGERS), audited="kits.write")]
EnrolmentId = Annotated[int, Path(ge=1, le=2**62)]
SCRIPT = {"live_script": "enrol.js"}
NO_CODE = N_("Write the enrolment code.")
TOO_MANY = N_("Too many wrong codes. Wait 15 minutes and try again.")
FOREIGN_HEADING = N_("Another municipality's home")


@router.get("/enrol", dependencies=[Public])
async def from_qr_code(request: Request) -> Response:
    """Where the QR code leads: its script takes the code from the fragment and goes on to `/enrol/code`."""
    return render(request, "enrol_open.html", SCRIPT)


@router.get("/enrol/code")
async def code_form(request: Request, staff: KitReader) -> Response:
    """The code form (filled in and sent by the script when the QR code was scanned)."""
    return render(request, "enrol_code.html", {"values": {}, "errors": {}, **SCRIPT})


@router.post("/enrol/code")
async def look_up(request: Request, conn: Conn, staff: KitManager) -> Response:
    """The enrolment of the code, or the form again with what is wrong; another municipality's: a clear page."""
    checked = await read_form(request)
    code = text(checked, "code", required=NO_CODE, bounds=(4, 40))
    if not checked.errors:
        try:
            found = await enrolment.by_code(
                conn, code, municipality_id=staff.municipality_id, actor=actor(request, staff)
            )
        except ForeignHomeError as exc:
            return notice(request, FOREIGN_HEADING, str(exc), 404)
        except NotFoundError as exc:
            checked.refuse("code", str(exc))
        except EnrolmentThrottled:
            return notice(request, N_("Please wait a little"), TOO_MANY, 429)
        else:
            return see_other(f"/enrol/{found.id}")
    context = {"values": checked.values, "errors": checked.errors, **SCRIPT}
    return render(request, "enrol_code.html", context, status=422 if "code" in checked.errors else 404)


async def _progress(conn: Conn, found: Enrolment) -> dict[str, Any]:
    """How far the gateway has come: enrolled, first heartbeat, online; and its proposals."""
    if found.gateway_id is None:
        return {"health": None, "proposals": []}
    health = await list_gateways(conn, found.municipality_id, FleetFilter(gateway_id=found.gateway_id, limit=1))
    proposals = await reports.proposals_of(conn, found.gateway_id)
    return {"health": health[0] if health else None, "proposals": proposals}


async def _page(
    request: Request, conn: Conn, staff: Principal, enrolment_id: int, template: str, error: str = "", status: int = 200
) -> Response:
    try:
        found = await enrolment.get(conn, enrolment_id, municipality_id=staff.municipality_id,
                                    actor=actor(request, staff))  # fmt: skip
    except ForeignHomeError as exc:
        return notice(request, FOREIGN_HEADING, str(exc), 404)
    except NotFoundError as exc:
        return notice(request, N_("Not found"), str(exc), 404)
    public_url = request.app.state.settings.public_url.rstrip("/")
    context = {"enrolment": found, "error": error, "cloud_url": public_url, **SCRIPT, **await _progress(conn, found)}
    return render(request, template, context, status=status)


@router.get("/enrol/{enrolment_id}")
async def enrolment_page(enrolment_id: EnrolmentId, request: Request, conn: Conn, staff: KitReader) -> Response:
    """The home the code is for, the confirmation, and the gateway's progress."""
    return await _page(request, conn, staff, enrolment_id, "enrolment.html")


@router.get("/enrol/{enrolment_id}/progress")
async def progress(enrolment_id: EnrolmentId, request: Request, conn: Conn, staff: KitReader) -> Response:
    """The gateway's progress alone (htmx polls it while the installer waits)."""
    return await _page(request, conn, staff, enrolment_id, "_enrolment_progress.html")


async def _decide(request: Request, conn: Conn, staff: Principal, enrolment_id: int, confirm: bool) -> Response:
    await read_form(request)
    try:
        await enrolment.decide(conn, enrolment_id, confirm=confirm, municipality_id=staff.municipality_id,
                               actor=actor(request, staff), by=staff.id)  # fmt: skip
    except ForeignHomeError as exc:
        return notice(request, FOREIGN_HEADING, str(exc), 404)
    except RegistryError as exc:
        return await _page(request, conn, staff, enrolment_id, "enrolment.html", str(exc), exc.status)
    return see_other(f"/enrol/{enrolment_id}")


@router.post("/enrol/{enrolment_id}/confirm")
async def confirm(enrolment_id: EnrolmentId, request: Request, conn: Conn, staff: KitManager) -> Response:
    """ "This is the home I am in": the gateway may now use the code."""
    return await _decide(request, conn, staff, enrolment_id, True)


@router.post("/enrol/{enrolment_id}/reject")
async def reject(enrolment_id: EnrolmentId, request: Request, conn: Conn, staff: KitManager) -> Response:
    """Not this home: the code is revoked for good."""
    return await _decide(request, conn, staff, enrolment_id, False)
