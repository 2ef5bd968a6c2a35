"""Enrolling a kit through the pages: the code an administrator or installer creates for a home, and the
installer's confirmation on site that the home on the screen is the home they are standing in.

A code made here (`needs_confirmation`) is not usable by a gateway until an installer of the home's
municipality has confirmed the home; a gateway that tries earlier is told to wait (`credentials.enrol`
raises `EnrolmentPending`, which counts as no failure). Rejecting the home ends the code for good. Codes made
with the command line (`tryggheim admin gateway enrol`) are usable at once: the operator at the database is
trusted. Only the code's digest is stored; pages and the API name an enrolment by its `id`.

The owning store of those decisions: each creation, confirmation, rejection and each refused attempt on
another municipality's home is audited here, in the transaction of the change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal, LiteralString
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row
from pydantic import BaseModel, ConfigDict, computed_field

from cloud.access import audit
from cloud.access.secrets import token_digest
from cloud.gateways.credentials import CODE_LIFETIME, check_throttle, new_code, normalise_code, record_failure
from cloud.registry.errors import ConflictError, NotFoundError
from common.i18n import N_

State = Literal["waiting", "ready", "used", "expired", "rejected"]
NO_SUCH_HOME = N_("No such home in your municipality.")
NO_SUCH_CODE = N_("No such enrolment code. Check the code, or ask for a new one.")
FOREIGN = N_("This code is for a home in another municipality. Nothing was changed.")
DECIDED = N_("This code can no longer be confirmed or rejected: it is used, expired or rejected.")


def enrolment_url(public_url: str, code: str) -> str:
    """The enrolment page for `code` on the service at `public_url`, with the code in the fragment (a browser
    never sends it, so it lands in no access log)."""
    return f"{public_url.rstrip('/')}/enrol#code={code}"


class ForeignHomeError(NotFoundError):
    """The code or home belongs to another municipality: answered like one that does not exist (404), and
    audited as a refused attempt."""


class Enrolment(BaseModel):
    """One enrolment code as the pages and the API show it: the home with its address and residents' names
    (no health data), and where the code stands."""

    model_config = ConfigDict(frozen=True)

    id: int
    home_id: UUID
    municipality_id: UUID
    address: str
    residents: list[str]
    created_at: datetime
    expires_at: datetime
    needs_confirmation: bool
    confirmed_at: datetime | None
    confirmed_by: str | None
    rejected_at: datetime | None
    used_at: datetime | None
    gateway_id: UUID | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def state(self) -> State:
        """`waiting` for the installer's confirmation, `ready` for the gateway, or ended (`used`, `expired`,
        `rejected`)."""
        if self.used_at is not None:
            return "used"
        if self.rejected_at is not None:
            return "rejected"
        if self.expires_at <= datetime.now(UTC):
            return "expired"
        return "waiting" if self.needs_confirmation and self.confirmed_at is None else "ready"


_SELECT = """
    SELECT c.id, c.home_id, c.municipality_id, h.address, c.created_at, c.expires_at, c.needs_confirmation,
           c.confirmed_at, s.display_name AS confirmed_by, c.rejected_at, c.used_at, c.gateway_id,
           coalesce((SELECT array_agg(p.display_name ORDER BY p.display_name) FROM patients p
                     WHERE p.home_id = c.home_id AND p.lifecycle NOT IN ('discharged', 'deceased')), '{}') AS residents
    FROM enrolment_codes c JOIN homes h ON h.id = c.home_id LEFT JOIN staff s ON s.id = c.confirmed_by
