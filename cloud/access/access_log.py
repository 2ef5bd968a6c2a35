"""The patient's access log (innsynslogg): who has read or changed the patient's record, and when, read from
the audit records.

What the patient sees follows Norwegian practice (Helse Vest, "Innsynslogg"; Normen fact sheet 15): each access
by staff with the person's name, role and care teams, and by the relatives the patient invited (by the name the
patient gave them), whether it read or changed something, and for emergency access the
reason chosen from the list, never the free-text note. Accesses through an emergency grant, and through one that
overrode the patient's block, are flagged. Only allowed accesses are listed (a refusal showed nothing), and
only records of the patient's own municipality. The break-the-glass request itself (`emergency.request`) is left
out: its outcome, `emergency.open`, is the entry.

One service for both readers: staff acting on the patient's behalf (`GET /api/v1/patients/{id}/access-log`) and
the patient themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from cloud.access.emergency import AUDIT_REASON_PATTERN

# Access records of routes whose change has a record of its own, which is the one the patient reads.
_SAID_BY_THEIR_CHANGE = ["emergency.request", "blocks.change"]
MAX_ENTRIES = 500


@dataclass(frozen=True)
class AccessLogEntry:
    """One access to the patient's record as the patient reads it."""

    id: int
    at: datetime
    staff_id: UUID | None
    display_name: str
    role: str | None
    kind: Literal["read", "write"]
    action: str
    emergency: bool
    reason_code: str | None  # the chosen reason of emergency access; word it with `reasons.reason_text`
    block_override: bool
    teams: str = ""  # the care teams the person acted in, by name


_ENTRIES = (
    "SELECT a.id, a.at, s.id AS staff_id, coalesce(s.display_name, r.display_name, '') AS display_name, a.role, "
    "a.action, a.resource, g.reason_code, coalesce(g.overrides_block, false) AS overrides_block, "
    "coalesce((SELECT string_agg(c.name, ', ' ORDER BY c.name) FROM care_teams c WHERE c.id = ANY(a.team_ids)), '') "
    "AS teams FROM audit_log a JOIN patients p ON p.id = a.patient_id AND p.municipality_id = a.municipality_id "
    "LEFT JOIN staff s ON a.principal_kind = 'staff' AND s.id::text = a.principal_id "
    "LEFT JOIN LATERAL (SELECT x.display_name FROM relatives x WHERE a.principal_kind = 'relative' "
    "AND x.person_id::text = a.principal_id AND x.patient_id = a.patient_id ORDER BY x.consented_at DESC LIMIT 1) r "
    "ON true "
    "LEFT JOIN emergency_access g ON g.id::text = substring(a.reason FROM %(grant)s) "
    "AND g.patient_id = a.patient_id AND g.staff_id::text = a.principal_id "
    "WHERE a.patient_id = %(patient)s AND a.principal_kind IN ('staff', 'relative') AND a.outcome = 'allowed' "
    "AND NOT a.action = ANY(%(hidden)s) AND (%(since)s::timestamptz IS NULL OR a.at >= %(since)s) "
    "AND (%(before)s::bigint IS NULL OR a.id < %(before)s) ORDER BY a.id DESC LIMIT %(limit)s"
)


def _entry(row: dict[str, Any]) -> AccessLogEntry:
    # Patient routes and pages record `METHOD path`; a change's own record names what it changed, a write.
    kind: Literal["read", "write"] = "read" if row["resource"].startswith(("GET ", "HEAD ")) else "write"
    return AccessLogEntry(
        id=row["id"], at=row["at"], staff_id=row["staff_id"], display_name=row["display_name"], role=row["role"],
        kind=kind, action=row["action"], emergency=row["reason_code"] is not None, reason_code=row["reason_code"],
        block_override=row["overrides_block"], teams=row["teams"],
    )  # fmt: skip


async def entries(
    conn: AsyncConnection[Any],
    patient_id: UUID,
    *,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AccessLogEntry]:
    """The patient's access log, newest first: accesses since `since` (all when None), older than the entry
    `before_id` when paging on, at most `limit` (capped at 500)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        _ENTRIES,
        {
            "patient": patient_id, "grant": AUDIT_REASON_PATTERN, "hidden": _SAID_BY_THEIR_CHANGE, "since": since,
            "before": before_id, "limit": max(1, min(limit, MAX_ENTRIES)),
        },
    )  # fmt: skip
    return [_entry(row) for row in await cur.fetchall()]
