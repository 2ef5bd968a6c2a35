"""Blocking (sperring): a patient keeps named staff members or whole care teams out of their record
(pasientjournalloven § 7; helsepersonelloven § 21 a forbids reading without a service need).

The owner of `access_blocks`. A block is asked for by the patient, online or through a staff member who
registers it on their behalf (`requested_by`), and lifted the same ways; lifting keeps the row. A blocked person
is refused the record whatever their role, also through plain emergency access: only an emergency override
with a reason opens it (`cloud/access/emergency.py`), and lists over many patients leave the patient out
(`blocked_patients`, applied through `PatientScopeFilter.hidden`). Every change is audited in its transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from psycopg import AsyncConnection, errors
from psycopg.rows import class_row, dict_row

from cloud.access import audit
from common.i18n import N_

Requester = Literal["patient", "staff"]


class AccessChangeError(Exception):
    """A change to who may see a patient that cannot be made: `status` is the HTTP status it maps to and
    `message` a catalogue source text each answer translates for its reader. Nothing was written."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Block:
    """One block as listed: whom it keeps out, who asked, and whether and when it was lifted."""

    id: UUID
    patient_id: UUID
    staff_id: UUID | None
    staff_name: str | None
    care_team_id: UUID | None
    care_team_name: str | None
    requested_by: Requester
    created_by: UUID | None
    created_at: datetime
    lifted_at: datetime | None
    lifted_on: Requester | None
    lifted_by: UUID | None

    @property
    def active(self) -> bool:
        """Whether the block still holds."""
        return self.lifted_at is None


_LIST = (
    "SELECT b.id, b.patient_id, b.staff_id, s.display_name AS staff_name, b.care_team_id, t.name AS care_team_name, "
    "b.requested_by, b.created_by, b.created_at, b.lifted_at, b.lifted_on, b.lifted_by FROM access_blocks b "
    "LEFT JOIN staff s ON s.id = b.staff_id LEFT JOIN care_teams t ON t.id = b.care_team_id "
)
# The caller is blocked from a patient by their own id or through one of their care teams.
_BLOCKS_CALLER = "b.lifted_at IS NULL AND (b.staff_id = %(staff)s OR b.care_team_id = ANY(%(teams)s::uuid[]))"


async def list_blocks(conn: AsyncConnection[Any], patient_id: UUID, *, include_lifted: bool = True) -> list[Block]:
    """The patient's blocks, active first, newest first."""
    where = "WHERE b.patient_id = %s" + ("" if include_lifted else " AND b.lifted_at IS NULL")
    async with conn.cursor(row_factory=class_row(Block)) as cur:
        await cur.execute(_LIST + where + " ORDER BY b.lifted_at IS NOT NULL, b.created_at DESC, b.id", (patient_id,))
        return await cur.fetchall()


async def is_blocked(conn: AsyncConnection[Any], patient_id: UUID, staff_id: UUID, team_ids: Collection[UUID]) -> bool:
    """Whether the patient has blocked this staff member, by name or through one of `team_ids`."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT EXISTS (SELECT 1 FROM access_blocks b WHERE b.patient_id = %(patient)s AND "  # noqa: S608 - fixed
        + _BLOCKS_CALLER
        + ") AS x",
        {"patient": patient_id, "staff": staff_id, "teams": list(team_ids)},
    )
    row = await cur.fetchone()
    return bool(row and row["x"])


async def blocked_patients(conn: AsyncConnection[Any], staff_id: UUID, team_ids: Collection[UUID]) -> frozenset[UUID]:
    """The patients who have blocked this staff member (by name or through a team), for lists to leave out."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT DISTINCT b.patient_id FROM access_blocks b WHERE " + _BLOCKS_CALLER,  # noqa: S608 - fixed text
        {"staff": staff_id, "teams": list(team_ids)},
    )
    return frozenset(row["patient_id"] for row in await cur.fetchall())


async def _one(conn: AsyncConnection[Any], block_id: UUID) -> Block:
    async with conn.cursor(row_factory=class_row(Block)) as cur:
        await cur.execute(_LIST + "WHERE b.id = %s", (block_id,))
        found = await cur.fetchone()
    assert found is not None, "the block was just written"
    return found


