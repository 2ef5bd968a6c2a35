"""The evaluation's data inputs read from the database: reading windows and liveness facts.

Liveness facts come from what the cloud already records: the devices assigned to the patient now, the
gateway each is registered to now, that gateway's newest heartbeat (`gateway_status`) and enrolment, per
device when it was last heard (`device_last_seen`, the same table the fleet view reads) and its newest
battery reading, and when each became the patient's to watch. A gateway that is down therefore inhibits the
"sensor silent" alerts of the devices behind it (alerts.liveness).

These read one patient (the API's pages, the baseline proposals); the drain reads the same for a whole group
of patients at once (cloud/evaluation/group_inputs.py).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import numpy as np
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from alerts.evaluate import LivenessFacts
from alerts.inputs import DeviceFacts, GatewayFacts, Window
from cloud.evaluation.doubtful import DOUBTFUL_PARAMS, DOUBTFUL_SQL
from cloud.registry.consent import supervision_profiles
from device_profiles.device_catalogue import load_devices

BATTERY_METRIC = "device.battery"


def stamp(moment: datetime | None) -> float | None:
    """Unix seconds of an aware datetime (None stays None)."""
    return None if moment is None else moment.timestamp()


async def windows(
    conn: AsyncConnection[Any], patient_id: UUID, days: Mapping[str, int], now: float
) -> dict[str, Window]:
    """Each metric's readings over its own number of days before `now` (one query), including the readings of
    sensors shared by the patient's home (stored without a patient, cloud/registry/homes.py), with each
    reading's doubtful flag (device_profiles.quality) from its stored context."""
    if not days:
        return {}
    metrics = sorted(days)
    rows = await (
        await conn.execute(
            # The doubtful readings come as their times: a third array sorted like the others would cost a sort.
            "SELECT o.metric, array_agg(extract(epoch FROM o.t)::float8 ORDER BY o.t), "  # noqa: S608 - fixed text
            "array_agg(o.value ORDER BY o.t), "
            f"coalesce(array_agg(extract(epoch FROM o.t)::float8) FILTER (WHERE {DOUBTFUL_SQL}), '{{}}') "
            "FROM unnest(%(metrics)s::text[], %(days)s::int[]) AS w(metric, days) JOIN observations o ON "
            "o.metric = w.metric AND o.t > %(now)s - make_interval(days => w.days) AND o.t <= %(now)s AND "
            # Implied by the join, and spelled out so the planner can bound the index scans by metric and time.
            "o.metric = ANY(%(metrics)s::text[]) AND o.t > %(now)s - make_interval(days => %(longest)s) AND "
            "(o.patient_id = %(p)s OR (o.patient_id IS NULL AND EXISTS (SELECT 1 FROM device_assignments a "
            "JOIN patients r ON r.home_id = a.home_id WHERE r.id = %(p)s AND a.device_id = o.device_id "
            "AND a.valid @> o.t))) GROUP BY o.metric",
            {
                "metrics": metrics,
                "days": [days[m] for m in metrics],
                "longest": max(days.values()),
                "p": patient_id,
                "now": datetime.fromtimestamp(now, UTC),
                **DOUBTFUL_PARAMS,
            },
        )
    ).fetchall()
    return {metric: Window.of(times, values, np.isin(times, doubtful)) for metric, times, values, doubtful in rows}


def device_metrics(profile_id: str) -> tuple[str, ...]:
    """The metrics a device profile measures (none for a profile the catalogue does not know)."""
    catalogue = load_devices()
    return catalogue[profile_id].metrics if profile_id in catalogue else ()


# The patient's own devices and the sensors shared by their home, as they stand at `at`; a supervision sensor
# counts only while a consent covers the patient (without one it is not activated: its silence is not a
# fault). `since` is when the device became this patient's to watch: the latest start of its assignment, its
# registration and the consent; `seen_at` when it was last heard (cloud/gateways/last_seen.py).
_DEVICES = (
    "SELECT d.id AS device_id, d.profile_id, r.gateway_id, a.home_id IS NOT NULL AS shared, s.seen_at, "
    "greatest(lower(a.valid), lower(r.valid), c.consented) AS since "
    "FROM device_assignments a JOIN devices d ON d.id = a.device_id "
    "LEFT JOIN device_registrations r ON r.device_id = d.id AND r.valid @> %(at)s::timestamptz "
    "LEFT JOIN device_last_seen s ON s.device_id = d.id "
    "LEFT JOIN LATERAL (SELECT min(c.valid_from) AS consented FROM supervision_consents c "
    "WHERE d.profile_id = ANY(%(supervision)s) AND c.device_id = d.id AND c.patient_id = %(p)s "
    "AND c.valid_from <= %(at)s AND c.expires_at > %(at)s AND (c.withdrawn_at IS NULL OR c.withdrawn_at > %(at)s)"
    ") c ON true "
    "WHERE (a.patient_id = %(p)s OR a.home_id = (SELECT home_id FROM patients WHERE id = %(p)s)) "
    "AND a.valid @> %(at)s::timestamptz AND (d.profile_id <> ALL(%(supervision)s) OR c.consented IS NOT NULL)"
)
# A gateway never heard from counts as silent from its enrolment (its creation for one enrolled before that
# was recorded).
_GATEWAYS = (
    "SELECT g.id AS gateway_id, s.reported_at, coalesce(g.enrolled_at, g.created_at) AS enrolled_at "
    "FROM gateways g LEFT JOIN gateway_status s ON s.gateway_id = g.id WHERE g.id = ANY(%s)"
)


