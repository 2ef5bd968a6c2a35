"""The patient's open requests to measure again, for the staff's view of the patient and the home gateway.

Detection asks for a new measurement when the device flagged a reading as doubtful (alerts.thresholds; the
request is logged by the alert store). A request is open while no newer reading of its metric has arrived
and for at most a day: after that the rule has long judged the doubtful reading (its wait is at most a day).
Several rules on one metric ask once each; the patient is asked to measure that metric once.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from cloud.alert_store import history

OPEN_FOR: Final = timedelta(days=1)


@dataclass(frozen=True)
class OpenRequest:
    """Measure `metric` again: the doubtful reading's time, when the rules judge without a new reading, when
    the patient was asked, and the rules (with their titles) that wait."""

    patient_id: UUID
    metric: str
    reading_at: datetime
    wait_until: datetime
    requested_at: datetime
    rules: list[str]
    titles: list[str]


async def _answered(conn: AsyncConnection[Any], asked: list[history.RemeasureRequest], now: datetime) -> set[int]:
    """The positions in `asked` whose metric has a newer reading of the patient (their own devices' or their
    home's shared sensors'), up to `now`."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT q.n FROM unnest(%s::int[], %s::uuid[], %s::text[], %s::timestamptz[]) AS q(n, patient, metric, at) "
            "WHERE EXISTS (SELECT 1 FROM observations o WHERE o.patient_id = q.patient AND o.metric = q.metric "
            "AND o.t > q.at AND o.t <= %s) OR EXISTS (SELECT 1 FROM patients r JOIN device_assignments a "
            "ON a.home_id = r.home_id JOIN observations o ON o.device_id = a.device_id AND o.patient_id IS NULL "
            "AND o.metric = q.metric AND o.t > q.at AND o.t <= %s AND a.valid @> o.t WHERE r.id = q.patient)",
            (
                list(range(len(asked))),
                [r.patient_id for r in asked],
                [r.metric for r in asked],
                [r.reading_at for r in asked],
                now,
                now,
            ),
        )
        return {row["n"] for row in await cur.fetchall()}


async def open_requests(conn: AsyncConnection[Any], patient_ids: Collection[UUID], now: datetime) -> list[OpenRequest]:
    """The open requests of the patients, one per patient and metric (the newest doubtful reading), oldest
    reading first."""
    if not patient_ids:
        return []
    asked = await history.remeasure_requests(conn, patient_ids, now - OPEN_FOR)
    answered = await _answered(conn, asked, now) if asked else set()
    merged: dict[tuple[UUID, str], OpenRequest] = {}
    for n, request in enumerate(asked):
        if n in answered:
            continue
        key = (request.patient_id, request.metric)
        known = merged.get(key)
        if known is None or request.reading_at > known.reading_at:
            merged[key] = OpenRequest(
                request.patient_id, request.metric, request.reading_at, request.wait_until, request.requested_at,
                [request.rule], [request.title],
            )  # fmt: skip
        elif request.reading_at == known.reading_at:
            known.rules.append(request.rule)
            known.titles.append(request.title)
    return sorted(merged.values(), key=lambda r: (r.reading_at, str(r.patient_id), r.metric))


async def of_gateway(conn: AsyncConnection[Any], gateway_id: UUID, now: datetime) -> list[OpenRequest]:
    """The open requests of the patients the gateway serves now: those with a device registered to it and
    assigned to them, and those living in its home."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT a.patient_id AS id FROM device_registrations r JOIN device_assignments a ON a.device_id = "
            "r.device_id AND a.valid @> %(now)s::timestamptz WHERE r.gateway_id = %(g)s AND r.valid @> "
            "%(now)s::timestamptz AND a.patient_id IS NOT NULL UNION SELECT p.id FROM patients p JOIN gateways g "
            "ON g.home_id = p.home_id WHERE g.id = %(g)s",
            {"g": gateway_id, "now": now},
        )
        patients = [row["id"] for row in await cur.fetchall()]
    return await open_requests(conn, patients, now)
