"""What a gateway tells the cloud and asks of it: its heartbeat (stored with the clock skew), its
configuration (the devices registered to it and the heartbeat interval), and the devices it proposes.

The only writer of `gateway_status`, `gateway_heartbeats` (the last day's heartbeats, for the gateway's page)
and `device_proposals`, and of a gateway's recorded clock skew. The heartbeat's device list also tells when each
device was last heard (cloud/gateways/last_seen.py) and how each device is (cloud/gateways/device_health.py).

The heartbeat (`StatusReport`) is checked strictly: a gateway figure out of range, a list that is not one or
too long refuses the heartbeat (422, nothing stored). A device's figure is checked on its own: a bad one is
left out and named in `refused`, and the rest of the heartbeat is stored, so a sensor's odd battery value
does not make its gateway look offline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row
from psycopg.types.json import Jsonb
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from cloud.gateways import device_health, last_seen
from cloud.gateways.device_health import DeviceReport, Refusal
from cloud.gateways.heartbeat import expected_interval_s

_EXAMPLE: dict[str, Any] = {
    "software_version": "0.9.0", "uptime_s": 86400.0, "gateway_clock": "2026-12-04T08:00:00+00:00",
    "outbox_depth": 0, "outbox_evictions": 0, "watchdog_restarts": 0, "malformed_from_sources": 2,
    "local_alarms_raised": 2, "local_alarm_failures": 1,
    "quarantined_locally": 0, "quarantined_locally_oldest_s": None,
    "devices": [{"address": "hall-door", "last_reading_at": "2026-12-04T07:58:00+00:00",
                 "battery_pct": 18.0, "battery_at": "2026-12-04T03:10:00+00:00", "rssi_dbm": None,
                 "link_quality": 87, "signal_at": "2026-12-04T07:58:00+00:00", "decode_errors": 2,
                 "connection_errors": 0}],
}  # fmt: skip


class StatusReport(BaseModel):
    """A heartbeat: the gateway's liveness, outbox and clock, and its devices' health."""

    model_config = ConfigDict(allow_inf_nan=False, json_schema_extra={"examples": [_EXAMPLE]})

    software_version: str = Field(max_length=100)
    uptime_s: float = Field(ge=0, le=10 * 365 * 86400)
    gateway_clock: AwareDatetime
    outbox_depth: int = Field(ge=0, le=10**12)
    outbox_evictions: int = Field(default=0, ge=0, le=10**12)
    watchdog_restarts: int = Field(default=0, ge=0, le=10**9)
    malformed_from_sources: int = Field(default=0, ge=0, le=10**12)
    # Degraded mode (edge/local_alarm.py): local attempts to raise an alarm the uplink could not deliver, by
    # outcome, since the gateway's outbox was created; None from software that does not count them.
    local_alarms_raised: int | None = Field(default=None, ge=0, le=10**9)
    local_alarm_failures: int | None = Field(default=None, ge=0, le=10**9)
    quarantined_locally: int = Field(default=0, ge=0, le=10**12)  # readings this cloud refused, kept on the gateway
    quarantined_locally_oldest_s: float | None = Field(default=None, ge=0, le=10**12)
    devices: list[DeviceReport] = Field(default_factory=list, max_length=device_health.MAX_DEVICES)
    # Filled by the check below, never by the gateway: the device figures left out, and why.
    refused: SkipJsonSchema[list[Refusal]] = Field(default_factory=list, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _devices_one_by_one(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        devices, refused = device_health.check_devices(data.get("devices", []))
        return {**data, "devices": devices, "refused": refused}


class ServedDevice(TypedDict):
    """A device the gateway is to listen to."""

    address: str
    profile_id: str


class GatewayConfig(TypedDict):
    """The document a gateway fetches: listen to `devices`, send a heartbeat every `heartbeat_interval_s`."""

    devices: list[ServedDevice]
    heartbeat_interval_s: int


async def record_heartbeat(conn: AsyncConnection[Any], gateway_id: UUID, *, now: datetime,
                           heartbeat: StatusReport) -> float:  # fmt: skip
    """Store the newest heartbeat and the gateway's clock skew (gateway clock minus ours, seconds), when the
    gateway last heard each device it lists and each device's health; returns the skew."""
    skew = (heartbeat.gateway_clock - now).total_seconds()
    report = heartbeat.model_dump(mode="json")
    heard = last_seen.newest((d.address, d.reading_at()) for d in heartbeat.devices)
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO gateway_status (gateway_id, reported_at, gateway_clock, clock_skew_s, report) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (gateway_id) DO UPDATE SET reported_at = EXCLUDED.reported_at, "
            "gateway_clock = EXCLUDED.gateway_clock, clock_skew_s = EXCLUDED.clock_skew_s, report = EXCLUDED.report",
            (gateway_id, now, heartbeat.gateway_clock, skew, Jsonb(report)),
        )
        await conn.execute("UPDATE gateways SET clock_skew_s = %s WHERE id = %s", (skew, gateway_id))
        await conn.execute(
            "INSERT INTO gateway_heartbeats (gateway_id, reported_at, clock_skew_s, report) VALUES (%s, %s, %s, %s)",
            (gateway_id, now, skew, Jsonb(report)),
        )
        await conn.execute(
            "DELETE FROM gateway_heartbeats WHERE gateway_id = %s AND reported_at < %s - interval '24 hours'",
            (gateway_id, now),
        )
        await last_seen.record(conn, gateway_id, heard, skew)
        await device_health.record(conn, gateway_id, heartbeat.devices, skew)
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


