"""The registry API: the caller's municipality, homes, devices and their assignment and registration periods.

Patients, their contacts, lifecycle and consents are in `cloud/api/patients.py`. Every write is audited by
its policy; a refused change answers with the registry's precise 4xx and writes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cloud.access import directory
from cloud.access.policy import PatientScopeFilter, patient_search, staff_only
from cloud.access.principal import Principal
from cloud.access.roles import KIT_MANAGERS, Role
from cloud.registry import assignments, homes
from cloud.registry.consent import supervision_profiles
from cloud.registry.errors import RegistryError
from cloud.requests import Conn, Paged

router = APIRouter(prefix="/api/v1", tags=["registry"])
ERRORS: dict[int | str, dict[str, Any]] = {404: {}, 409: {}, 422: {}}
Staff = Annotated[Principal, staff_only()]
Admin = Annotated[Principal, staff_only(Role.MUNICIPALITY_ADMIN, audited="registry.write")]
Kit = Annotated[Principal, staff_only(*sorted(KIT_MANAGERS), audited="registry.devices")]
# Homes are where kits go: the installer creates them and corrects their address on site (roles.KIT_MANAGERS).
HomeWriter = Annotated[Principal, staff_only(*sorted(KIT_MANAGERS), audited="registry.write")]


async def refused(request: Request, exc: Exception) -> JSONResponse:
    """The answer to a change the registry refused, whichever route asked: its status and message. The
    exception has left the route's transaction, so nothing of the change was written."""
    status = exc.status if isinstance(exc, RegistryError) else 422
    return JSONResponse({"detail": str(exc)}, status_code=status)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MunicipalityOut(BaseModel):
    """The caller's municipality, with its name in the official list."""

    kommunenummer: str
    name: str
    official_name: str | None
    orgnr: str | None


class MunicipalityChange(_Body):
    """Name or organisation number (validated: 9 digits, mod-11)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    orgnr: str | None = Field(default=None, min_length=9, max_length=11)


@router.get("/municipality")
async def my_municipality(conn: Conn, staff: Staff) -> MunicipalityOut:
    """The municipality the caller works for."""
    return _municipality_out(await directory.municipality(conn, staff.municipality_id))


@router.patch("/municipality", responses=ERRORS)
async def change_municipality(body: MunicipalityChange, conn: Conn, admin: Admin) -> MunicipalityOut:
    """Set the municipality's display name or organisation number."""
    try:
        changed = await directory.change_municipality(conn, admin.municipality_id, name=body.name, orgnr=body.orgnr)
    except directory.DirectoryError as exc:
        raise HTTPException(422, str(exc)) from None
    return _municipality_out(changed)


def _municipality_out(found: directory.Municipality) -> MunicipalityOut:
    return MunicipalityOut(
        kommunenummer=found.kommunenummer, name=found.name, official_name=found.official_name, orgnr=found.orgnr
    )


class HomeIn(_Body):
    """A home: address, how to get in (key box, electronic lock) and the home's phone."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"address": "Storgata 1, 0155 Oslo", "access_notes": "Nøkkelboks, kode hos "
                                         "hjemmesykepleien", "phone": "+47 22 00 00 00"}]},
    )  # fmt: skip

    address: str = Field(min_length=1, max_length=300)
    access_notes: str = Field(default="", max_length=2000)
    phone: str | None = Field(default=None, min_length=3, max_length=40)


class HomeChange(_Body):
    """Fields to change."""

    address: str | None = Field(default=None, min_length=1, max_length=300)
    access_notes: str | None = Field(default=None, max_length=2000)
    phone: str | None = Field(default=None, min_length=3, max_length=40)


class Resident(BaseModel):
    """A person living in a home."""

    id: UUID
    display_name: str
    lifecycle: str


class HomeOut(BaseModel):
    """A home with its residents."""

    id: UUID
    address: str
    access_notes: str
    phone: str | None
    residents: list[Resident]


@router.get("/homes")
async def list_homes(
    conn: Conn,
    scope: Annotated[PatientScopeFilter, patient_search("home.search")],
    page: Paged,
) -> list[HomeOut]:
    """Homes of the caller's patients (the whole municipality for administrators and the response centre)."""
    teams = sorted(scope.team_ids) if scope.team_ids is not None else None
    found = await homes.list_homes(conn, scope.municipality_id, teams, page.limit, page.offset, scope.hidden)
    return [HomeOut(**vars(home)) for home in found]


@router.post("/homes", status_code=201)
async def create_home(body: HomeIn, conn: Conn, admin: HomeWriter) -> dict[str, UUID]:
    """Add a home."""
    return {"id": await homes.create(conn, municipality_id=admin.municipality_id, **body.model_dump())}


