"""Gateway and device health for one municipality, one statement for the API and the CLI alike.

Sources: the newest heartbeat (`gateway_status`: reported time, clock skew, outbox depth and evictions,
watchdog restarts), the devices registered to the gateway now with when each was last heard
(`device_last_seen`: readings and heartbeats alike, the same facts the liveness rules read) and its health as
the heartbeats reported it (`device_health`: battery, signal, last reading, decode and connection errors),
the newest `device.battery` reading of each device when no heartbeat carried one, quarantine counts in a window, and
the readings counted over the gateway's hourly quarantine quota (`quarantine_overflow`) in the same window.
The flags the filters use are computed in the same statement as the values shown, so a listed gateway
always shows why it matched.

"Sending garbage" counts only the reasons that mean the data itself was bad; the configuration reasons
(a device not registered, not assigned, or without consent) are the registry's to fix, not the kit's, and
are shown in the counts without raising the flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from psycopg import AsyncConnection
from pydantic import BaseModel

from cloud.gateways.heartbeat import ALARM_PROFILES, DEFAULT_HEARTBEAT_ALARM_S, DEFAULT_HEARTBEAT_S, SKEW_FLAG_S
from cloud.ingest.validate import REASONS, Reason

ReasonClass = Literal["garbage", "configuration"]
REASON_CLASS: dict[Reason, ReasonClass] = {
    "malformed": "garbage",
    "unknown_metric": "garbage",
    "unit_not_convertible": "garbage",
    "implausible_value": "garbage",
    "implausible_time": "garbage",
    "sequence_conflict": "garbage",
    "unknown_device": "configuration",
    "foreign_device": "configuration",
    "unassigned": "configuration",
    "no_consent": "configuration",
}
GARBAGE_REASONS = sorted(r for r in REASONS if REASON_CLASS[r] == "garbage")
BATTERY_METRIC = "device.battery"


@dataclass(frozen=True)
class FleetFilter:
    """Which gateways to list and the thresholds of the flags. A filter left None does not filter; several
    filters must all hold."""

    offline: bool | None = None
    low_battery: bool | None = None
    garbage: bool | None = None
    quarantine_quota_exceeded: bool | None = None
    missed_heartbeats: int = 3  # offline: no heartbeat within this many heartbeat intervals
    battery_below: float = 20.0  # low battery: any device below this percentage
    garbage_per_hour: float = 10.0  # garbage: more quarantined bad readings per hour than this
    window_hours: int = 24  # quarantine counts cover this many hours
    include_revoked: bool = False
    gateway_id: UUID | None = None
    after: UUID | None = None
    limit: int = 200


class DeviceHealth(BaseModel):
    """A device registered to the gateway now: when it was last heard (any reading or heartbeat mention), when
    its last reading reached the gateway, its battery (percent) and signal (BLE RSSI in dBm, Zigbee link quality
    0-255) with their times, and the gateway's counts of its decode and connection errors, as last reported."""

    device_id: UUID
    address: str
    profile_id: str
    last_seen: datetime | None
    last_reading_at: datetime | None
    battery_pct: float | None
    battery_at: datetime | None
    rssi_dbm: int | None
    link_quality: int | None
    signal_at: datetime | None
    decode_errors: int | None
    connection_errors: int | None
    health_reported_at: datetime | None
    low_battery: bool


class GatewayHealth(BaseModel):
    """One gateway: liveness, outbox, clock, software, quarantine, devices, and the flags."""

    gateway_id: UUID
    label: str
    home_id: UUID | None
    enrolled_at: datetime | None
    revoked_at: datetime | None
    last_seen: datetime | None
    heartbeat_interval_s: int
    software_version: str | None
    uptime_s: float | None
    outbox_depth: int | None
    outbox_evictions: int | None
    watchdog_restarts: int | None
    malformed_from_sources: int | None
    local_alarms_raised: int | None
    local_alarm_failures: int | None
    clock_skew_s: float | None
    clock_flagged: bool
    sequence_conflicts: int
    quarantined: dict[str, int]
    garbage_per_hour: float
    lowest_battery: float | None
    quarantine_overflow: int
    offline: bool
    low_battery: bool
    garbage: bool
    quarantine_quota_exceeded: bool
    devices: list[DeviceHealth]


