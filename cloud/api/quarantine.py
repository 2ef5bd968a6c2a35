"""Quarantined readings: what gateways sent that could not be stored, and why.

The readings themselves may hold health values: staff with patient data read them (audited). Installers, who
never see health data (cloud/access/roles.py), read the counts by gateway, device and reason only."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from cloud.access.policy import staff_only
from cloud.access.principal import Principal
from cloud.access.roles import Role
from cloud.ingest import quarantine_view
from cloud.ingest.quarantine_view import Narrowing, QuarantineCount, QuarantinedReading
from cloud.ingest.validate import Reason
from cloud.requests import Conn

router = APIRouter(prefix="/api/v1/quarantine", tags=["quarantine"])
Viewer = Annotated[
    Principal, staff_only(Role.MUNICIPALITY_ADMIN, Role.TEAM_LEAD, Role.NURSE, audited="quarantine.read")
]
Counter = Annotated[
    Principal,
    staff_only(Role.INSTALLER, Role.MUNICIPALITY_ADMIN, Role.TEAM_LEAD, Role.NURSE, audited="quarantine.count"),
]


def _narrowing(
    viewer: Viewer,
    gateway_id: UUID | None = None,
    device: Annotated[str | None, Query(max_length=200)] = None,
    reason: Reason | None = None,
) -> Narrowing:
    """The query parameters both views of the quarantine are narrowed by, within the caller's municipality."""
    return Narrowing(viewer.municipality_id, gateway_id, device, reason)


def _counting(
    viewer: Counter,
    gateway_id: UUID | None = None,
    device: Annotated[str | None, Query(max_length=200)] = None,
    reason: Reason | None = None,
) -> Narrowing:
    """The same narrowing for the counts, which installers may read too."""
    return Narrowing(viewer.municipality_id, gateway_id, device, reason)


Narrowed = Annotated[Narrowing, Depends(_narrowing)]
Counted = Annotated[Narrowing, Depends(_counting)]


@router.get("")
async def list_quarantine(
    conn: Conn,
    narrowed: Narrowed,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> list[QuarantinedReading]:
    """Newest first, within the caller's municipality."""
    return await quarantine_view.newest(conn, narrowed, limit=limit, before_id=before_id)


@router.get("/counts")
async def count_quarantine(conn: Conn, narrowed: Counted) -> list[QuarantineCount]:
    """Counts by gateway, device and reason."""
    return await quarantine_view.counts(conn, narrowed)
