"""The fleet view per municipality: every gateway and device with liveness, battery, outbox, clock,
quarantine and watchdog figures, filtered by what needs a visit. Kit data, no patient data: staff who
manage or rely on kits may read it, within their own municipality only."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from cloud.access.policy import staff_only
from cloud.access.principal import Principal
from cloud.access.roles import FLEET_READERS
from cloud.fleet.status import FleetFilter, GatewayHealth, list_gateways
from cloud.gateways.reports import Heartbeat, recent_heartbeats
from cloud.requests import Conn

router = APIRouter(prefix="/api/v1/fleet", tags=["fleet"])
Reader = Annotated[Principal, staff_only(*sorted(FLEET_READERS))]


class FleetPage(BaseModel):
    """Gateways ordered by id; pass `next_after` back as `after` for the next page (null: last page)."""

    items: list[GatewayHealth]
    next_after: UUID | None


@router.get("/gateways")
async def fleet(
    conn: Conn,
    viewer: Reader,
    offline: Annotated[bool | None, Query(description="Only gateways (not) offline.")] = None,
    low_battery: Annotated[bool | None, Query(description="Only gateways with (no) device low on battery.")] = None,
    garbage: Annotated[bool | None, Query(description="Only gateways (not) sending garbage.")] = None,
    quarantine_quota_exceeded: Annotated[
        bool | None, Query(description="Only gateways (not) over their hourly quarantine quota in the window.")
    ] = None,
    missed_heartbeats: Annotated[int, Query(ge=1, le=100, description="Offline after this many intervals.")] = 3,
    battery_below: Annotated[float, Query(ge=0, le=100, description="Low battery below this %.")] = 20.0,
    garbage_per_hour: Annotated[float, Query(ge=0, le=1e6, description="Garbage above this rate.")] = 10.0,
    window_hours: Annotated[int, Query(ge=1, le=24 * 31, description="Quarantine counting window.")] = 24,
    include_revoked: bool = False,
    after: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> FleetPage:
    """Gateways of the caller's municipality; filters combine (all must hold)."""
    found = await list_gateways(
        conn,
        viewer.municipality_id,
        FleetFilter(
            offline=offline, low_battery=low_battery, garbage=garbage,
            quarantine_quota_exceeded=quarantine_quota_exceeded, missed_heartbeats=missed_heartbeats,
            battery_below=battery_below, garbage_per_hour=garbage_per_hour, window_hours=window_hours,
            include_revoked=include_revoked, after=after, limit=limit + 1,
        ),
    )  # fmt: skip
    more = len(found) > limit
    found = found[:limit]
    return FleetPage(items=found, next_after=found[-1].gateway_id if more else None)


@router.get("/gateways/{gateway_id}", responses={404: {"description": "No such gateway."}})
async def fleet_gateway(
    gateway_id: UUID,
    conn: Conn,
    viewer: Reader,
    missed_heartbeats: Annotated[int, Query(ge=1, le=100)] = 3,
    window_hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24,
) -> GatewayHealth:
    """One gateway of the caller's municipality (another municipality's answers like one that does not
    exist)."""
    found = await list_gateways(
        conn,
        viewer.municipality_id,
        FleetFilter(gateway_id=gateway_id, include_revoked=True, missed_heartbeats=missed_heartbeats,
                    window_hours=window_hours, limit=1),
    )  # fmt: skip
    if not found:
        raise HTTPException(404, "No such gateway.")
    return found[0]


@router.get("/gateways/{gateway_id}/heartbeats", responses={404: {"description": "No such gateway."}})
async def fleet_heartbeats(
    gateway_id: UUID, conn: Conn, viewer: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 20
) -> list[Heartbeat]:
    """The gateway's heartbeats of the last day, newest first (another municipality's gateway: 404)."""
    await fleet_gateway(gateway_id, conn, viewer)
    return await recent_heartbeats(conn, gateway_id, limit)
