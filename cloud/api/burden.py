"""The alarm-burden report over a period (cloud/escalation/burden.py), for municipality administrators and
team leads (a team lead sees their own teams). It names patients by id, so each read is audited like a
patient search."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query

from cloud.access.policy import PatientScopeFilter, patient_search
from cloud.access.roles import Role
from cloud.escalation.burden import burden
from cloud.requests import Conn

router = APIRouter(prefix="/api/v1", tags=["alerts"])
Scope = Annotated[PatientScopeFilter, patient_search("alerts.burden", Role.MUNICIPALITY_ADMIN, Role.TEAM_LEAD)]
MAX_DAYS = 366


@router.get("/alert-burden", responses={422: {}})
async def get_burden(
    conn: Conn, scope: Scope, start: Annotated[datetime, Query(alias="from", examples=["2026-11-01T00:00:00+01:00"])],
    end: Annotated[datetime, Query(alias="to", examples=["2026-12-01T00:00:00+01:00"])], team: UUID | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Alerts and episodes per day, share acted on, times to acknowledge and resolve, by team, rule, protocol."""
    if start.tzinfo is None or end.tzinfo is None:
        raise HTTPException(422, "from and to need a time zone (for example 2026-12-01T00:00:00+01:00)")
    if not start < end or (end - start).days > MAX_DAYS:
        raise HTTPException(422, f"from must be before to, at most {MAX_DAYS} days apart")
    teams = scope.team_ids
    if team is not None:
        if teams is not None and team not in teams:
            raise HTTPException(403, "not one of your teams")
        teams = frozenset({team})
    return await burden(conn, scope.municipality_id, start, end, teams, scope.hidden)
