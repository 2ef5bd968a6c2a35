"""The evaluation's data inputs read from the database: reading windows and liveness facts.

Liveness facts come from what the cloud already records: the devices assigned to the patient now, the
gateway each is registered to now, that gateway's newest heartbeat (`gateway_status`), and per device its
newest observation of any of its metrics or of its battery. A gateway that is down therefore inhibits the
"sensor silent" alerts of the devices behind it (alerts.liveness).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import numpy as np
from psycopg import AsyncConnection

from alerts.evaluate import LivenessFacts
from alerts.inputs import DeviceFacts, GatewayFacts, Window
from cloud.evaluation.doubtful import DOUBTFUL_PARAMS, DOUBTFUL_SQL
from cloud.registry.consent import supervision_profiles
from device_profiles.device_catalogue import load_devices

BATTERY_METRIC = "device.battery"


def _stamp(moment: datetime | None) -> float | None:
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


def _device_metrics(profile_id: str) -> tuple[str, ...]:
    catalogue = load_devices()
    return catalogue[profile_id].metrics if profile_id in catalogue else ()


async def liveness_facts(conn: AsyncConnection[Any], patient_id: UUID, now: float) -> LivenessFacts:
    """The patient's devices (their own and their home's shared sensors) and gateways as they stand at `now`."""
    at = datetime.fromtimestamp(now, UTC)
    # The patient's own devices and the sensors shared by their home; a supervision sensor counts only while a
    # consent covers the patient (without one it is not activated: its silence is not a fault).
    rows = await (
        await conn.execute(
            "SELECT d.id, d.profile_id, r.gateway_id, a.home_id IS NOT NULL FROM device_assignments a "
            "JOIN devices d ON d.id = a.device_id "
            "LEFT JOIN device_registrations r ON r.device_id = d.id AND r.valid @> %(at)s::timestamptz "
            "WHERE (a.patient_id = %(p)s OR a.home_id = (SELECT home_id FROM patients WHERE id = %(p)s)) "
            "AND a.valid @> %(at)s::timestamptz AND (d.profile_id <> ALL(%(supervision)s) OR EXISTS (SELECT 1 FROM "
            "supervision_consents c WHERE c.device_id = d.id AND c.patient_id = %(p)s AND c.valid_from <= %(at)s "
            "AND c.expires_at > %(at)s AND (c.withdrawn_at IS NULL OR c.withdrawn_at > %(at)s)))",
            {"at": at, "p": patient_id, "supervision": sorted(supervision_profiles())},
        )
    ).fetchall()
    devices = [(device_id, profile, gateway) for device_id, profile, gateway, _ in rows]
    newest: dict[UUID, float] = {}
    battery: dict[UUID, float] = {}
    for shared in (False, True):
        pairs = [
            (d, m)
            for d, profile, _, home in rows
            if home is shared
            for m in (*_device_metrics(profile), BATTERY_METRIC)
        ]
        if not pairs:
            continue
        # Per (device, metric) the newest observation: through the (patient, metric, t) index for the patient's
        # devices, the partial home-device index for shared ones (stored without a patient).
        owner = "patient_id IS NULL" if shared else "patient_id = %s"
        for device_id, metric, t, value in await (
            await conn.execute(
                "SELECT q.device_id, q.metric, o.t, o.value "  # noqa: S608 - `owner` is one of two fixed strings
                "FROM unnest(%s::uuid[], %s::text[]) AS q(device_id, metric) CROSS JOIN LATERAL "
                f"(SELECT t, value FROM observations WHERE {owner} AND metric = q.metric "
                "AND device_id = q.device_id AND t <= %s ORDER BY t DESC LIMIT 1) o",
                ([p[0] for p in pairs], [p[1] for p in pairs], *(() if shared else (patient_id,)), at),
            )
        ).fetchall():
            newest[device_id] = max(newest.get(device_id, 0.0), t.timestamp())
            if metric == BATTERY_METRIC:
                battery[device_id] = value
    gateway_ids = sorted({gateway for _, _, gateway in devices if gateway is not None})
    heartbeats = dict(
        await (
            await conn.execute(
                "SELECT gateway_id, reported_at FROM gateway_status WHERE gateway_id = ANY(%s)", (gateway_ids,)
            )
        ).fetchall()
    )
    return LivenessFacts(
        devices=tuple(
            DeviceFacts(
                device_id=str(device_id),
                metrics=_device_metrics(profile),
                last_seen=newest.get(device_id),
                battery_pct=battery.get(device_id),
                gateway_id=None if gateway is None else str(gateway),
            )
            for device_id, profile, gateway in devices
        ),
        gateways=tuple(GatewayFacts(str(g), _stamp(heartbeats.get(g))) for g in gateway_ids),
    )


def metrics_of(
    rules: Collection[str], days: Mapping[str, int], metrics_by_rule: Mapping[str, tuple[str, ...]]
) -> dict[str, int]:
    """The history to fetch for `rules`: their metrics with the protocol's window per metric."""
    wanted = {metric for rule in rules for metric in metrics_by_rule.get(rule, ())}
    return {metric: days[metric] for metric in wanted if metric in days}
