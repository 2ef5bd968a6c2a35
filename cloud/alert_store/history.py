"""Reading the alert history for detection: the days a patient had a clinical alert open, and the requests
to measure again that detection has made.

The store writes these records (`store.apply` logs a `remeasure_requested` transition like any other, with no
alert); this module only reads them, for the baseline proposals (cloud/evaluation/baselines.py) and the
re-measure requests (cloud/evaluation/remeasure.py).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row

from alerts.lifecycle import Event

CLINICAL: Final = "clinical"


async def clinical_alert_days(
    conn: AsyncConnection[Any], patient_id: UUID, start: datetime, end: datetime
) -> list[date]:
    """The local calendar days (Europe/Oslo) between `start` and `end` on which a clinical-class alert of the
    patient (a clinical episode is one too) was open at any moment, oldest first. An alert still open counts
    as open until `end`."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT DISTINCT d::date AS day FROM alerts a CROSS JOIN LATERAL generate_series("
            "(greatest(a.opened_at, %(start)s) AT TIME ZONE 'Europe/Oslo')::date, "
            "(least(coalesce(a.resolved_at, %(end)s), %(end)s) AT TIME ZONE 'Europe/Oslo')::date, "
            "interval '1 day') AS d WHERE a.patient_id = %(p)s AND a.alert_class = %(class)s "
            "AND a.opened_at <= %(end)s AND (a.resolved_at IS NULL OR a.resolved_at >= %(start)s) ORDER BY day",
            {"p": patient_id, "start": start, "end": end, "class": CLINICAL},
        )
        return [row["day"] for row in await cur.fetchall()]


async def remeasure_requested(conn: AsyncConnection[Any], patient_id: UUID, since: datetime) -> dict[str, float]:
    """Per rule, the time of the newest doubtful reading after `since` for which a new measurement was asked
    (`PatientState.remeasure_requested`)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT rule, max(last_input_at) AS reading_at FROM alert_transitions WHERE patient_id = %s "
            "AND event = %s AND last_input_at > %s GROUP BY rule",
            (patient_id, Event.REMEASURE_REQUESTED.value, since),
        )
        return {row["rule"]: row["reading_at"].timestamp() for row in await cur.fetchall()}


@dataclass(frozen=True)
class RemeasureRequest:
    """One request to measure `metric` again: the doubtful reading's time, when the rule judges without a new
    one, when it was asked, and the rule that asked (with its title)."""

    patient_id: UUID
    metric: str
    reading_at: datetime
    wait_until: datetime
    requested_at: datetime
    rule: str
    title: str


async def remeasure_requests(
    conn: AsyncConnection[Any], patient_ids: Collection[UUID], since: datetime
) -> list[RemeasureRequest]:
    """The newest request per patient and rule whose doubtful reading is after `since`, by patient and metric."""
    async with conn.cursor(row_factory=class_row(RemeasureRequest)) as cur:
        await cur.execute(
            "SELECT DISTINCT ON (patient_id, rule) patient_id, detail -> 'explanation' ->> 'metric' AS metric, "
            "last_input_at AS reading_at, to_timestamp((detail -> 'explanation' ->> 'wait_until')::float8) AS "
            "wait_until, at AS requested_at, rule, coalesce(detail -> 'explanation' ->> 'title', rule) AS title "
            "FROM alert_transitions WHERE patient_id = ANY(%s) AND event = %s AND last_input_at > %s "
            "ORDER BY patient_id, rule, last_input_at DESC, id DESC",
            (list(patient_ids), Event.REMEASURE_REQUESTED.value, since),
        )
        found = await cur.fetchall()
    return sorted(found, key=lambda r: (str(r.patient_id), r.metric, r.reading_at))
