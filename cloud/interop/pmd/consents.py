"""The patient's consent to share measurements with PMD: the only writer of `pmd_consents`.

A consent is recorded by the person who obtained it, with a note of how; a withdrawal is recorded on the row,
which is never deleted, so the record shows what was shared under which consent. At most one live consent per
patient; sharing reads it on every round, so a withdrawal stops the next batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from psycopg.rows import class_row

from common.i18n import N_


@dataclass(frozen=True)
class PmdConsent:
    """One consent row."""

    id: int
    patient_id: UUID
    note: str
    given_at: datetime
    recorded_by: UUID
    withdrawn_at: datetime | None
    withdrawn_by: UUID | None


NOTE_TOO_SHORT = N_("Say how the consent was given (at least 3 characters).")
ALREADY_GIVEN = N_("The patient already has a consent to share with PMD in force.")
NONE_IN_FORCE = N_("The patient has no consent to share with PMD in force.")


class ConsentError(ValueError):
    """A consent that cannot be recorded or withdrawn as asked (the message, a gettext msgid, says why)."""


_COLUMNS = "id, patient_id, note, given_at, recorded_by, withdrawn_at, withdrawn_by"


async def live(conn: AsyncConnection[Any], patient_id: UUID) -> PmdConsent | None:
    """The patient's consent in force, if any."""
    cur = conn.cursor(row_factory=class_row(PmdConsent))
    await cur.execute(
        f"SELECT {_COLUMNS} FROM pmd_consents WHERE patient_id = %s AND withdrawn_at IS NULL",  # noqa: S608
        (patient_id,),
    )
    return await cur.fetchone()


async def record(
    conn: AsyncConnection[Any], *, municipality_id: UUID, patient_id: UUID, note: str, given_at: datetime, by: UUID
) -> PmdConsent:
    """Record a consent (ConsentError when one is already in force or the note says nothing)."""
    if len(note.strip()) < 3:
        raise ConsentError(NOTE_TOO_SHORT)
    cur = conn.cursor(row_factory=class_row(PmdConsent))
    try:
        async with conn.transaction():
            await cur.execute(
                f"""INSERT INTO pmd_consents (municipality_id, patient_id, note, given_at, recorded_by)
                    VALUES (%s, %s, %s, %s, %s) RETURNING {_COLUMNS}""",  # noqa: S608
                (municipality_id, patient_id, note.strip()[:2000], given_at, by),
            )
    except UniqueViolation:
        raise ConsentError(ALREADY_GIVEN) from None
    found = await cur.fetchone()
    assert found is not None
    return found


async def withdraw(conn: AsyncConnection[Any], *, patient_id: UUID, at: datetime, by: UUID) -> PmdConsent:
    """Record the withdrawal of the consent in force (ConsentError when there is none)."""
    cur = conn.cursor(row_factory=class_row(PmdConsent))
    await cur.execute(
        f"""UPDATE pmd_consents SET withdrawn_at = %s, withdrawn_by = %s
            WHERE patient_id = %s AND withdrawn_at IS NULL RETURNING {_COLUMNS}""",  # noqa: S608
        (at, by, patient_id),
    )
    found = await cur.fetchone()
    if found is None:
        raise ConsentError(NONE_IN_FORCE)
    return found
