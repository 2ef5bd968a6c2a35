"""The fleet pages: every gateway and device of the municipality with its health (`/fleet`, filters as a GET
form, so a filtered view is a shareable address), and one gateway (`/fleet/gateways/{id}`) with its devices,
their assignment, the devices it proposed, and its recent heartbeats.

Kit data, no health data: `roles.FLEET_READERS` read it (installers and administrators, and the nurses and the
response centre, who must know when a home's alarms cannot get through), through `cloud.fleet.status` like the
fleet API. Installers and administrators (`roles.KIT_MANAGERS`) also confirm proposed devices and assign
devices here (cloud/gateways/pairing.py: all or nothing, a supervision sensor only with everyone's consent); a
refusal shows the page again with the reason, and for a missing consent links to the resident's page where it
is recorded. Both pages refresh themselves with htmx (the fleet every 10 s, a gateway every 3 s).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cloud.access.policy import actor, staff_only
from cloud.access.principal import Principal
from cloud.access.roles import FLEET_READERS, KIT_MANAGERS
from cloud.fleet.status import FleetFilter, list_gateways
from cloud.gateways import pairing, reports
from cloud.registry import assignments, homes
from cloud.registry.consent import supervision_profiles
from cloud.registry.errors import RegistryError
from cloud.requests import Conn
from cloud.web.forms import Checked, read_form
from cloud.web.kits import notice
from cloud.web.navigation import PAGES_TAG, see_other
from cloud.web.templating import render
from common.i18n import N_

router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
Reader = Annotated[Principal, staff_only(*sorted(FLEET_READERS))]
KitManager = Annotated[Principal, staff_only(*sorted(KIT_MANAGERS), audited="kits.write")]
SCRIPT = {"live_script": "fleet.js"}
FILTERS = (("offline", N_("Offline")), ("low_battery", N_("Low battery")), ("garbage", N_("Sending garbage")))
NO_GATEWAY = N_("No such gateway in your municipality.")
# What a refused change means, by the registry's status; the registry's own words follow as the detail.
LEADS = {
    409: N_("Nothing was changed: this contradicts what is recorded."),
    404: N_("Nothing was changed: it is not in your municipality."),
    422: N_("Nothing was changed: choose the resident or the home again."),
}


@router.get("/fleet")
async def fleet_page(
    request: Request, conn: Conn, viewer: Reader, offline: bool = False, low_battery: bool = False,
    garbage: bool = False,
) -> Response:  # fmt: skip
    """Every gateway (a filter ticked: only those it matches) and every device of the listed gateways."""
    chosen = {"offline": offline, "low_battery": low_battery, "garbage": garbage}
    found = await list_gateways(
        conn, viewer.municipality_id,
        FleetFilter(offline=offline or None, low_battery=low_battery or None, garbage=garbage or None, limit=500),
    )  # fmt: skip
    addresses = {h.id: h.address for h in await homes.list_homes(conn, viewer.municipality_id, None, 1000, 0)}
    devices = [(gateway, device) for gateway in found for device in gateway.devices]
    context = {"gateways": found, "devices": devices, "addresses": addresses, "chosen": chosen, "filters": FILTERS,
               **SCRIPT}  # fmt: skip
    return render(request, "fleet.html", context)


async def _gateway(
    request: Request, conn: Conn, viewer: Principal, gateway_id: UUID, checked: Checked | None = None,
    status: int = 200,
) -> Response:  # fmt: skip
    found = await list_gateways(
        conn, viewer.municipality_id, FleetFilter(gateway_id=gateway_id, include_revoked=True, limit=1)
    )
    if not found:
        return notice(request, N_("Not found"), NO_GATEWAY, 404, back="/fleet")
    health = found[0]
    if request.headers.get("hx-request") == "true":  # the live refresh: the health alone
        return render(request, "_fleet_gateway_live.html", {"health": health}, status=status)
    manages = viewer.role in KIT_MANAGERS
    home = await homes.one(conn, viewer.municipality_id, health.home_id) if health.home_id else None
    devices = await assignments.inventory(conn, viewer.municipality_id, limit=500, offset=0, gateway_id=gateway_id)
    context: dict[str, Any] = {
        "health": health, "home": home, "manages": manages, "devices": devices,
        "names": {str(r["id"]): r["display_name"] for r in (home.residents if home else [])},
        "proposals": await reports.proposals_of(conn, gateway_id) if manages else [],
        "heartbeats": await reports.recent_heartbeats(conn, gateway_id),
        "supervision": supervision_profiles(), "checked": checked or Checked({}), **SCRIPT,
    }  # fmt: skip
    return render(request, "fleet_gateway.html", context, status=status)


@router.get("/fleet/gateways/{gateway_id}")
async def gateway_page(gateway_id: UUID, request: Request, conn: Conn, viewer: Reader) -> Response:
    """One gateway: health, devices, proposals (for kit managers) and recent heartbeats."""
    return await _gateway(request, conn, viewer, gateway_id)


def _target(checked: Checked) -> tuple[UUID | None, UUID | None]:
    """The form's `target`: `patient:<id>`, `home:<id>` or empty (join the kit, assigned later)."""
    kind, _, value = checked.values.get("target", "").partition(":")
    try:
        chosen = UUID(value) if value else None
    except ValueError:
        chosen = None
    return (chosen, None) if kind == "patient" else (None, chosen) if kind == "home" else (None, None)


