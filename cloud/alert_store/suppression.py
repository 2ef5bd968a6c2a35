"""What detection must not notify: a patient's pauses (hospital stays) and per-rule silences.

The only writer of `patient_pauses` and `alert_silences`. Nurses set them through the routes; detection reads
them (`cloud.evaluation.state`) and marks a pause reminded when it has told the team that the pause ended. A
nurse may also end the current pause early (the patient is home again): the pause then counts as reminded,
since the person who ended it is the one who would otherwise be told.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row

T = TypeVar("T")


@dataclass(frozen=True)
class CurrentPause:
    """The pause in force: when it started, its end (None: until someone ends it), why and who set it."""

    id: int
    starts_at: datetime
    until: datetime | None
    reason: str
    set_by: UUID


@dataclass(frozen=True)
class Stored:
    """A stored pause or silence: its id and its end (a pause may be open-ended)."""

    id: int
    until: datetime | None


async def _rows(conn: AsyncConnection[Any], shape: type[T], statement: str, params: tuple[Any, ...]) -> list[T]:
    async with conn.cursor(row_factory=class_row(shape)) as cur:
        await cur.execute(statement, params)
        return await cur.fetchall()


async def _insert(conn: AsyncConnection[Any], statement: str, params: tuple[Any, ...]) -> Stored:
    [row] = await _rows(conn, Stored, statement, params)
    return row


async def add_pause(
    conn: AsyncConnection[Any],
    patient_id: UUID,
    *,
    starts_at: datetime | None,
    until: datetime | None,
    reason: str,
    set_by: UUID,
) -> Stored:
    """Pause the patient's vitals rules from `starts_at` (now when None) until `until` (open-ended when None)."""
    return await _insert(
        conn,
        "INSERT INTO patient_pauses (patient_id, starts_at, until, reason, set_by) "
        "VALUES (%s, coalesce(%s, now()), %s, %s, %s) RETURNING id, until",
        (patient_id, starts_at, until, reason, set_by),
    )


async def add_silence(
    conn: AsyncConnection[Any], patient_id: UUID, *, rule: str, until: datetime, reason: str, set_by: UUID
) -> Stored:
    """Block new alerts of `rule` for the patient until `until`."""
    return await _insert(
        conn,
        "INSERT INTO alert_silences (patient_id, rule, until, reason, set_by) VALUES (%s, %s, %s, %s, %s) "
        "RETURNING id, until",
        (patient_id, rule, until, reason, set_by),
    )


async def mark_pauses_reminded(conn: AsyncConnection[Any], patient_id: UUID, at: datetime) -> None:
    """Record that the end of every pause that ended by `at` has been told (the reminder is sent once)."""
    await conn.execute(
        "UPDATE patient_pauses SET reminded_at = %s WHERE patient_id = %s AND reminded_at IS NULL AND until <= %s",
        (at, patient_id, at),
    )


async def current_pause(conn: AsyncConnection[Any], patient_id: UUID) -> CurrentPause | None:
    """The patient's pause in force now (the latest started, if pauses overlap), or None."""
    found = await _rows(
        conn,
        CurrentPause,
        "SELECT id, starts_at, until, reason, set_by FROM patient_pauses WHERE patient_id = %s "
        "AND starts_at <= now() AND (until IS NULL OR until > now()) ORDER BY starts_at DESC, id DESC LIMIT 1",
        (patient_id,),
    )
    return found[0] if found else None


async def end_pause(conn: AsyncConnection[Any], patient_id: UUID) -> list[Stored]:
    """End every pause of the patient in force now, at once (vitals rules run again from the next evaluation),
    and mark them reminded so detection raises no "pause ended" reminder for what a person just did. Returns
    the pauses ended (none when nothing was paused); a pause that has not started yet is left as it is."""
    return await _rows(
        conn,
        Stored,
        "UPDATE patient_pauses SET until = now(), reminded_at = now() WHERE patient_id = %s "
        "AND starts_at < now() AND (until IS NULL OR until > now()) RETURNING id, until",
        (patient_id,),
    )
