"""Emergency access (break-the-glass): a staff member opens the record of a patient outside their care teams,
for a reason chosen from a list, for a few hours (`TRYGGHEIM_EMERGENCY_ACCESS_HOURS`, 4 by default), and the
team lead reviews it afterwards (accept, or report it for follow-up).

The owner of `emergency_access`. The policy layer asks `active_grant` whether a caller holds an unexpired
grant; a patient who has blocked the caller stays closed to a plain grant, and only a grant that overrides the
block (with a reason, and only where a block exists) opens the record. Every access through a grant is audited
with the grant's reason code and id in the record's `reason` (`ActiveGrant.audit_reason`), which is how the
patient's access log (`cloud/access/access_log.py`) tells it apart. Opening and reviewing are audited in their
transactions (`emergency.open`, `emergency.accepted`, `emergency.reported`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, Literal
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row

from cloud.access import audit, blocks
from cloud.access.blocks import AccessChangeError
from cloud.access.principal import Principal
from cloud.access.roles import PATIENT_SCOPE
from common.i18n import N_

Decision = Literal["accepted", "reported"]
NOTE_MAX = 500
# How an audit record names the grant it was made through: the access log reads the grant id back from it.
AUDIT_REASON_PATTERN: Final = r"^emergency:[a-z_]+ grant:([0-9a-f-]{36})"
BLOCKED = N_("The patient has blocked your access to their record.")
NO_SUCH_GRANT = N_("No such emergency access.")


@dataclass(frozen=True)
class ActiveGrant:
    """An unexpired grant, as the policy layer needs it."""

    id: UUID
    reason_code: str
    overrides_block: bool
    expires_at: datetime

    def audit_reason(self, given: str = "") -> str:
        """The `reason` of an audit record of access through this grant: reason code and grant id first
        (matching `AUDIT_REASON_PATTERN`), then whatever reason the caller gave."""
        return f"emergency:{self.reason_code} grant:{self.id} {given}".strip()[:500]


@dataclass(frozen=True)
class Grant:
    """A grant as its holder and its reviewers see it (the note is for reviewers, never for the patient)."""

    id: UUID
    patient_id: UUID
    patient_name: str
    staff_id: UUID
    staff_name: str
    staff_role: str
    reason_code: str
    note: str
    overrides_block: bool
    opened_at: datetime
    expires_at: datetime
    active: bool
    review: Literal["pending", "accepted", "reported"]
    reviewed_by: UUID | None
    reviewer_name: str | None
    reviewed_at: datetime | None
    review_note: str


_GRANTS = (
    "SELECT g.id, g.patient_id, p.display_name AS patient_name, g.staff_id, s.display_name AS staff_name, "
    "s.role AS staff_role, g.reason_code, g.note, g.overrides_block, g.opened_at, g.expires_at, "
    "g.expires_at > now() AS active, g.review, g.reviewed_by, r.display_name AS reviewer_name, g.reviewed_at, "
    "g.review_note FROM emergency_access g JOIN patients p ON p.id = g.patient_id JOIN staff s ON s.id = g.staff_id "
    "LEFT JOIN staff r ON r.id = g.reviewed_by "
)
# Grants a reviewer may see: their municipality's, of patients in their teams (None: all), less the patients who
# have blocked the reviewer.
_REVIEWABLE = (
    "g.municipality_id = %(town)s AND (%(teams)s::uuid[] IS NULL OR p.care_team_id = ANY(%(teams)s::uuid[])) "
    "AND NOT p.id = ANY(%(hidden)s::uuid[]) "
)


async def active_grant(conn: AsyncConnection[Any], patient_id: UUID, staff_id: UUID) -> ActiveGrant | None:
    """The staff member's unexpired grant for the patient, one that overrides a block first; None if none."""
    async with conn.cursor(row_factory=class_row(ActiveGrant)) as cur:
        await cur.execute(
            "SELECT id, reason_code, overrides_block, expires_at FROM emergency_access WHERE patient_id = %s "
            "AND staff_id = %s AND expires_at > now() ORDER BY overrides_block DESC, expires_at DESC LIMIT 1",
            (patient_id, staff_id),
        )
        return await cur.fetchone()


async def _one(conn: AsyncConnection[Any], grant_id: UUID) -> Grant:
    async with conn.cursor(row_factory=class_row(Grant)) as cur:
        await cur.execute(_GRANTS + "WHERE g.id = %s", (grant_id,))
        found = await cur.fetchone()
    assert found is not None, "the grant was just written"
    return found


async def _may_open(
    conn: AsyncConnection[Any], principal: Principal, patient_id: UUID, team: UUID | None, override: bool
) -> None:
    """Refuse a grant the caller may not open, or does not need."""
    if PATIENT_SCOPE[principal.role] == "none":
        raise AccessChangeError(403, N_("Your role has no access to patient data."))
    blocked = await blocks.is_blocked(conn, patient_id, principal.id, principal.team_ids)
    if override and not blocked:
        raise AccessChangeError(422, N_("There is no block to override; ask for emergency access without overriding."))
    if blocked and not override:
        raise AccessChangeError(
            403, N_("The patient has blocked your access to their record; only an emergency override opens it.")
        )
    if not blocked and principal.may_read_patient(principal.municipality_id, team):
        raise AccessChangeError(409, N_("You already have access to this patient's record."))
    held = await active_grant(conn, patient_id, principal.id)
    if held is not None and (held.overrides_block or not blocked):
        raise AccessChangeError(409, N_("You already have emergency access to this patient's record."))


