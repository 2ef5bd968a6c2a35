"""The evaluation's inputs for a group of patients at once (cloud/evaluation/drain.py): one statement per kind.

The same data as `cloud.evaluation.inputs` reads for one patient (whose functions the API's pages and the
baseline proposals keep using): per (patient, metric) the same reading window with its doubtful flags, and
per patient the same devices, gateways and battery readings, merged into one statement (the gateway and the
newest battery reading of each device joined to it) so that liveness needs no second round trip.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import numpy as np

from alerts.evaluate import LivenessFacts
from alerts.inputs import GatewayFacts, Window
from cloud.db.batch import Query
from cloud.evaluation.doubtful import DOUBTFUL_PARAMS, DOUBTFUL_SQL
from cloud.evaluation.inputs import BATTERY_METRIC, device_facts, gateway_since, stamp
from cloud.registry.consent import supervision_profiles

# Each patient's readings of each metric over its own number of days before the patient's moment, including the
# readings of sensors shared by the patient's home (stored without a patient, cloud/registry/homes.py), with
# each reading's doubtful flag (device_profiles.quality) from its stored context. The aggregate inside the
# lateral makes one pair of index scans per (patient, metric), bounded by metric and time; the doubtful readings
# come as their times: a third array sorted like the others would cost a sort.
WINDOWS = (
    "SELECT w.patient_id, w.metric, o.times, o.vals, o.doubtful FROM unnest(%(p)s::uuid[], %(metrics)s::text[], "  # noqa: S608
    "%(days)s::int[], %(now)s::timestamptz[]) AS w(patient_id, metric, days, at) CROSS JOIN LATERAL ("
    "SELECT array_agg(extract(epoch FROM o.t)::float8 ORDER BY o.t) AS times, "
    "array_agg(o.value ORDER BY o.t) AS vals, "
    f"coalesce(array_agg(extract(epoch FROM o.t)::float8) FILTER (WHERE {DOUBTFUL_SQL}), '{{}}') AS doubtful "
    "FROM observations o WHERE o.metric = w.metric AND o.t > w.at - make_interval(days => w.days) AND o.t <= w.at "
    "AND (o.patient_id = w.patient_id OR (o.patient_id IS NULL AND EXISTS (SELECT 1 FROM device_assignments a "
    "JOIN patients r ON r.home_id = a.home_id WHERE r.id = w.patient_id AND a.device_id = o.device_id "
    "AND a.valid @> o.t)))) o WHERE o.times IS NOT NULL"
)


def windows_read(wanted: Mapping[UUID, tuple[Mapping[str, int], float]]) -> Query:
    """The read of `windows_from`: per patient, each metric of their `days` over its number of days before
    their moment (Unix seconds)."""
    rows = [(p, metric, days[metric], now) for p, (days, now) in wanted.items() for metric in sorted(days)]
    return Query(
        WINDOWS,
        {
            "p": [r[0] for r in rows],
            "metrics": [r[1] for r in rows],
            "days": [r[2] for r in rows],
            "now": [datetime.fromtimestamp(r[3], UTC) for r in rows],
            **DOUBTFUL_PARAMS,
        },
    )


def windows_from(ids: Iterable[UUID], rows: list[dict[str, Any]]) -> dict[UUID, dict[str, Window]]:
    """Each patient's windows by metric from the answer to `windows_read`."""
    by: dict[UUID, dict[str, Window]] = {p: {} for p in ids}
    for r in rows:
        by[r["patient_id"]][r["metric"]] = Window.of(r["times"], r["vals"], np.isin(r["times"], r["doubtful"]))
    return by


