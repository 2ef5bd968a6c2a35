"""The installer's and administrator's homes (`/kits`): the municipality's homes with their residents' names,
a new home, a home's address corrected, and the enrolment code for a kit in a home shown as text and as a QR
code of the enrolment page's address.

Through the same services and policy as the kits and registry API (`roles.KIT_MANAGERS`, audited). The code is
shown once, in the answer to the post that made it (`Cache-Control: no-store`): only its digest is stored, so
there is no page to redirect to that could show it again. The QR code is an inline SVG drawn by segno (no
script, no style, no data: address), and encodes `<public url>/enrol#code=...`: the code travels in the
fragment, which a browser never sends, so it lands in no access log.
"""

from __future__ import annotations

from html import escape
from typing import Annotated, Any
from uuid import UUID

import segno
from fastapi import APIRouter, Request
from fastapi.responses import Response

from cloud.access.policy import actor, staff_only
from cloud.access.principal import Principal
from cloud.access.roles import KIT_MANAGERS
from cloud.gateways import enrolment
from cloud.registry import homes
from cloud.registry.errors import RegistryError
from cloud.requests import Conn
from cloud.web.forms import read_form, text
from cloud.web.navigation import PAGES_TAG, see_other
from cloud.web.templating import gettext_of, render
from common.i18n import N_

router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
# Reading homes and codes leaves no record (no patient data; the page polls); every change does.
KitReader = Annotated[Principal, staff_only(*sorted(KIT_MANAGERS))]
KitManager = Annotated[Principal, staff_only(*sorted(KIT_MANAGERS), audited="kits.write")]
NO_ADDRESS = N_("Write the home's address.")
QR_ERROR = "m"  # error correction M: readable from a screen with glare, and small enough for a phone


def qr_svg(url: str, title: str) -> str:
    """The QR code of `url` as an inline SVG with a white quiet zone, named by `title` for screen readers."""
    drawn = segno.make(url, error=QR_ERROR).svg_inline(
        scale=5, border=4, light="#fff", title=escape(title), svgclass="qr-code", lineclass=None
    )
    return drawn.replace("<svg ", '<svg role="img" ', 1)


def notice(request: Request, heading: str, detail: str, status: int, back: str = "/kits") -> Response:
    """A plain page for a refusal (a code of another municipality, a used or expired code): what happened,
    nothing was written, and where to go."""
    _ = gettext_of(request)
    context = {"heading": _(heading), "detail": _(detail), "back": back}
    return render(request, "kit_notice.html", context, status=status)


@router.get("/kits")
async def kits_page(request: Request, conn: Conn, staff: KitReader) -> Response:
    """The municipality's homes, with the form for a new one."""
    return await _kits(request, conn, staff, {}, {}, 200)


async def _kits(
    request: Request, conn: Conn, staff: Principal, values: dict[str, str], errors: dict[str, str], status: int
) -> Response:
    found = await homes.list_homes(conn, staff.municipality_id, None, 500, 0)
    context = {"homes": found, "values": values, "errors": errors}
    return render(request, "kits.html", context, status=status)


@router.post("/kits/homes")
async def create_home(request: Request, conn: Conn, staff: KitManager) -> Response:
    """A new home (address required), then its page."""
    checked = await read_form(request)
    address = text(checked, "address", required=NO_ADDRESS, bounds=(1, 300))
    if checked.errors:
        return await _kits(request, conn, staff, checked.values, checked.errors, 422)
    home = await homes.create(conn, municipality_id=staff.municipality_id, address=address, access_notes="", phone=None)
    return see_other(f"/kits/homes/{home}")


async def _home(
    request: Request, conn: Conn, staff: Principal, home_id: UUID, extra: dict[str, Any], status: int = 200
) -> Response:
    try:
        home = await homes.one(conn, staff.municipality_id, home_id)
    except RegistryError:
        return notice(request, N_("Not found"), enrolment.NO_SUCH_HOME, 404)
    codes = await enrolment.of_home(conn, home_id)
    context = {"home": home, "codes": codes, "values": {}, "errors": {}, "issued": None, **extra}
    return render(request, "kit_home.html", context, status=status, headers=extra.pop("headers", None))


@router.get("/kits/homes/{home_id}")
async def home_page(home_id: UUID, request: Request, conn: Conn, staff: KitReader) -> Response:
    """A home: its address and residents, its enrolment codes, and the form for a new code."""
    return await _home(request, conn, staff, home_id, {})


@router.post("/kits/homes/{home_id}/address")
async def change_address(home_id: UUID, request: Request, conn: Conn, staff: KitManager) -> Response:
    """Correct the home's address, then back to the home."""
    checked = await read_form(request)
    address = text(checked, "address", required=NO_ADDRESS, bounds=(1, 300))
    if checked.errors:
        return await _home(request, conn, staff, home_id, {"values": checked.values, "errors": checked.errors}, 422)
    try:
        await homes.update(conn, municipality_id=staff.municipality_id, home_id=home_id, changes={"address": address})
    except RegistryError:
        return notice(request, N_("Not found"), enrolment.NO_SUCH_HOME, 404)
    return see_other(f"/kits/homes/{home_id}")


@router.post("/kits/homes/{home_id}/codes")
async def create_code(home_id: UUID, request: Request, conn: Conn, staff: KitManager) -> Response:
    """A new enrolment code, shown this once with its QR code (not stored, not cached)."""
    await read_form(request)
    try:
        found, code = await enrolment.issue(
            conn, municipality_id=staff.municipality_id, home_id=home_id, actor=actor(request, staff), by=staff.id
        )
    except RegistryError:
        return notice(request, N_("Not found"), enrolment.NO_SUCH_HOME, 404)
    url = enrolment.enrolment_url(request.app.state.settings.public_url, code)
    title = gettext_of(request)(N_("QR code of the enrolment page for this code"))
    issued = {"enrolment": found, "code": code, "url": url, "svg": qr_svg(url, title)}
    headers = {"Cache-Control": "no-store"}
    return await _home(request, conn, staff, home_id, {"issued": issued, "headers": headers})