async def _batteries(
    conn: AsyncConnection[Any], patient_id: UUID, devices: list[dict[str, Any]], at: datetime
) -> dict[UUID, float]:
    """Each device's newest battery reading at `at`."""
    battery: dict[UUID, float] = {}
    for shared in (False, True):
        ids = [d["device_id"] for d in devices if d["shared"] is shared]
        if not ids:
            continue
        # Through the (patient, metric, t) index for the patient's devices, the partial home-device index for
        # shared ones (stored without a patient).
        owner = "patient_id IS NULL" if shared else "patient_id = %s"
        for device_id, value in await (
            await conn.execute(
                "SELECT q.device_id, o.value "  # noqa: S608 - `owner` is one of two fixed strings
                "FROM unnest(%s::uuid[]) AS q(device_id) CROSS JOIN LATERAL "
                f"(SELECT value FROM observations WHERE {owner} AND metric = %s "
                "AND device_id = q.device_id AND t <= %s ORDER BY t DESC LIMIT 1) o",
                (ids, *(() if shared else (patient_id,)), BATTERY_METRIC, at),
            )
        ).fetchall():
            battery[device_id] = value
    return battery


def device_facts(device: Mapping[str, Any], battery_pct: float | None) -> DeviceFacts:
    """What the liveness rules know of one device row (the one-patient and the group reads give the same columns)."""
    gateway_id = device["gateway_id"]
    return DeviceFacts(
        device_id=str(device["device_id"]),
        metrics=device_metrics(device["profile_id"]),
        last_seen=stamp(device["seen_at"]),
        battery_pct=battery_pct,
        gateway_id=None if gateway_id is None else str(gateway_id),
        since=stamp(device["since"]),
    )


def gateway_since(enrolled_at: datetime, devices: list[dict[str, Any]], gateway_id: UUID) -> float:
    """When the patient came to depend on the gateway: its enrolment, or the oldest current start of the
    patient's devices behind it when that is later."""
    starts: list[datetime] = [d["since"] for d in devices if d["gateway_id"] == gateway_id and d["since"] is not None]
    return max([enrolled_at, *([min(starts)] if starts else [])]).timestamp()


async def liveness_facts(conn: AsyncConnection[Any], patient_id: UUID, now: float) -> LivenessFacts:
    """The patient's devices (their own and their home's shared sensors) and gateways as they stand at `now`."""
    at = datetime.fromtimestamp(now, UTC)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_DEVICES, {"at": at, "p": patient_id, "supervision": sorted(supervision_profiles())})
        devices = await cur.fetchall()
        gateway_ids = sorted({d["gateway_id"] for d in devices if d["gateway_id"] is not None})
        await cur.execute(_GATEWAYS, (gateway_ids,))
        gateways = await cur.fetchall()
    battery = await _batteries(conn, patient_id, devices, at)
    return LivenessFacts(
        devices=tuple(device_facts(d, battery.get(d["device_id"])) for d in devices),
        gateways=tuple(
            GatewayFacts(
                str(g["gateway_id"]),
                stamp(g["reported_at"]),
                since=gateway_since(g["enrolled_at"], devices, g["gateway_id"]),
            )
            for g in sorted(gateways, key=lambda g: str(g["gateway_id"]))
        ),
    )


def metrics_of(
    rules: Collection[str], days: Mapping[str, int], metrics_by_rule: Mapping[str, tuple[str, ...]]
) -> dict[str, int]:
    """The history to fetch for `rules`: their metrics with the protocol's window per metric."""
    wanted = {metric for rule in rules for metric in metrics_by_rule.get(rule, ())}
    return {metric: days[metric] for metric in wanted if metric in days}
