"""Relatives (pårørende) a patient lets read their own view, and the relative as a principal.

A relative is invited by the patient, by name and national id; the invitation is the patient's recorded
consent (`consented_at`, `consented_by`) and lasts until the patient revokes it. The link binds a person (their
national id, as ID-porten's `pid` or a local citizen account names them), never a session: whoever signs in as
that person is that relative. Revoking takes effect at once because the relative's policy
(`policy.relative_record`) reads the link on every request; no session outlives it.

One person is one principal (`kind` relative, `id` their `person_id`, shared by all their links), so the
patient's access log names the relative without their national id. A person who has a patient record of
their own signs in as that patient; links as a relative are for people without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from psycopg import AsyncConnection, errors
from psycopg.rows import dict_row

from cloud.access import audit
from cloud.access.blocks import AccessChangeError
from cloud.access.principal import Credential, Principal
from cloud.access.roles import Role
from cloud.registry.identity import IdentifierError, national_id
from common.i18n import N_

NAME_MAX = 200
LinkState = Literal["live", "revoked"]


@dataclass(frozen=True)
class Relative:
    """One invitation as the patient lists it: the relative's name, when the patient consented, and whether and
    when it was revoked (never the relative's national id)."""

    id: UUID
    display_name: str
    consented_at: datetime
    revoked_at: datetime | None

    @property
    def live(self) -> bool:
        """Whether the relative may read the patient's view now."""
        return self.revoked_at is None


@dataclass(frozen=True)
class Followed:
    """A patient a relative may read, as the relative's chooser lists them."""

    patient_id: UUID
    patient_name: str


_COLUMNS = "id, display_name, consented_at, revoked_at"


def checked_name(raw: str) -> str:
    """The relative's name as the patient typed it, trimmed; refused when empty or too long."""
    name = " ".join(raw.split())
    if not name:
        raise AccessChangeError(422, N_("Write the name of the person you want to invite."))
    if len(name) > NAME_MAX:
        raise AccessChangeError(422, N_("The name is too long."))
    return name


def checked_national_id(raw: str, *, allow_synthetic: bool) -> str:
    """The relative's national id (11 digits with valid check digits); refused otherwise."""
    try:
        return national_id(raw, allow_synthetic=allow_synthetic).number
    except IdentifierError:
        raise AccessChangeError(422, N_("The national identity number is not valid (11 digits).")) from None


async def invite(
    conn: AsyncConnection[Any], actor: audit.Actor, *, patient_id: UUID, display_name: str, person: str,
    consented_by: str = "patient",
) -> Relative:  # fmt: skip
    """Record the patient's consent for the person with national id `person` (checked by the caller) to read
    their view; audited (`relative.invite`) in the same transaction. 409 when that person is invited already."""
    name = checked_name(display_name)
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT municipality_id, national_id FROM patients WHERE id = %s", (patient_id,))
        patient = await cur.fetchone()
        if patient is None:
            raise AccessChangeError(404, N_("No such patient."))
        if patient["national_id"] == person:
            raise AccessChangeError(422, N_("You cannot invite yourself."))
        await cur.execute("SELECT person_id FROM relatives WHERE national_id = %s LIMIT 1", (person,))
        known = await cur.fetchone()
        try:
            async with conn.transaction():
                await cur.execute(
                    "INSERT INTO relatives (person_id, patient_id, municipality_id, display_name, national_id, "  # noqa: S608
                    "consented_by) VALUES (coalesce(%s, gen_random_uuid()), %s, %s, %s, %s, %s) "
                    f"RETURNING {_COLUMNS}",
                    (known["person_id"] if known else None, patient_id, patient["municipality_id"], name, person,
                     consented_by),
                )  # fmt: skip
        except errors.UniqueViolation:
            raise AccessChangeError(409, N_("This person is invited already.")) from None
        row = await cur.fetchone()
        assert row is not None
        record = actor.record(
            "relative.invite", f"relative:{row['id']} consented_by={consented_by}",
            municipality_id=patient["municipality_id"], patient_id=patient_id,
        )  # fmt: skip
        await audit.append(conn, record)
    return Relative(**row)


async def revoke(conn: AsyncConnection[Any], actor: audit.Actor, *, patient_id: UUID, relative_id: UUID) -> Relative:
    """Withdraw the patient's consent for one relative, at once; audited (`relative.revoke`). 404 when the patient
    has no such live invitation."""
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            f"UPDATE relatives SET revoked_at = now(), revoked_by = %s WHERE id = %s AND patient_id = %s "  # noqa: S608
            f"AND revoked_at IS NULL RETURNING {_COLUMNS}, municipality_id",
            (actor.principal_kind, relative_id, patient_id),
        )
        row = await cur.fetchone()
        if row is None:
            raise AccessChangeError(404, N_("No such invitation, or it was withdrawn already."))
        municipality = row.pop("municipality_id")
        record = actor.record(
            "relative.revoke", f"relative:{relative_id}", municipality_id=municipality, patient_id=patient_id
        )
        await audit.append(conn, record)
    return Relative(**row)


async def of_patient(conn: AsyncConnection[Any], patient_id: UUID) -> list[Relative]:
    """The patient's invitations, live ones first, newest first."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_COLUMNS} FROM relatives WHERE patient_id = %s "  # noqa: S608 - fixed column list
        "ORDER BY revoked_at IS NOT NULL, coalesce(revoked_at, consented_at) DESC",
        (patient_id,),
    )
    return [Relative(**row) for row in await cur.fetchall()]


async def followed_by(conn: AsyncConnection[Any], person_id: UUID) -> list[Followed]:
    """The patients whose view the relative `person_id` may read now, by name."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT p.id AS patient_id, p.display_name AS patient_name FROM relatives r "
        "JOIN patients p ON p.id = r.patient_id WHERE r.person_id = %s AND r.revoked_at IS NULL "
        "ORDER BY p.display_name",
        (person_id,),
    )
    return [Followed(**row) for row in await cur.fetchall()]


async def link_state(conn: AsyncConnection[Any], person_id: UUID, patient_id: UUID) -> LinkState | None:
    """Whether the relative may read the patient now (`live`), was let and no longer is (`revoked`), or was
    never invited (None). Read on every request: this is what makes revoking immediate."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT bool_or(revoked_at IS NULL) AS live FROM relatives WHERE person_id = %s AND patient_id = %s",
        (person_id, patient_id),
    )
    row = await cur.fetchone()
    if row is None or row["live"] is None:
        return None
    return "live" if row["live"] else "revoked"


async def relative_principal(
    conn: AsyncConnection[Any], person: str, credential: Credential, *, patient_data: bool,
    origin: Literal["local", "idporten"], csrf: str | None = None,
) -> Principal | None:  # fmt: skip
    """The person with national id `person` as a relative, if any patient ever invited them (a relative whose
    every invitation was revoked still signs in, and is told so by the page they open)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT person_id, municipality_id, display_name FROM relatives WHERE national_id = %s "
        "ORDER BY revoked_at IS NOT NULL, consented_at DESC LIMIT 1",
        (person,),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return Principal(
        kind="relative", id=row["person_id"], municipality_id=row["municipality_id"], role=Role.RELATIVE,
        display_name=row["display_name"], csrf_token=csrf, credential=credential, patient_data=patient_data,
        origin=origin,
    )  # fmt: skip