async def _change(request: Request, conn: Conn, staff: Principal, gateway_id: UUID, form: str, run: Any) -> Response:
    """Run a pairing change from a form; the page again with the refusal (nothing written), else back."""
    checked = await read_form(request)
    patient_id, home_id = _target(checked)
    try:
        await run(patient_id, home_id)
    except pairing.ConsentMissingError as exc:
        checked.values["form"] = form
        checked.values["lacking"] = ",".join(str(p) for p in exc.people)
        checked.refuse(form, str(exc))
        return await _gateway(request, conn, staff, gateway_id, checked, exc.status)
    except RegistryError as exc:
        checked.values["form"] = form
        checked.values["detail"] = str(exc)
        checked.refuse(form, LEADS.get(exc.status, LEADS[422]))
        return await _gateway(request, conn, staff, gateway_id, checked, exc.status)
    return see_other(f"/fleet/gateways/{gateway_id}#devices")


@router.post("/fleet/gateways/{gateway_id}/proposals/{proposal_id}")
async def confirm_proposal(
    gateway_id: UUID, proposal_id: int, request: Request, conn: Conn, staff: KitManager
) -> Response:
    """Confirm a proposed device for the kit and assign it to the chosen resident or the home."""

    async def run(patient_id: UUID | None, home_id: UUID | None) -> None:
        await pairing.confirm(
            conn, municipality_id=staff.municipality_id, gateway_id=gateway_id, proposal_id=proposal_id,
            patient_id=patient_id, home_id=home_id, actor=actor(request, staff), by=staff.id,
        )  # fmt: skip

    return await _change(request, conn, staff, gateway_id, f"proposal-{proposal_id}", run)


@router.post("/fleet/gateways/{gateway_id}/devices/{device_id}/assign")
async def assign_device(gateway_id: UUID, device_id: UUID, request: Request, conn: Conn, staff: KitManager) -> Response:
    """Assign a device of the kit to the chosen resident or the home, from now on."""

    async def run(patient_id: UUID | None, home_id: UUID | None) -> None:
        await pairing.assign(
            conn, municipality_id=staff.municipality_id, device_id=device_id, patient_id=patient_id,
            home_id=home_id, actor=actor(request, staff), by=staff.id,
        )  # fmt: skip

    return await _change(request, conn, staff, gateway_id, f"device-{device_id}", run)