class Heartbeat(BaseModel):
    """One heartbeat as received: when, the clock skew, and the figures the gateway reported."""

    reported_at: datetime
    clock_skew_s: float
    software_version: str | None
    uptime_s: float | None
    outbox_depth: int | None
    outbox_evictions: int | None
    watchdog_restarts: int | None
    devices: int


async def recent_heartbeats(conn: AsyncConnection[Any], gateway_id: UUID, limit: int = 20) -> list[Heartbeat]:
    """The gateway's newest heartbeats of the last day, newest first."""
    cur = conn.cursor(row_factory=class_row(Heartbeat))
    await cur.execute(
        "SELECT reported_at, clock_skew_s, report->>'software_version' AS software_version, "
        "(report->>'uptime_s')::float8 AS uptime_s, (report->>'outbox_depth')::bigint AS outbox_depth, "
        "(report->>'outbox_evictions')::bigint AS outbox_evictions, "
        "(report->>'watchdog_restarts')::bigint AS watchdog_restarts, "
        "jsonb_array_length(coalesce(report->'devices', '[]'::jsonb)) AS devices "
        "FROM gateway_heartbeats WHERE gateway_id = %s ORDER BY reported_at DESC LIMIT %s",
        (gateway_id, limit),
    )
    return await cur.fetchall()


class Proposal(BaseModel):
    """A device the gateway proposed, and whether an installer confirmed it (and as which device)."""

    id: int
    address: str
    profile_id: str
    proposed_at: datetime
    confirmed_at: datetime | None
    device_id: UUID | None


async def proposals_of(conn: AsyncConnection[Any], gateway_id: UUID) -> list[Proposal]:
    """The gateway's proposals, those waiting first, then by address."""
    cur = conn.cursor(row_factory=class_row(Proposal))
    await cur.execute(
        "SELECT id, address, profile_id, proposed_at, confirmed_at, device_id FROM device_proposals "
        "WHERE gateway_id = %s ORDER BY confirmed_at IS NOT NULL, address",
        (gateway_id,),
    )
    return await cur.fetchall()


async def mark_confirmed(conn: AsyncConnection[Any], gateway_id: UUID, proposal_id: int, device_id: UUID) -> bool:
    """Record that an installer confirmed the proposal as `device_id`; False when it was not waiting."""
    cur = await conn.execute(
        "UPDATE device_proposals SET confirmed_at = now(), device_id = %s "
        "WHERE id = %s AND gateway_id = %s AND confirmed_at IS NULL",
        (device_id, proposal_id, gateway_id),
    )
    return cur.rowcount == 1
