"""Folding open sensor-silence alerts under their patient's open gateway-offline alert, and releasing them.

The store owns the `alerts` writes; cloud/escalation/inhibition.py decides when (module docstring there).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

HEARTBEAT_RULE = "live.gateway_heartbeat"
SILENT_RULES = r"live.%\_silent"  # the protocol's `silent` detector rules (alerts/protocols/_liveness.yaml)


async def fold(conn: AsyncConnection[Any], at: datetime) -> list[int]:
    """Fold every open, unfolded silence alert under its patient's open gateway-offline alert: its chain holds
    (no next due time). Returns the folded alert ids."""
    cur = await conn.execute(
        "UPDATE alerts s SET inhibited_by = g.id, next_due_at = NULL, updated_at = %s FROM alerts g "
        "WHERE g.patient_id = s.patient_id AND g.rule = %s AND g.resolved_at IS NULL "
        "AND s.rule LIKE %s AND s.resolved_at IS NULL AND s.inhibited_by IS NULL RETURNING s.id",
        (at, HEARTBEAT_RULE, SILENT_RULES),
    )
    return sorted(int(row[0]) for row in await cur.fetchall())


async def release(conn: AsyncConnection[Any], at: datetime, due: datetime) -> list[int]:
    """Release the alerts folded under a gateway-offline alert that has resolved; a still-open one escalates
    again from `due`. Returns the released alert ids."""
    cur = await conn.execute(
        "UPDATE alerts s SET inhibited_by = NULL, updated_at = %s, "
        "next_due_at = CASE WHEN s.resolved_at IS NULL AND s.escalation IS NOT NULL THEN %s::timestamptz END "
        "FROM alerts g WHERE g.id = s.inhibited_by AND g.resolved_at IS NOT NULL RETURNING s.id",
        (at, due),
    )
    return sorted(int(row[0]) for row in await cur.fetchall())
