"""What has been shared with PMD: the only writer of `pmd_cursors` and `pmd_retries`.

Per patient a cursor names the last observation (by `stored_at`, then `id`) handed to PMD. A round reads the
observations after it that were stored at least `settle` ago (an ingest transaction that began earlier but
commits later cannot slip behind the cursor: ingest transactions are bounded far below the settling time),
sends them, and in one transaction moves the cursor past them and files each refused entry in `pmd_retries`
with the Observation as sent. A round that could not reach PMD moves nothing: the same readings go next time.
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

MAX_BACKOFF_S = 6 * 3600.0


@dataclass(frozen=True)
class Sharer:
    """A patient whose measurements may be shared now: consent in force, the municipality's client enabled."""

    patient_id: UUID
    municipality_id: UUID
    kommunenummer: str
    since: datetime
    cursor_at: datetime | None
    cursor_id: int | None


@dataclass(frozen=True)
class Retry:
    """A refused entry due for another try."""

    observation_id: int
    patient_id: UUID
    municipality_id: UUID
    kommunenummer: str
    full_url: str
    resource: dict[str, Any]
    attempts: int


def backoff(attempts: int, first_s: float) -> timedelta:
    """The wait after `attempts` failures: doubling from `first_s`, at most six hours (PMD is not urgent),
    never giving up."""
    return timedelta(seconds=min(MAX_BACKOFF_S, first_s * 2 ** max(0, attempts - 1)))


async def sharers(conn: AsyncConnection[Any]) -> list[Sharer]:
    """Every patient with a consent in force in a municipality whose PMD client is enabled."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """
        SELECT k.patient_id, p.municipality_id, m.kommunenummer, greatest(k.given_at, c.active_from) AS since,
               cur.stored_at AS cursor_at, cur.observation_id AS cursor_id
        FROM pmd_consents k
        JOIN patients p ON p.id = k.patient_id
        JOIN municipalities m ON m.id = p.municipality_id
        JOIN interop_clients c ON c.municipality_id = p.municipality_id AND c.service = 'pmd' AND c.enabled
        LEFT JOIN pmd_cursors cur ON cur.patient_id = k.patient_id
        WHERE k.withdrawn_at IS NULL
        ORDER BY k.patient_id
        """
    )
    return [Sharer(**row) for row in await cur.fetchall()]


async def next_ids(
    conn: AsyncConnection[Any], sharer: Sharer, *, metrics: Sequence[str], until: datetime, limit: int
) -> list[dict[str, Any]]:
    """The ids and storage times of the patient's next observations to share, oldest first."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """
        SELECT id, stored_at FROM observations
        WHERE patient_id = %(patient)s AND metric = ANY(%(metrics)s) AND stored_at >= %(since)s
          AND stored_at <= %(until)s
          AND (%(at)s::timestamptz IS NULL OR (stored_at, id) > (%(at)s::timestamptz, %(id)s::bigint))
        ORDER BY stored_at, id
        LIMIT %(limit)s
        """,
        {
            "patient": sharer.patient_id,
            "metrics": list(metrics),
            "since": sharer.since,
            "until": until,
            "at": sharer.cursor_at,
            "id": sharer.cursor_id,
            "limit": limit,
        },
    )
    return list(await cur.fetchall())


async def advance(
    conn: AsyncConnection[Any],
    sharer: Sharer,
    *,
    last: dict[str, Any],
    refused: Sequence[tuple[int, str, dict[str, Any], str]],
    now: datetime,
    backoff_s: float,
) -> None:
    """After a round: the cursor past `last` (its `id` and `stored_at`) and each refused entry
    (observation id, fullUrl, resource, reason) filed for retry. Call in one transaction."""
    await conn.execute(
        """
        INSERT INTO pmd_cursors (patient_id, stored_at, observation_id, updated_at) VALUES (%s, %s, %s, %s)
        ON CONFLICT (patient_id) DO UPDATE
        SET stored_at = excluded.stored_at, observation_id = excluded.observation_id, updated_at = excluded.updated_at
        """,
        (sharer.patient_id, last["stored_at"], last["id"], now),
    )
    for observation_id, url, resource, reason in refused:
        await conn.execute(
            """
            INSERT INTO pmd_retries (observation_id, patient_id, municipality_id, full_url, resource, attempts,
                                     next_attempt_at, last_error)
            VALUES (%s, %s, %s, %s, %s, 1, %s, %s)
            ON CONFLICT (observation_id) DO NOTHING
            """,
            (observation_id, sharer.patient_id, sharer.municipality_id, url, Jsonb(resource),
             now + backoff(1, backoff_s), reason[:2000]),
        )  # fmt: skip


async def claim_retry(conn: AsyncConnection[Any], *, now: datetime) -> Retry | None:
    """Lock the most overdue refused entry whose patient still consents (None when nothing is due)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """
        SELECT r.observation_id, r.patient_id, r.municipality_id, m.kommunenummer, r.full_url, r.resource, r.attempts
        FROM pmd_retries r
        JOIN municipalities m ON m.id = r.municipality_id
        WHERE r.shared_at IS NULL AND r.next_attempt_at <= %s
          AND EXISTS (SELECT 1 FROM pmd_consents k WHERE k.patient_id = r.patient_id AND k.withdrawn_at IS NULL)
        ORDER BY r.next_attempt_at
        LIMIT 1
        FOR UPDATE OF r SKIP LOCKED
        """,
        (now,),
    )
    row = await cur.fetchone()
    return Retry(**row) if row else None


async def settle_retry(
    conn: AsyncConnection[Any], retry: Retry, *, ok: bool, detail: str, now: datetime, backoff_s: float
) -> None:
    """Mark a retried entry shared, or back it off again with the new reason."""
    if ok:
        await conn.execute(
            "UPDATE pmd_retries SET shared_at = %s, attempts = attempts + 1 WHERE observation_id = %s",
            (now, retry.observation_id),
        )
        return
    attempts = retry.attempts + 1
    await conn.execute(
        "UPDATE pmd_retries SET attempts = %s, next_attempt_at = %s, last_error = %s WHERE observation_id = %s",
        (attempts, now + backoff(attempts, backoff_s), detail[:2000], retry.observation_id),
    )


async def pending(conn: AsyncConnection[Any], patient_id: UUID) -> dict[str, Any]:
    """What waits for PMD for one patient: refused entries not yet shared and the last reason."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """SELECT count(*) AS waiting, max(last_error) AS last_error FROM pmd_retries
           WHERE patient_id = %s AND shared_at IS NULL""",
        (patient_id,),
    )
    row = await cur.fetchone()
    assert row is not None
    return dict(row)


async def refused_waiting(conn: AsyncConnection[Any]) -> int:
    """How many refused entries are not yet shared (every municipality)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT count(*) AS waiting FROM pmd_retries WHERE shared_at IS NULL")
    row = await cur.fetchone()
    return int(row["waiting"]) if row else 0
