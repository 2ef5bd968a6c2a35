"""Quarantined readings: what gateways sent that could not be stored, and why."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from cloud.access.policy import staff_only
from cloud.access.principal import Principal
from cloud.access.roles import Role
from cloud.ingest.validate import Reason
from cloud.requests import Conn

router = APIRouter(prefix="/api/v1/quarantine", tags=["quarantine"])
Viewer = Annotated[
    Principal,
    staff_only(Role.INSTALLER, Role.MUNICIPALITY_ADMIN, Role.TEAM_LEAD, Role.NURSE, audited="quarantine.read"),
]
_FILTER = (
    "q.gateway_id IN (SELECT id FROM gateways WHERE municipality_id = %(m)s) "
    "AND (%(gw)s::uuid IS NULL OR q.gateway_id = %(gw)s) AND (%(dev)s::text IS NULL OR q.device_ref = %(dev)s) "
    "AND (%(reason)s::text IS NULL OR q.reason = %(reason)s)"
)


class QuarantinedReading(BaseModel):
    """One reading as it arrived, with the reason it was not stored."""

    id: int
    gateway_id: UUID | None
    outbox_epoch: UUID | None
    seq: int | None
    device_ref: str | None
    reason: str
    detail: str
    payload: Any
    received_at: datetime | None
    stored_at: datetime


def _filter(
    gateway_id: UUID | None = None,
    device: Annotated[str | None, Query(max_length=200)] = None,
    reason: Reason | None = None,
) -> dict[str, Any]:
    """The query parameters both views of the quarantine are narrowed by, as the parameters of `_FILTER`
    (the caller's municipality is added by the route)."""
    return {"gw": gateway_id, "dev": device, "reason": reason}


Filter = Annotated[dict[str, Any], Depends(_filter)]


@router.get("")
async def list_quarantine(
    conn: Conn,
    viewer: Viewer,
    narrowed: Filter,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> list[QuarantinedReading]:
    """Newest first, within the caller's municipality."""
    params = {**narrowed, "m": viewer.municipality_id, "before": before_id, "limit": limit}
    rows = await (
        await conn.execute(
            "SELECT q.id, q.gateway_id, q.outbox_epoch, q.seq, q.device_ref, q.reason, q.detail, q.payload, "  # noqa: S608
            f"q.received_at, q.stored_at FROM quarantine q WHERE {_FILTER} "
            "AND (%(before)s::bigint IS NULL OR q.id < %(before)s) ORDER BY q.id DESC LIMIT %(limit)s",
            params,
        )
    ).fetchall()
    return [QuarantinedReading(**dict(zip(QuarantinedReading.model_fields, r, strict=True))) for r in rows]


@router.get("/counts")
async def count_quarantine(
    conn: Conn,
    viewer: Viewer,
    narrowed: Filter,
) -> list[dict[str, Any]]:
    """Counts by gateway, device and reason."""
    rows = await (
        await conn.execute(
            f"SELECT q.gateway_id, q.device_ref, q.reason, count(*) FROM quarantine q WHERE {_FILTER} "  # noqa: S608
            "GROUP BY 1, 2, 3 ORDER BY 4 DESC",
            {**narrowed, "m": viewer.municipality_id},
        )
    ).fetchall()
    return [{"gateway_id": str(r[0]), "device": r[1], "reason": r[2], "count": r[3]} for r in rows]
