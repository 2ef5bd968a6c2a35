"""Patient records as the worklist and patient page see them (the registry issue adds the rest)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from cloud.access.policy import PatientGrant, PatientScopeFilter, patient_access, patient_search
from cloud.api.deps import Conn

router = APIRouter(prefix="/api/v1/patients", tags=["patients"])


class PatientSummary(BaseModel):
    """A patient as listed."""

    id: UUID
    display_name: str
    lifecycle: str
    care_team_id: UUID | None
    created_at: datetime


_COLUMNS = "id, display_name, lifecycle, care_team_id, created_at"


@router.get("")
async def list_patients(
    conn: Conn,
    scope: Annotated[PatientScopeFilter, patient_search("patient.search")],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[PatientSummary]:
    """Patients the caller may see: her care teams' (nurses) or the municipality's (admins, response centre)."""
    teams = list(scope.team_ids) if scope.team_ids is not None else None
    rows = await (
        await conn.execute(
            f"SELECT {_COLUMNS} FROM patients WHERE municipality_id = %s "  # noqa: S608 - fixed columns
            "AND (%s::uuid[] IS NULL OR care_team_id = ANY(%s::uuid[])) ORDER BY display_name, id LIMIT %s OFFSET %s",
            (scope.municipality_id, teams, teams, limit, offset),
        )
    ).fetchall()
    return [PatientSummary(**dict(zip(PatientSummary.model_fields, r, strict=True))) for r in rows]


@router.get("/{patient_id}")
async def get_patient(
    patient_id: UUID, conn: Conn, grant: Annotated[PatientGrant, patient_access("patient.read")]
) -> PatientSummary:
    """One patient."""
    row = await (
        await conn.execute(f"SELECT {_COLUMNS} FROM patients WHERE id = %s", (grant.patient_id,))  # noqa: S608
    ).fetchone()
    if row is None:
        raise HTTPException(404, "No such patient.")
    return PatientSummary(**dict(zip(PatientSummary.model_fields, row, strict=True)))
