"""Reading baseline proposals: a patient's, those waiting in a nurse's scope, and one by id.

`cloud.evaluation.baselines` makes and decides them; this module only reads.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row


@dataclass(frozen=True)
class Proposal:
    """A proposal: the limits per rule with the figures behind them, the days left out because the patient had
    a clinical alert open on them (and how many), and the decision once made."""

    id: int
    patient_id: UUID
    status: str
    occasion: str
    period_from: datetime
    period_to: datetime
    method: dict[str, Any]
    rules: list[dict[str, Any]]
    skipped: dict[str, str]
    left_out_days: list[date]
    left_out_count: int
    created_at: datetime
    decided_by: UUID | None
    decided_at: datetime | None
    reason: str | None
    review_by: date | None


_COMPUTED = {"left_out_count": "cardinality(b.left_out_days) AS left_out_count"}
_COLUMNS = ", ".join(_COMPUTED.get(f.name, f"b.{f.name}") for f in fields(Proposal))


async def _select(conn: AsyncConnection[Any], where: str, params: tuple[Any, ...]) -> list[Proposal]:
    async with conn.cursor(row_factory=class_row(Proposal)) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM baseline_proposals b {where}", params)  # noqa: S608 - fixed text
        return await cur.fetchall()


async def of_patient(conn: AsyncConnection[Any], patient_id: UUID, limit: int) -> list[Proposal]:
    """The patient's proposals, newest first (the waiting one, if any, is the first)."""
    return await _select(conn, "WHERE b.patient_id = %s ORDER BY b.id DESC LIMIT %s", (patient_id, limit))


async def waiting(
    conn: AsyncConnection[Any],
    municipality_id: UUID,
    team_ids: Collection[UUID] | None,
    hidden: Collection[UUID] = (),
) -> list[Proposal]:
    """Proposals waiting for a decision among the municipality's patients (of `team_ids` when given, less
    `hidden`: those who blocked the caller), oldest first: a task list of at most 500."""
    teams = list(team_ids) if team_ids is not None else None
    return await _select(
        conn,
        "JOIN patients p ON p.id = b.patient_id WHERE b.status = 'proposed' AND b.municipality_id = %s "
        "AND p.municipality_id = %s AND (%s::uuid[] IS NULL OR p.care_team_id = ANY(%s::uuid[])) "
        "AND NOT p.id = ANY(%s::uuid[]) ORDER BY b.created_at, b.id LIMIT 500",
        (municipality_id, municipality_id, teams, teams, list(hidden)),
    )


async def waiting_for(conn: AsyncConnection[Any], patient_id: UUID) -> Proposal | None:
    """The patient's proposal that waits for a decision, if any."""
    found = await _select(conn, "WHERE b.patient_id = %s AND b.status = 'proposed'", (patient_id,))
    return found[0] if found else None


async def by_id(conn: AsyncConnection[Any], proposal_id: int) -> Proposal | None:
    """One proposal."""
    found = await _select(conn, "WHERE b.id = %s", (proposal_id,))
    return found[0] if found else None
