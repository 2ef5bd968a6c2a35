"""Which detection protocols apply: the municipality's default, a care team's patients, one patient.

Administrators set them (audited); the names are checked against the shipped protocols and a refused change
writes nothing. Consent records due for review are listed here too, for the registry's follow-up list.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from alerts.protocols.load import protocol_names
from cloud.access.policy import PatientGrant, PatientScopeFilter, patient_access, patient_search, staff_only
from cloud.access.principal import Principal
from cloud.access.roles import Role
from cloud.api.registry import ERRORS
from cloud.registry import consent, protocols
from cloud.requests import Conn

router = APIRouter(prefix="/api/v1", tags=["registry"])
Admin = Annotated[Principal, staff_only(Role.MUNICIPALITY_ADMIN, audited="protocol.assign")]
Reader = Annotated[Principal, staff_only(Role.MUNICIPALITY_ADMIN, Role.TEAM_LEAD)]


class ProtocolsIn(BaseModel):
    """Protocols by name, in order (none: the next default applies)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"protocols": ["heart_failure"]}]})
    protocols: list[str] = Field(max_length=protocols.MAX_PROTOCOLS)


class MunicipalityProtocols(BaseModel):
    """The municipality's default protocols (empty: the built-in default) and the protocols there are."""

    default: list[str]
    available: list[str]


class TeamProtocols(BaseModel):
    """How many of the team's patients were given the protocols."""

    patients: int
    protocols: list[str]


@router.get("/protocols")
async def get_protocols(conn: Conn, reader: Reader) -> MunicipalityProtocols:
    """The municipality's default protocols and the shipped protocols to choose from."""
    default = await protocols.municipality_default(conn, reader.municipality_id)
    return MunicipalityProtocols(default=default, available=list(protocol_names()))


@router.put("/protocols", responses=ERRORS)
async def put_protocols(body: ProtocolsIn, conn: Conn, admin: Admin) -> MunicipalityProtocols:
    """Set the municipality's default protocols (for patients without their own)."""
    chosen = await protocols.set_municipality_default(conn, admin.municipality_id, body.protocols)
    return MunicipalityProtocols(default=chosen, available=list(protocol_names()))


@router.put("/teams/{team_id}/protocols", responses=ERRORS)
async def put_team_protocols(team_id: UUID, body: ProtocolsIn, conn: Conn, admin: Admin) -> TeamProtocols:
    """Give every patient of a care team still in the service these protocols."""
    count = await protocols.set_for_team(conn, admin.municipality_id, team_id, body.protocols)
    return TeamProtocols(patients=count, protocols=protocols.checked(body.protocols))


@router.put("/patients/{patient_id}/protocols", responses=ERRORS)
async def put_patient_protocols(
    patient_id: UUID, body: ProtocolsIn, conn: Conn,
    grant: Annotated[PatientGrant, patient_access("protocol.assign", Role.MUNICIPALITY_ADMIN)],
) -> ProtocolsIn:  # fmt: skip
    """Set the patient's own protocols (none: the municipality's default applies)."""
    chosen = await protocols.set_for_patient(conn, grant.principal.municipality_id, grant.patient_id, body.protocols)
    return ProtocolsIn(protocols=chosen)


# The registry's record itself, under a schema name of the API's own.
class ConsentDue(consent.DueRecord):
    """A consent or assessment in force whose review date is near."""


@router.get("/consents/due")
async def consents_due(
    conn: Conn, scope: Annotated[PatientScopeFilter, patient_search("consent.search")],
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> list[ConsentDue]:  # fmt: skip
    """Consent and assessment records of the caller's patients due for review within `days` (default 30)."""
    found = await consent.due_for_review(conn, scope.municipality_id, scope.team_ids, scope.hidden, days)
    return [ConsentDue.model_validate(r, from_attributes=True) for r in found]