@router.patch("/homes/{home_id}", status_code=204, responses=ERRORS)
async def change_home(home_id: UUID, body: HomeChange, conn: Conn, admin: HomeWriter) -> None:
    """Change a home's address, access notes or phone."""
    await homes.update(
        conn, municipality_id=admin.municipality_id, home_id=home_id, changes=body.model_dump(exclude_unset=True)
    )


class DeviceIn(_Body):
    """A device from the catalogue, by its address (BLE MAC or MQTT name) and optional serial number."""

    profile_id: str = Field(min_length=1, max_length=200)
    address: str = Field(min_length=1, max_length=200)
    serial: str | None = Field(default=None, min_length=1, max_length=200)


class DeviceOut(BaseModel):
    """A device with what it is assigned and registered to now."""

    id: UUID
    profile_id: str
    address: str
    serial: str | None
    supervision_sensor: bool
    patient_id: UUID | None
    home_id: UUID | None
    gateway_id: UUID | None


@router.get("/devices")
async def list_devices(
    conn: Conn,
    staff: Kit,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[DeviceOut]:
    """The municipality's devices."""
    supervision = supervision_profiles()
    found = await assignments.inventory(conn, staff.municipality_id, limit=limit, offset=offset)
    return [DeviceOut(**r, supervision_sensor=r["profile_id"] in supervision) for r in found]


@router.post("/devices", status_code=201, responses=ERRORS)
async def create_device(body: DeviceIn, conn: Conn, staff: Kit) -> dict[str, UUID]:
    """Add a device to the municipality's inventory."""
    return {"id": await assignments.add_device(conn, municipality_id=staff.municipality_id, **body.model_dump())}


# The registry's period itself, under the schema name the published OpenAPI document has always given it.
class PeriodOut(assignments.Period):
    """One half-open validity period `[valid_from, valid_to)`; `valid_to` null: open."""


def _period(period: assignments.Period) -> PeriodOut:
    return PeriodOut.model_validate(period, from_attributes=True)


class DeviceHistory(BaseModel):
    """Whom the device measured and which gateway it talked to, over time."""

    assignments: list[PeriodOut]
    registrations: list[PeriodOut]


@router.get("/devices/{device_id}/history", responses=ERRORS)
async def device_history(device_id: UUID, conn: Conn, staff: Kit) -> DeviceHistory:
    """Assignment and registration periods, oldest first."""
    assigned, registered = await assignments.history(conn, staff.municipality_id, device_id)
    return DeviceHistory(assignments=[_period(p) for p in assigned], registrations=[_period(p) for p in registered])


class AssignmentIn(_Body):
    """Assign to exactly one of a patient or a home (a shared sensor), from `valid_from` (default now) to
    `valid_to` (default open)."""

    patient_id: UUID | None = None
    home_id: UUID | None = None
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None


class RegistrationIn(_Body):
    """Register to a gateway of the municipality for `[valid_from, valid_to)`."""

    gateway_id: UUID
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None


class EndIn(_Body):
    """When the period ends (exclusive)."""

    at: AwareDatetime


@router.post("/devices/{device_id}/assignments", status_code=201, responses=ERRORS)
async def assign_device(device_id: UUID, body: AssignmentIn, conn: Conn, admin: Kit) -> dict[str, int]:
    """Assign the device for a period; an overlap with another period of the device is a 409."""
    period = await assignments.assign(
        conn, municipality_id=admin.municipality_id, device_id=device_id, by=admin.id, **body.model_dump()
    )
    return {"id": period}


@router.post("/devices/{device_id}/assignments/{assignment_id}/end", status_code=204, responses=ERRORS)
async def end_assignment(
    device_id: UUID, assignment_id: Annotated[int, Path(ge=1, le=2**62)], body: EndIn, conn: Conn, admin: Kit
) -> None:
    """End an assignment at `at` (a period can only be shortened)."""
    await assignments.end_period(
        conn, "device_assignments", municipality_id=admin.municipality_id, device_id=device_id,
        period_id=assignment_id, at=body.at,
    )  # fmt: skip


@router.post("/devices/{device_id}/registrations", status_code=201, responses=ERRORS)
async def register_device(device_id: UUID, body: RegistrationIn, conn: Conn, staff: Kit) -> dict[str, int]:
    """Register the device to a gateway for a period (a kit swap: end the old period, register the new)."""
    period = await assignments.register(
        conn, municipality_id=staff.municipality_id, device_id=device_id, **body.model_dump()
    )
    return {"id": period}


@router.post("/devices/{device_id}/registrations/{registration_id}/end", status_code=204, responses=ERRORS)
async def end_registration(
    device_id: UUID, registration_id: Annotated[int, Path(ge=1, le=2**62)], body: EndIn, conn: Conn, staff: Kit
) -> None:
    """End a gateway registration at `at`."""
    await assignments.end_period(
        conn, "device_registrations", municipality_id=staff.municipality_id, device_id=device_id,
        period_id=registration_id, at=body.at,
    )  # fmt: skip
