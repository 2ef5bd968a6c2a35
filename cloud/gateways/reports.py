"""What a gateway tells the cloud and asks of it: its heartbeat (stored with the clock skew), its
configuration (the devices registered to it and the heartbeat interval), and the devices it proposes.

The only writer of `gateway_status` and `device_proposals`, and of a gateway's recorded clock skew. The
heartbeat's device list also tells when each device was last heard (cloud/gateways/last_seen.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from cloud.gateways import last_seen
from cloud.gateways.heartbeat import expected_interval_s


class ServedDevice(TypedDict):
    """A device the gateway is to listen to."""

    address: str
    profile_id: str


class GatewayConfig(TypedDict):
    """The document a gateway fetches: listen to `devices`, send a heartbeat every `heartbeat_interval_s`."""

    devices: list[ServedDevice]
    heartbeat_interval_s: int


async def record_heartbeat(
    conn: AsyncConnection[Any], gateway_id: UUID, *, now: datetime, gateway_clock: datetime, report: dict[str, Any]
) -> float:
    """Store the newest heartbeat and the gateway's clock skew (gateway clock minus ours, seconds), and when the
    gateway last heard each device it lists; returns the skew."""
    skew = (gateway_clock - now).total_seconds()
    listed = [
        (str(item["address"]), datetime.fromisoformat(item["last_seen"]))
        for item in report.get("devices") or ()
        if item.get("address") and item.get("last_seen")
    ]
    # A time without a zone cannot be placed: that device's entry says nothing about when it was heard.
    heard = last_seen.newest((address, at) for address, at in listed if at.utcoffset() is not None)
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO gateway_status (gateway_id, reported_at, gateway_clock, clock_skew_s, report) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (gateway_id) DO UPDATE SET reported_at = EXCLUDED.reported_at, "
            "gateway_clock = EXCLUDED.gateway_clock, clock_skew_s = EXCLUDED.clock_skew_s, report = EXCLUDED.report",
            (gateway_id, now, gateway_clock, skew, Jsonb(report)),
        )
        await conn.execute("UPDATE gateways SET clock_skew_s = %s WHERE id = %s", (skew, gateway_id))
        await last_seen.record(conn, gateway_id, heard, skew)
    return skew


async def config_of(conn: AsyncConnection[Any], gateway_id: UUID) -> GatewayConfig:
    """The devices registered to the gateway now, by address, and its heartbeat interval."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT d.address, d.profile_id FROM device_registrations r JOIN devices d ON d.id = r.device_id "
            "WHERE r.gateway_id = %s AND r.valid @> now() ORDER BY d.address",
            (gateway_id,),
        )
        devices = [ServedDevice(address=r["address"], profile_id=r["profile_id"]) for r in await cur.fetchall()]
        await cur.execute("SELECT heartbeat_interval_s FROM gateways WHERE id = %s", (gateway_id,))
        found = await cur.fetchone()
    configured = found["heartbeat_interval_s"] if found else None
    interval = expected_interval_s(configured, (d["profile_id"] for d in devices))
    return GatewayConfig(devices=devices, heartbeat_interval_s=interval)


async def propose_device(
    conn: AsyncConnection[Any], gateway_id: UUID, *, address: str, profile_id: str, details: dict[str, Any]
) -> int:
    """Record (or refresh) the gateway's proposal of a device it discovered; returns the proposal's id."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "INSERT INTO device_proposals (gateway_id, address, profile_id, details) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (gateway_id, address) DO UPDATE SET profile_id = EXCLUDED.profile_id, "
            "details = EXCLUDED.details, proposed_at = now() RETURNING id",
            (gateway_id, address, profile_id, Jsonb(details)),
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row["id"])