async def open_grant(
    conn: AsyncConnection[Any],
    actor: audit.Actor,
    *,
    principal: Principal,
    patient_id: UUID,
    reason: str,
    note: str = "",
    override_block: bool = False,
    hours: int,
    reasons: Collection[str],
) -> Grant:
    """Open emergency access for `principal` (a staff member of the patient's municipality) to the patient's
    record for `hours`, for a reason among `reasons`; with `override_block`, through the patient's block of
    them. Refused (AccessChangeError, nothing written): an unknown reason or a note over 500 characters (422),
    an override without a block (422), a block without an override (403), a caller who already has access
    (409). Audited (`emergency.open`) in the same transaction."""
    if reason not in reasons:
        raise AccessChangeError(422, N_("Choose a reason from the list."))
    if len(note) > NOTE_MAX:
        raise AccessChangeError(422, N_("The note may be at most 500 characters."))
    async with conn.transaction():
        # One caller opening twice at once gets one grant and one refusal.
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"emergency:{patient_id}:{principal.id}",)
        )
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT municipality_id, care_team_id FROM patients WHERE id = %s", (patient_id,))
        patient = await cur.fetchone()
        if patient is None or patient["municipality_id"] != principal.municipality_id:
            raise AccessChangeError(404, N_("No such patient."))
        await _may_open(conn, principal, patient_id, patient["care_team_id"], override_block)
        await cur.execute(
            "INSERT INTO emergency_access (municipality_id, patient_id, staff_id, reason_code, note, overrides_block, "
            "expires_at) VALUES (%s, %s, %s, %s, %s, %s, now() + make_interval(hours => %s)) "
            "RETURNING id, reason_code, overrides_block, expires_at",
            (principal.municipality_id, patient_id, principal.id, reason, note, override_block, hours),
        )
        row = await cur.fetchone()
        assert row is not None
        grant = ActiveGrant(**row)
        record = actor.record(
            "emergency.open", f"emergency_access:{grant.id}", municipality_id=principal.municipality_id,
            patient_id=patient_id,
        )  # fmt: skip
        await audit.append(conn, replace(record, reason=grant.audit_reason(record.reason)))
    return await _one(conn, grant.id)


@dataclass(frozen=True)
class ReviewScope:
    """Whose grants a reviewer sees: their municipality, their teams (None: all of it), less `hidden`."""

    municipality_id: UUID
    team_ids: Collection[UUID] | None
    hidden: Collection[UUID] = ()

    def params(self) -> dict[str, Any]:
        """The query parameters of `_REVIEWABLE`."""
        teams = None if self.team_ids is None else list(self.team_ids)
        return {"town": self.municipality_id, "teams": teams, "hidden": list(self.hidden)}


async def reviews(conn: AsyncConnection[Any], scope: ReviewScope, *, limit: int, offset: int) -> list[Grant]:
    """Grants on the patients of `scope`: pending first, then newest first."""
    async with conn.cursor(row_factory=class_row(Grant)) as cur:
        await cur.execute(
            _GRANTS + "WHERE " + _REVIEWABLE + "ORDER BY g.review = 'pending' DESC, g.opened_at DESC, g.id "
            "LIMIT %(limit)s OFFSET %(offset)s",
            {**scope.params(), "limit": limit, "offset": offset},
        )
        return await cur.fetchall()


async def review_scope(conn: AsyncConnection[Any], reviewer: Principal) -> ReviewScope:
    """What `reviewer` may review: their teams' patients (team leads) or the municipality's (administrators),
    never a patient who has blocked them."""
    teams = None if PATIENT_SCOPE[reviewer.role] == "municipality" else reviewer.team_ids
    hidden = await blocks.blocked_patients(conn, reviewer.id, reviewer.team_ids)
    return ReviewScope(reviewer.municipality_id, teams, hidden)


async def review(
    conn: AsyncConnection[Any],
    actor: audit.Actor,
    *,
    reviewer: Principal,
    grant_id: UUID,
    decision: Decision,
    note: str = "",
) -> Grant:
    """Accept a grant, or report it for follow-up, once; only a grant within the reviewer's `review_scope` and
    not their own. Audited (`emergency.accepted` / `emergency.reported`) in the same transaction."""
    if len(note) > NOTE_MAX:
        raise AccessChangeError(422, N_("The note may be at most 500 characters."))
    scope = await review_scope(conn, reviewer)
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT g.staff_id, g.patient_id, g.review FROM emergency_access g "  # noqa: S608 - fixed text
            "JOIN patients p ON p.id = g.patient_id WHERE g.id = %(grant)s AND " + _REVIEWABLE + "FOR UPDATE OF g",
            {**scope.params(), "grant": grant_id},
        )
        found = await cur.fetchone()
        if found is None:
            raise AccessChangeError(404, NO_SUCH_GRANT)
        if found["staff_id"] == reviewer.id:
            raise AccessChangeError(403, N_("You cannot review your own emergency access."))
        if found["review"] != "pending":
            raise AccessChangeError(409, N_("This emergency access has already been reviewed."))
        await cur.execute(
            "UPDATE emergency_access SET review = %s, reviewed_by = %s, reviewed_at = now(), review_note = %s "
            "WHERE id = %s",
            (decision, reviewer.id, note, grant_id),
        )
        await audit.append(
            conn,
            actor.record(
                f"emergency.{decision}", f"emergency_access:{grant_id}", municipality_id=reviewer.municipality_id,
                patient_id=found["patient_id"],
            ),
        )  # fmt: skip
    return await _one(conn, grant_id)
