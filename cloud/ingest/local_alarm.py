"""What the gateway did locally for an alarm its uplink could not deliver: the `raised_locally` attempts that
ingest checked (cloud/ingest/validate.py) and kept in `local_alarm_attempts` (cloud/ingest/store.py), read
back for an alert's detail and timeline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row

# The readings of the alert: its rule's metrics up to its latest input, after the previous alert of the same
# rule ended (a button pressed yesterday belongs to yesterday's alert).
_SQL = (
    "SELECT o.t AS reading_at, a.at, a.path, a.ok, a.detail FROM observations o JOIN local_alarm_attempts a "
    "USING (gateway_id, outbox_epoch, seq) WHERE o.patient_id = %(patient)s AND o.metric = ANY(%(metrics)s) "
    "AND o.t > %(since)s AND o.t <= %(until)s AND o.t > coalesce((SELECT max(resolved_at) FROM alerts "
    "WHERE patient_id = %(patient)s AND rule = %(rule)s AND id < %(alert)s), '-infinity') ORDER BY o.t, a.at, a.id"
)


async def raised_locally(
    conn: AsyncConnection[Any], *, alert_id: int, rule: str, patient_id: UUID, metrics: Sequence[str],
    since: datetime, until: datetime,
) -> list[dict[str, Any]]:  # fmt: skip
    """The gateway's local attempts (at, path, ok, detail, and the time of the reading they were for) for the
    alert's readings between `since` and `until`, oldest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            _SQL,
            {"patient": patient_id, "metrics": list(metrics), "since": since,
             "until": until, "rule": rule, "alert": alert_id},
        )  # fmt: skip
        return await cur.fetchall()