"""


async def _one(conn: AsyncConnection[Any], where: LiteralString, value: object) -> Enrolment | None:
    cur = conn.cursor(row_factory=class_row(Enrolment))
    await cur.execute(_SELECT + where, (value,))
    return await cur.fetchone()


async def issue(
    conn: AsyncConnection[Any], *, municipality_id: UUID, home_id: UUID, actor: audit.Actor, by: UUID,
    lifetime: timedelta = CODE_LIFETIME,
) -> tuple[Enrolment, str]:  # fmt: skip
    """A new single-use code for a home of the caller's municipality, waiting for an installer's confirmation on
    site; returns the enrolment and the code (shown this once). Audited as `enrolment.create`."""
    code = new_code()
    async with conn.transaction():
        cur = conn.cursor()
        await cur.execute(
            "INSERT INTO enrolment_codes (code_hash, municipality_id, home_id, expires_at, needs_confirmation, "
            "created_by) SELECT %s, municipality_id, id, %s, true, %s FROM homes "
            "WHERE id = %s AND municipality_id = %s RETURNING id",
            (token_digest(code), datetime.now(UTC) + lifetime, by, home_id, municipality_id),
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFoundError(NO_SUCH_HOME)
        await audit.append(conn, actor.record("enrolment.create", f"home/{home_id}", municipality_id=municipality_id))
        found = await _one(conn, "WHERE c.id = %s", row[0])
    assert found is not None
    return found, code


async def _refuse_foreign(conn: AsyncConnection[Any], actor: audit.Actor, resource: str, own: UUID) -> None:
    """Record the refused attempt in the caller's own chain, then refuse."""
    await audit.write(conn, actor.record("enrolment.foreign", resource, municipality_id=own, outcome="denied"))
    raise ForeignHomeError(FOREIGN)


async def by_code(conn: AsyncConnection[Any], code: str, *, municipality_id: UUID, actor: audit.Actor) -> Enrolment:
    """The enrolment of a code typed or scanned by a signed-in installer or administrator of `municipality_id`;
    a code of another municipality is refused and audited. Wrong codes count towards the same throttle as a
    gateway's (per person), so codes cannot be guessed through the page either (`EnrolmentThrottled`)."""
    client = f"staff:{actor.principal_id}"
    await check_throttle(conn, client)
    found = await _one(conn, "WHERE c.code_hash = %s", token_digest(normalise_code(code)))
    if found is None:
        await record_failure(conn, client)
        raise NotFoundError(NO_SUCH_CODE)
    if found.municipality_id != municipality_id:
        await _refuse_foreign(conn, actor, f"enrolment/{found.id}", municipality_id)
    return found


async def get(conn: AsyncConnection[Any], enrolment_id: int, *, municipality_id: UUID, actor: audit.Actor) -> Enrolment:
    """One enrolment of the caller's municipality (another's is refused and audited)."""
    found = await _one(conn, "WHERE c.id = %s", enrolment_id)
    if found is None:
        raise NotFoundError(NO_SUCH_CODE)
    if found.municipality_id != municipality_id:
        await _refuse_foreign(conn, actor, f"enrolment/{enrolment_id}", municipality_id)
    return found


async def decide(
    conn: AsyncConnection[Any], enrolment_id: int, *, confirm: bool, municipality_id: UUID, actor: audit.Actor,
    by: UUID,
) -> Enrolment:  # fmt: skip
    """Confirm ("this is the home I am in") or reject a waiting code of the caller's municipality; confirming
    again is a no-op. Audited as `enrolment.confirm` or `enrolment.reject`."""
    await get(conn, enrolment_id, municipality_id=municipality_id, actor=actor)
    column = "confirmed" if confirm else "rejected"
    async with conn.transaction():
        cur = await conn.execute(
            f"UPDATE enrolment_codes SET {column}_at = now(), {column}_by = %s WHERE id = %s "  # noqa: S608 - fixed
            "AND used_at IS NULL AND rejected_at IS NULL AND confirmed_at IS NULL AND expires_at > now()",
            (by, enrolment_id),
        )
        if cur.rowcount == 0:
            current = await _one(conn, "WHERE c.id = %s", enrolment_id)
            if confirm and current is not None and current.state == "ready":
                return current
            raise ConflictError(DECIDED)
        action = "enrolment.confirm" if confirm else "enrolment.reject"
        await audit.append(conn, actor.record(action, f"enrolment/{enrolment_id}", municipality_id=municipality_id))
        found = await _one(conn, "WHERE c.id = %s", enrolment_id)
    assert found is not None
    return found


async def of_home(conn: AsyncConnection[Any], home_id: UUID, limit: int = 10) -> list[Enrolment]:
    """The home's newest codes (no secrets: their state and who confirmed them)."""
    cur = conn.cursor(row_factory=class_row(Enrolment))
    await cur.execute(_SELECT + "WHERE c.home_id = %s ORDER BY c.created_at DESC LIMIT %s", (home_id, limit))
    return await cur.fetchall()
