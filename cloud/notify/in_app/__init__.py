"""In-app channel: the care team's worklist. The alert is already in the worklist once it is open; this
channel records the step and pushes a live event to every signed-in screen through PostgreSQL NOTIFY, which
`cloud.worklist.live` fans out to server-sent-event clients on every cloud process."""

from __future__ import annotations

import json
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

WORKLIST_CHANNEL = "tryggheim_worklist"


async def push(conn: AsyncConnection[Any], event: str, alert_id: int) -> None:
    """Queue a live worklist event for `alert_id` (delivered when the caller's transaction commits).

    The payload names the alert's municipality and care team so each process can send it only to screens
    allowed to see that patient; it carries no name or value.
    """
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT a.patient_id, p.municipality_id, p.care_team_id, a.severity, a.state, a.rule FROM alerts a "
        "JOIN patients p ON p.id = a.patient_id WHERE a.id = %s",
        (alert_id,),
    )
    row = await cur.fetchone()
    if row is None:
        return
    payload = {
        "event": event,
        "alert_id": alert_id,
        "patient_id": str(row["patient_id"]),
        "municipality_id": str(row["municipality_id"]),
        "care_team_id": None if row["care_team_id"] is None else str(row["care_team_id"]),
        "severity": row["severity"],
        "state": row["state"],
        "rule": row["rule"],
    }
    await conn.execute("SELECT pg_notify(%s, %s)", (WORKLIST_CHANNEL, json.dumps(payload)))
