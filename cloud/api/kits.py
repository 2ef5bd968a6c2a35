"""Kits in homes, for installers and municipality administrators (`roles.KIT_MANAGERS`): homes with their
addresses and residents' names (never health data), enrolment codes and the installer's confirmation of the
home on site, a gateway's proposed devices confirmed and assigned, and a device of the kit assigned later.

Every route is audited by its policy; each change is audited again by the service that makes it. A refused
change answers with the registry's 4xx (`registry.refused`) and writes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cloud.access.policy import actor, staff_only
from cloud.access.principal import Principal
from cloud.access.roles import KIT_MANAGERS
from cloud.gateways import enrolment, pairing, reports
from cloud.gateways.credentials import EnrolmentThrottled
from cloud.gateways.enrolment import Enrolment
from cloud.registry import homes
from cloud.requests import Conn

router = APIRouter(prefix="/api/v1", tags=["kits"])
ERRORS: dict[int | str, dict[str, Any]] = {404: {}, 409: {}, 422: {}}
# Reads leave no record (addresses and names, no health data); changes do, here and in the services.
KitReader = Annotated[Principal, staff_only(*sorted(KIT_MANAGERS))]
KitManager = Annotated[Principal, staff_only(*sorted(KIT_MANAGERS), audited="kits.write")]
EnrolmentId = Annotated[int, Path(ge=1, le=2**62)]


def enrolment_url(request: Request, code: str) -> str:
    """The enrolment page for `code` on this service (`public_url`)."""
    return enrolment.enrolment_url(request.app.state.settings.public_url, code)


class KitResident(BaseModel):
    """A resident by name: whom a device can be assigned to."""

    id: UUID
    display_name: str


class KitHome(BaseModel):
    """A home where a kit goes: address and residents' names."""

    id: UUID
    address: str
    residents: list[KitResident]


async def kit_homes(conn: Conn, municipality_id: UUID, limit: int = 200, offset: int = 0) -> list[KitHome]:
    """The municipality's homes by address, residents by name only."""
    found = await homes.list_homes(conn, municipality_id, None, limit, offset)
    return [KitHome(id=h.id, address=h.address, residents=[KitResident(**r) for r in h.residents]) for h in found]


@router.get("/kits/homes")
async def list_kit_homes(
    conn: Conn,
    staff: KitReader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[KitHome]:
    """Homes of the caller's municipality with their residents' names."""
    return await kit_homes(conn, staff.municipality_id, limit, offset)


class IssuedCode(BaseModel):
    """A new enrolment code, shown this once; it works for a gateway after an installer confirmed the home at
    `enrolment_url`."""

    enrolment: Enrolment
    code: str
    expires_at: datetime
    enrolment_url: str


@router.post("/homes/{home_id}/enrolment-codes", status_code=201, responses=ERRORS)
async def create_enrolment_code(home_id: UUID, request: Request, conn: Conn, staff: KitManager) -> IssuedCode:
    """A single-use enrolment code (24 h) for a kit in the home, waiting for the installer's confirmation."""
    found, code = await enrolment.issue(
        conn, municipality_id=staff.municipality_id, home_id=home_id, actor=actor(request, staff), by=staff.id
    )
    return IssuedCode(
        enrolment=found, code=code, expires_at=found.expires_at, enrolment_url=enrolment_url(request, code)
    )


class CodeIn(BaseModel):
    """A code as typed or scanned."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=4, max_length=40)


@router.post("/enrolments/lookup", responses={**ERRORS, 429: {}})
async def look_up_enrolment(body: CodeIn, request: Request, conn: Conn, staff: KitManager) -> Enrolment:
    """The enrolment of a code: the home it is for and where it stands (another municipality's: 404, audited;
    too many wrong codes: 429)."""
    try:
        return await enrolment.by_code(
            conn, body.code, municipality_id=staff.municipality_id, actor=actor(request, staff)
        )
    except EnrolmentThrottled:
        raise HTTPException(429, "Too many wrong codes; wait 15 minutes.") from None


@router.get("/enrolments/{enrolment_id}", responses=ERRORS)
async def get_enrolment(enrolment_id: EnrolmentId, request: Request, conn: Conn, staff: KitReader) -> Enrolment:
    """One enrolment of the caller's municipality."""
    return await enrolment.get(conn, enrolment_id, municipality_id=staff.municipality_id, actor=actor(request, staff))


@router.post("/enrolments/{enrolment_id}/confirm", responses=ERRORS)
async def confirm_enrolment(enrolment_id: EnrolmentId, request: Request, conn: Conn, staff: KitManager) -> Enrolment:
    """ "This is the home I am in": the code becomes usable by the gateway."""
    return await enrolment.decide(conn, enrolment_id, confirm=True, municipality_id=staff.municipality_id,
                                  actor=actor(request, staff), by=staff.id)  # fmt: skip


@router.post("/enrolments/{enrolment_id}/reject", responses=ERRORS)
async def reject_enrolment(enrolment_id: EnrolmentId, request: Request, conn: Conn, staff: KitManager) -> Enrolment:
    """Not this home: the code is revoked for good."""
    return await enrolment.decide(conn, enrolment_id, confirm=False, municipality_id=staff.municipality_id,
                                  actor=actor(request, staff), by=staff.id)  # fmt: skip


class TargetIn(BaseModel):
    """Whom the device measures: one resident, or the home (a shared sensor), or neither (join the kit only)."""

    model_config = ConfigDict(extra="forbid")

    patient_id: UUID | None = None
    home_id: UUID | None = None


@router.get("/kits/gateways/{gateway_id}/proposals", responses=ERRORS)
async def list_proposals(gateway_id: UUID, conn: Conn, staff: KitReader) -> list[reports.Proposal]:
    """The devices the gateway proposed, waiting ones first."""
    await pairing.gateway_of(conn, gateway_id, staff.municipality_id)
    return await reports.proposals_of(conn, gateway_id)


@router.post("/kits/gateways/{gateway_id}/proposals/{proposal_id}/confirm", status_code=201, responses=ERRORS)
async def confirm_proposal(
    gateway_id: UUID, proposal_id: Annotated[int, Path(ge=1, le=2**62)], body: TargetIn, request: Request,
    conn: Conn, staff: KitManager,
) -> dict[str, UUID]:  # fmt: skip
    """Confirm a proposed device and assign it (a supervision sensor needs everyone's consent: 409)."""
    device = await pairing.confirm(
        conn, municipality_id=staff.municipality_id, gateway_id=gateway_id, proposal_id=proposal_id,
        patient_id=body.patient_id, home_id=body.home_id, actor=actor(request, staff), by=staff.id,
    )  # fmt: skip
    return {"device_id": device}


@router.post("/kits/devices/{device_id}/activate", status_code=201, responses=ERRORS)
async def activate_device(
    device_id: UUID, body: TargetIn, request: Request, conn: Conn, staff: KitManager
) -> dict[str, int]:
    """Assign a device from now on, checking a supervision sensor's consent for everyone concerned first."""
    period = await pairing.assign(
        conn, municipality_id=staff.municipality_id, device_id=device_id, patient_id=body.patient_id,
        home_id=body.home_id, actor=actor(request, staff), by=staff.id,
    )  # fmt: skip
    return {"id": period}