_DEVICES = """
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'device_id', d.id, 'address', d.address, 'profile_id', d.profile_id,
               'last_seen', ls.seen_at, 'last_reading_at', h.last_reading_at,
               'battery_pct', coalesce(h.battery_pct, bat.value),
               'battery_at', CASE WHEN h.battery_pct IS NOT NULL THEN h.battery_at ELSE bat.t END,
               'rssi_dbm', h.rssi_dbm, 'link_quality', h.link_quality, 'signal_at', h.signal_at,
               'decode_errors', h.decode_errors, 'connection_errors', h.connection_errors,
               'health_reported_at', h.reported_at,
               'low_battery', coalesce(coalesce(h.battery_pct, bat.value) < %(battery_below)s, false))
               ORDER BY d.address), '[]'::jsonb) AS items,
           min(coalesce(h.battery_pct, bat.value)) AS lowest_battery,
           bool_or(d.profile_id = ANY(%(alarm)s)) AS has_alarm
    FROM device_registrations r JOIN devices d ON d.id = r.device_id
    LEFT JOIN device_last_seen ls ON ls.device_id = d.id
    LEFT JOIN device_health h ON h.device_id = d.id
    -- Through observations_device_content (device_id, metric, measured_at): battery readings carry the
    -- device clock.
    LEFT JOIN LATERAL (SELECT o.value, o.t FROM observations o WHERE o.device_id = d.id
                       AND o.metric = %(battery_metric)s AND o.measured_at IS NOT NULL
                       ORDER BY o.measured_at DESC LIMIT 1) bat ON true
    WHERE r.gateway_id = g.id AND r.valid @> now()
"""
_QUARANTINE = """
    SELECT coalesce(jsonb_object_agg(reason, n), '{}'::jsonb) AS counts,
           coalesce(sum(n) FILTER (WHERE reason = ANY(%(garbage_reasons)s)), 0) AS bad
    FROM (SELECT reason, count(*) AS n FROM quarantine WHERE gateway_id = g.id
          AND stored_at >= now() - make_interval(hours => %(window)s) GROUP BY reason) x
"""
# Hours overlapping the window (an hour's count is known only as a whole).
_OVERFLOW = """
    SELECT coalesce(sum(o.readings), 0) AS readings FROM quarantine_overflow o
    WHERE o.gateway_id = g.id AND o.hour > now() - make_interval(hours => %(window)s + 1)
"""
# Composed of the constant fragments above; every value is a bound parameter.
_FLEET = f"""
WITH fleet AS (
    SELECT g.id, g.label, g.home_id, g.enrolled_at, g.revoked_at, s.reported_at, iv.seconds,
           s.report->>'software_version' AS software_version, (s.report->>'uptime_s')::float8 AS uptime_s,
           (s.report->>'outbox_depth')::bigint AS outbox_depth,
           (s.report->>'outbox_evictions')::bigint AS outbox_evictions,
           (s.report->>'watchdog_restarts')::bigint AS watchdog_restarts,
           (s.report->>'malformed_from_sources')::bigint AS malformed_from_sources,
           (s.report->>'local_alarms_raised')::bigint AS local_alarms_raised,
           (s.report->>'local_alarm_failures')::bigint AS local_alarm_failures,
           s.clock_skew_s, g.sequence_conflicts, q.counts, q.bad::float8 / %(window)s AS garbage_rate,
           dv.lowest_battery, dv.items,
           g.revoked_at IS NULL AND (s.reported_at IS NULL
               OR s.reported_at < now() - make_interval(secs => iv.seconds * %(missed)s)) AS is_offline,
           coalesce(dv.lowest_battery < %(battery_below)s, false) AS is_low_battery,
           q.bad::float8 / %(window)s > %(garbage_per_hour)s AS is_garbage,
           ov.readings AS overflow, ov.readings > 0 AS is_over_quota
    FROM gateways g
    LEFT JOIN gateway_status s ON s.gateway_id = g.id
    CROSS JOIN LATERAL ({_DEVICES}) dv
    CROSS JOIN LATERAL (SELECT coalesce(g.heartbeat_interval_s, CASE WHEN coalesce(dv.has_alarm, false)
                        THEN %(alarm_s)s ELSE %(default_s)s END) AS seconds) iv
    CROSS JOIN LATERAL ({_QUARANTINE}) q
    CROSS JOIN LATERAL ({_OVERFLOW}) ov
    WHERE g.municipality_id = %(m)s AND (%(gw)s::uuid IS NULL OR g.id = %(gw)s)
      AND (%(after)s::uuid IS NULL OR g.id > %(after)s) AND (%(revoked)s OR g.revoked_at IS NULL)
)
SELECT * FROM fleet
WHERE (%(offline)s::bool IS NULL OR is_offline = %(offline)s)
  AND (%(low_battery)s::bool IS NULL OR is_low_battery = %(low_battery)s)
  AND (%(garbage)s::bool IS NULL OR is_garbage = %(garbage)s)
  AND (%(over_quota)s::bool IS NULL OR is_over_quota = %(over_quota)s)
ORDER BY id LIMIT %(limit)s
"""  # noqa: S608