# Each patient's own devices and the sensors shared by their home, as they stand at the patient's `at`, each
# with the gateway it is registered to then and that gateway's newest heartbeat and enrolment; a supervision
# sensor counts only while a consent covers the patient (without one it is not activated: its silence is not a
# fault). `since` is when the device became this patient's to watch: the latest start of its assignment, its
# registration and the consent; `seen_at` when it was last heard (cloud/gateways/last_seen.py); `battery` its
# newest battery reading at `at`, through the (patient, metric, t) index for the patient's devices and the
# partial home-device index for shared ones (stored without a patient). A gateway never heard from counts as
# silent from its enrolment (its creation for one enrolled before that was recorded).
# MATERIALIZED: each patient's assignments are found through the patient and home indexes first, and only then
# held against the patient's moment; otherwise the generic plan the group's transaction uses intersects them
# with the exclusion constraint's index on the validity period, which reads every assignment (0.5 ms a patient).
DEVICES = (
    "WITH a AS MATERIALIZED (SELECT x.patient_id, x.at, a.device_id, a.home_id, a.valid "
    "FROM unnest(%(p)s::uuid[], %(at)s::timestamptz[]) AS x(patient_id, at) "
    "LEFT JOIN patients p ON p.id = x.patient_id "
    "JOIN device_assignments a ON a.patient_id = x.patient_id OR a.home_id = p.home_id) "
    "SELECT a.patient_id, d.id AS device_id, d.profile_id, r.gateway_id, a.home_id IS NOT NULL AS shared, "
    "s.seen_at, greatest(lower(a.valid), lower(r.valid), c.consented) AS since, "
    "gs.reported_at AS gateway_reported_at, coalesce(g.enrolled_at, g.created_at) AS gateway_enrolled_at, "
    "CASE WHEN a.home_id IS NULL THEN (SELECT b.value FROM observations b WHERE b.patient_id = a.patient_id "
    "AND b.metric = %(battery)s AND b.device_id = d.id AND b.t <= a.at ORDER BY b.t DESC LIMIT 1) "
    "ELSE (SELECT b.value FROM observations b WHERE b.patient_id IS NULL AND b.metric = %(battery)s "
    "AND b.device_id = d.id AND b.t <= a.at ORDER BY b.t DESC LIMIT 1) END AS battery "
    "FROM a JOIN devices d ON d.id = a.device_id "
    "LEFT JOIN device_registrations r ON r.device_id = d.id AND r.valid @> a.at "
    "LEFT JOIN device_last_seen s ON s.device_id = d.id "
    "LEFT JOIN gateways g ON g.id = r.gateway_id LEFT JOIN gateway_status gs ON gs.gateway_id = g.id "
    "LEFT JOIN LATERAL (SELECT min(c.valid_from) AS consented FROM supervision_consents c "
    "WHERE d.profile_id = ANY(%(supervision)s) AND c.device_id = d.id AND c.patient_id = a.patient_id "
    "AND c.valid_from <= a.at AND c.expires_at > a.at AND (c.withdrawn_at IS NULL OR c.withdrawn_at > a.at)"
    ") c ON true "
    "WHERE a.valid @> a.at AND (d.profile_id <> ALL(%(supervision)s) OR c.consented IS NOT NULL)"
)


def devices_read(nows: Mapping[UUID, float]) -> Query:
    """The read of `liveness_from`, for each patient as of their own moment (Unix seconds)."""
    ids = list(nows)
    return Query(
        DEVICES,
        {
            "p": ids,
            "at": [datetime.fromtimestamp(nows[p], UTC) for p in ids],
            "battery": BATTERY_METRIC,
            "supervision": sorted(supervision_profiles()),
        },
    )


def _facts(devices: list[dict[str, Any]]) -> LivenessFacts:
    gateways = {d["gateway_id"]: d for d in devices if d["gateway_enrolled_at"] is not None}
    return LivenessFacts(
        devices=tuple(device_facts(d, d["battery"]) for d in devices),
        gateways=tuple(
            GatewayFacts(
                str(gateway_id),
                stamp(g["gateway_reported_at"]),
                since=gateway_since(g["gateway_enrolled_at"], devices, gateway_id),
            )
            for gateway_id, g in sorted(gateways.items(), key=lambda item: str(item[0]))
        ),
    )


def liveness_from(ids: Iterable[UUID], rows: list[dict[str, Any]]) -> dict[UUID, LivenessFacts]:
    """Each patient's devices (their own and their home's shared sensors) and gateways from `devices_read`."""
    by: dict[UUID, list[dict[str, Any]]] = {p: [] for p in ids}
    for row in rows:
        by[row["patient_id"]].append(row)
    return {p: _facts(devices) for p, devices in by.items()}