def _requested(record: audit.AuditRecord, requested_by: Requester) -> audit.AuditRecord:
    """The record of a change with who asked for it ahead of the caller's own reason, if any."""
    return replace(record, reason=f"requested_by:{requested_by} {record.reason}".strip()[:500])


def _who(requested_by: Requester, staff_member: UUID | None) -> None:
    if (requested_by == "staff") != (staff_member is not None):
        raise ValueError("a block registered by staff names the staff member; one the patient asks for does not")


async def _target_municipality(
    conn: AsyncConnection[Any], patient_id: UUID, staff_id: UUID | None, care_team_id: UUID | None
) -> UUID:
    """The patient's municipality, once the block's target is known to be of the same one."""
    if (staff_id is None) == (care_team_id is None):
        raise AccessChangeError(422, N_("Name either one staff member or one care team to block."))
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT p.municipality_id, EXISTS (SELECT 1 FROM staff s WHERE s.id = %(staff)s AND "
        "s.municipality_id = p.municipality_id) AS staff_found, EXISTS (SELECT 1 FROM care_teams t WHERE "
        "t.id = %(team)s AND t.municipality_id = p.municipality_id) AS team_found FROM patients p WHERE p.id = %(p)s",
        {"p": patient_id, "staff": staff_id, "team": care_team_id},
    )
    row = await cur.fetchone()
    if row is None:
        raise AccessChangeError(404, N_("No such patient."))
    if staff_id is not None and not row["staff_found"]:
        raise AccessChangeError(404, N_("No such staff member."))
    if care_team_id is not None and not row["team_found"]:
        raise AccessChangeError(404, N_("No such care team."))
    return UUID(str(row["municipality_id"]))


async def add_block(
    conn: AsyncConnection[Any],
    actor: audit.Actor,
    *,
    patient_id: UUID,
    staff_id: UUID | None = None,
    care_team_id: UUID | None = None,
    requested_by: Requester,
    staff_member: UUID | None = None,
) -> Block:
    """Block one staff member or one care team (of the patient's municipality) from the patient's record, as
    the patient asked (`requested_by="patient"`, `staff_member` None) or as `staff_member` registered on their
    behalf (`requested_by="staff"`); audited (`block.add`) in the same transaction. 409 if already blocked."""
    _who(requested_by, staff_member)
    async with conn.transaction():
        municipality = await _target_municipality(conn, patient_id, staff_id, care_team_id)
        cur = conn.cursor(row_factory=dict_row)
        try:
            async with conn.transaction():
                await cur.execute(
                    "INSERT INTO access_blocks (municipality_id, patient_id, staff_id, care_team_id, requested_by, "
                    "created_by) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                    (municipality, patient_id, staff_id, care_team_id, requested_by, staff_member),
                )
        except errors.UniqueViolation:
            raise AccessChangeError(409, N_("This block already exists.")) from None
        row = await cur.fetchone()
        assert row is not None
        block_id = UUID(str(row["id"]))
        resource = f"access_block:{block_id}"
        record = actor.record("block.add", resource, municipality_id=municipality, patient_id=patient_id)
        await audit.append(conn, _requested(record, requested_by))
    return await _one(conn, block_id)


async def lift_block(
    conn: AsyncConnection[Any],
    actor: audit.Actor,
    *,
    patient_id: UUID,
    block_id: UUID,
    requested_by: Requester,
    staff_member: UUID | None = None,
) -> Block:
    """Lift one of the patient's active blocks, asked for by the patient or registered by `staff_member` on
    their behalf; audited (`block.lift`) in the same transaction. 404 if the patient has no such active block."""
    _who(requested_by, staff_member)
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "UPDATE access_blocks SET lifted_at = now(), lifted_on = %s, lifted_by = %s "
            "WHERE id = %s AND patient_id = %s AND lifted_at IS NULL RETURNING municipality_id",
            (requested_by, staff_member, block_id, patient_id),
        )
        row = await cur.fetchone()
        if row is None:
            raise AccessChangeError(404, N_("The patient has no such active block."))
        record = actor.record(
            "block.lift", f"access_block:{block_id}", municipality_id=row["municipality_id"], patient_id=patient_id
        )
        await audit.append(conn, _requested(record, requested_by))
    return await _one(conn, block_id)