def _parameters(municipality_id: UUID, f: FleetFilter) -> dict[str, Any]:
    return {
        "m": municipality_id, "gw": f.gateway_id, "after": f.after, "revoked": f.include_revoked,
        "offline": f.offline, "low_battery": f.low_battery, "garbage": f.garbage,
        "over_quota": f.quarantine_quota_exceeded, "missed": f.missed_heartbeats,
        "battery_below": f.battery_below, "garbage_per_hour": f.garbage_per_hour, "window": f.window_hours,
        "limit": f.limit, "alarm": sorted(ALARM_PROFILES), "battery_metric": BATTERY_METRIC,
        "garbage_reasons": GARBAGE_REASONS, "alarm_s": DEFAULT_HEARTBEAT_ALARM_S, "default_s": DEFAULT_HEARTBEAT_S,
    }  # fmt: skip


def _health(row: dict[str, Any]) -> GatewayHealth:
    skew = row["clock_skew_s"]
    return GatewayHealth(
        gateway_id=row["id"], label=row["label"], home_id=row["home_id"], enrolled_at=row["enrolled_at"],
        revoked_at=row["revoked_at"], last_seen=row["reported_at"], heartbeat_interval_s=row["seconds"],
        software_version=row["software_version"], uptime_s=row["uptime_s"], outbox_depth=row["outbox_depth"],
        outbox_evictions=row["outbox_evictions"], watchdog_restarts=row["watchdog_restarts"],
        malformed_from_sources=row["malformed_from_sources"], local_alarms_raised=row["local_alarms_raised"],
        local_alarm_failures=row["local_alarm_failures"], clock_skew_s=skew,
        clock_flagged=skew is not None and abs(skew) > SKEW_FLAG_S, sequence_conflicts=row["sequence_conflicts"],
        quarantined=row["counts"], garbage_per_hour=round(row["garbage_rate"], 3), lowest_battery=row["lowest_battery"],
        quarantine_overflow=row["overflow"], offline=row["is_offline"], low_battery=row["is_low_battery"],
        garbage=row["is_garbage"], quarantine_quota_exceeded=row["is_over_quota"],
        devices=[DeviceHealth.model_validate(item) for item in row["items"]],
    )  # fmt: skip


async def list_gateways(conn: AsyncConnection[Any], municipality_id: UUID, f: FleetFilter) -> list[GatewayHealth]:
    """Gateways of one municipality matching `f`, ordered by id, at most `f.limit`."""
    cursor = await conn.execute(_FLEET, _parameters(municipality_id, f))
    names = [column.name for column in cursor.description or []]
    return [_health(dict(zip(names, row, strict=True))) for row in await cursor.fetchall()]
