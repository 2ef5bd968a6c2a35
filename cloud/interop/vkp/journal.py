"""The VKP journal outbox: the only writer of `vkp_journal` and `vkp_journal_attempts` (migration 0022).

A resolved alert is found by a sweep over recently resolved alerts (`alerts_resolved_at`) of municipalities
with an enabled VKP client, its document frozen into a row, and the row sent until VKP accepts it. Sending
holds the row's lock (`FOR UPDATE SKIP LOCKED`), so two processes never send one row at once and a process
that dies mid-send leaves the row to be sent again (the document's identifier is stable, so VKP can tell a
repeat). Rows are never deleted and never given up: failures back off to at most an hour and keep the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

MAX_BACKOFF_S = 3600.0


@dataclass(frozen=True)
class Candidate:
    """A resolved alert that must be journaled and has no row yet."""

    alert_id: int
    patient_id: UUID
    municipality_id: UUID
    rule: str
    alert_class: str
    severity: str
    resolved_at: datetime


@dataclass(frozen=True)
class Due:
    """A row to send now, with where to send it."""

    alert_id: int
    municipality_id: UUID
    patient_id: UUID
    orgnr: str | None
    document: dict[str, Any]
    alert_code: str
    attempts: int


@dataclass(frozen=True)
class JournalState:
    """Where an alert's journaling stands, for the worklist and the alert's page."""

    alert_id: int
    alert_code: str
    journaled_at: datetime | None
    attempts: int
    last_error: str | None
    next_attempt_at: datetime

    @property
    def failed(self) -> bool:
        """Tried and not yet accepted: the worklist says "journaling failed" with the reason."""
        return self.journaled_at is None and self.last_error is not None


def backoff(attempts: int, first_s: float) -> timedelta:
    """The wait after `attempts` failures: doubling from `first_s`, at most an hour, never giving up."""
    return timedelta(seconds=min(MAX_BACKOFF_S, first_s * 2 ** max(0, attempts - 1)))


async def candidates(
    conn: AsyncConnection[Any],
    *,
    now: datetime,
    window: timedelta,
    limit: int,
    skip_rules: Sequence[str],
    skip_classes: Sequence[str],
    after: tuple[datetime, int] | None = None,
) -> list[Candidate]:
    """Alerts resolved within `window` before `now` (and after their municipality's VKP client became active)
    that have no journal row, leaving out the rules and classes never journaled; members of an episode are
    journaled with their episode. Oldest first, after `after` (resolved_at, id) for the next page."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """
        SELECT a.id AS alert_id, a.patient_id, p.municipality_id, a.rule, a.alert_class, a.severity, a.resolved_at
        FROM alerts a
        JOIN patients p ON p.id = a.patient_id
        JOIN interop_clients c ON c.municipality_id = p.municipality_id AND c.service = 'vkp' AND c.enabled
        WHERE a.resolved_at >= %(since)s AND a.resolved_at <= %(now)s AND a.resolved_at >= c.active_from
          AND a.episode_id IS NULL AND a.rule <> ALL(%(rules)s) AND a.alert_class <> ALL(%(classes)s)
          AND NOT EXISTS (SELECT 1 FROM vkp_journal j WHERE j.alert_id = a.id)
          AND (%(after_at)s::timestamptz IS NULL
               OR (a.resolved_at, a.id) > (%(after_at)s::timestamptz, %(after_id)s::bigint))
        ORDER BY a.resolved_at, a.id
        LIMIT %(limit)s
        """,
        {
            "since": now - window,
            "now": now,
            "limit": limit,
            "rules": list(skip_rules),
            "classes": list(skip_classes),
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else None,
        },
    )
    return [Candidate(**row) for row in await cur.fetchall()]


async def add(
    conn: AsyncConnection[Any], candidate: Candidate, *, document: dict[str, Any], alert_code: str, now: datetime
) -> bool:
    """Freeze an alert's document into the outbox; False when another process did it first."""
    cur = await conn.execute(
        """
        INSERT INTO vkp_journal (alert_id, municipality_id, patient_id, document, alert_code, created_at,
                                 next_attempt_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (alert_id) DO NOTHING
        """,
        (candidate.alert_id, candidate.municipality_id, candidate.patient_id, Jsonb(document), alert_code, now, now),
    )
    return cur.rowcount == 1


async def claim_due(conn: AsyncConnection[Any], *, now: datetime) -> Due | None:
    """Lock the most overdue row not yet journaled (None when nothing is due). Call inside a transaction and
    record the attempt in the same one."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """
        SELECT j.alert_id, j.municipality_id, j.patient_id, m.orgnr, j.document, j.alert_code, j.attempts
        FROM vkp_journal j JOIN municipalities m ON m.id = j.municipality_id
        WHERE j.journaled_at IS NULL AND j.next_attempt_at <= %s
        ORDER BY j.next_attempt_at
        LIMIT 1
        FOR UPDATE OF j SKIP LOCKED
        """,
        (now,),
    )
    row = await cur.fetchone()
    return Due(**row) if row else None


async def record(
    conn: AsyncConnection[Any],
    due: Due,
    *,
    ok: bool,
    status: int | None,
    detail: str,
    process: str,
    now: datetime,
    backoff_s: float,
    receipt: dict[str, Any] | None = None,
) -> None:
    """Keep the attempt; on success mark the row journaled, else back off and keep the reason."""
    await conn.execute(
        "INSERT INTO vkp_journal_attempts (alert_id, at, ok, status, detail, process) VALUES (%s, %s, %s, %s, %s, %s)",
        (due.alert_id, now, ok, status, detail[:2000], process),
    )
    attempts = due.attempts + 1
    if ok:
        await conn.execute(
            """UPDATE vkp_journal SET attempts = %s, journaled_at = %s, last_error = NULL, receipt = %s
               WHERE alert_id = %s""",
            (attempts, now, Jsonb(receipt) if receipt is not None else None, due.alert_id),
        )
        return
    await conn.execute(
        "UPDATE vkp_journal SET attempts = %s, last_error = %s, next_attempt_at = %s WHERE alert_id = %s",
        (attempts, detail[:2000], now + backoff(attempts, backoff_s), due.alert_id),
    )


async def states(conn: AsyncConnection[Any], alert_ids: list[int]) -> dict[int, JournalState]:
    """The journaling state of these alerts (alerts without a row are absent)."""
    if not alert_ids:
        return {}
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """SELECT alert_id, alert_code, journaled_at, attempts, last_error, next_attempt_at FROM vkp_journal
           WHERE alert_id = ANY(%s)""",
        (alert_ids,),
    )
    return {row["alert_id"]: JournalState(**row) for row in await cur.fetchall()}


async def attempts_of(conn: AsyncConnection[Any], alert_id: int) -> list[dict[str, Any]]:
    """Every attempt to journal one alert, oldest first (the alert's page and the tests read them)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT at, ok, status, detail, process FROM vkp_journal_attempts WHERE alert_id = %s ORDER BY id",
        (alert_id,),
    )
    return list(await cur.fetchall())


async def failing(conn: AsyncConnection[Any]) -> int:
    """How many documents have failed and still wait for VKP (every municipality)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT count(*) AS failing FROM vkp_journal WHERE journaled_at IS NULL AND last_error IS NOT NULL"
    )
    row = await cur.fetchone()
    return int(row["failing"]) if row else 0
