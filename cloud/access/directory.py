"""Municipalities, care teams and staff: the few writes the CLI and the admin API share. Every change to who
may do what (a team, a staff member, a deactivation) is audited in the transaction that makes it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row

from cloud.access import audit, authn
from cloud.access.roles import Role
from cloud.access.secrets import PasswordPool, hash_password
from cloud.registry import municipalities
from cloud.registry.identity import IdentifierError, organisation_number
from common.digits import plain_digits


class DirectoryError(ValueError):
    """A directory change that cannot be made; the message says why."""


@dataclass(frozen=True)
class StaffMember:
    """A staff member as listed to administrators (never the password hash)."""

    id: UUID
    username: str
    display_name: str
    role: Role
    active: bool
    deactivated_at: datetime | None
    teams: list[str]
    helseid_bound: bool  # a national id binds their HelseID sign-in (the number itself is never listed)
    hpr_number: str | None  # as HelseID last vouched for it (health personnel register)


@dataclass(frozen=True)
class Team:
    """A care team."""

    id: UUID
    name: str


async def municipality_id(conn: AsyncConnection[Any], kommunenummer: str) -> UUID:
    """The id of a municipality by its four-digit number."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT id FROM municipalities WHERE kommunenummer = %s", (kommunenummer,))
    row = await cur.fetchone()
    if row is None:
        raise DirectoryError(f"no municipality with number {kommunenummer}")
    return UUID(str(row["id"]))


async def ensure_municipality(
    conn: AsyncConnection[Any], kommunenummer: str, name: str, orgnr: str | None = None
) -> UUID:
    """Create the municipality if it is new; return its id either way. The number must be in the official
    list and the organisation number, when given, must be valid."""
    try:
        municipalities.check(kommunenummer)
        orgnr = organisation_number(orgnr) if orgnr is not None else None
    except IdentifierError as exc:
        raise DirectoryError(str(exc)) from None
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "INSERT INTO municipalities (kommunenummer, name, orgnr) VALUES (%s, %s, %s) "
        "ON CONFLICT (kommunenummer) DO UPDATE SET name = municipalities.name RETURNING id",
        (kommunenummer, name, orgnr),
    )
    row = await cur.fetchone()
    assert row is not None
    return UUID(str(row["id"]))


@dataclass(frozen=True)
class Municipality:
    """A municipality as its staff see it, with its name in the official list."""

    kommunenummer: str
    name: str
    orgnr: str | None

    @property
    def official_name(self) -> str | None:
        """The name the official list gives the number (None for a number no longer listed)."""
        return municipalities.official().get(self.kommunenummer)


async def municipality(conn: AsyncConnection[Any], municipality_id: UUID) -> Municipality:
    """One municipality."""
    async with conn.cursor(row_factory=class_row(Municipality)) as cur:
        await cur.execute("SELECT kommunenummer, name, orgnr FROM municipalities WHERE id = %s", (municipality_id,))
        found = await cur.fetchone()
    assert found is not None, "a principal's municipality exists"
    return found


async def change_municipality(
    conn: AsyncConnection[Any], municipality_id: UUID, *, name: str | None, orgnr: str | None
) -> Municipality:
    """Set the display name or organisation number (None leaves it); the organisation number must be valid."""
    try:
        checked = organisation_number(orgnr) if orgnr is not None else None
    except IdentifierError as exc:
        raise DirectoryError(str(exc)) from None
    await conn.execute(
        "UPDATE municipalities SET name = coalesce(%s, name), orgnr = coalesce(%s, orgnr) WHERE id = %s",
        (name, checked, municipality_id),
    )
    return await municipality(conn, municipality_id)


async def ensure_team(conn: AsyncConnection[Any], municipality: UUID, name: str, *, actor: audit.Actor) -> UUID:
    """Create the care team if it is new (audited in the same transaction); return its id either way."""
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "INSERT INTO care_teams (municipality_id, name) VALUES (%s, %s) "
            # xmax is 0 on a row this statement inserted and set on one it updated: only a new team is recorded.
            "ON CONFLICT (municipality_id, name) DO UPDATE SET name = EXCLUDED.name "
            "RETURNING id, xmax = 0 AS created",
            (municipality, name),
        )
        row = await cur.fetchone()
        assert row is not None
        if row["created"]:
            await audit.append(
                conn, actor.record("team.create", f"care_team/{row['id']}", municipality_id=municipality)
            )
    return UUID(str(row["id"]))


async def list_teams(conn: AsyncConnection[Any], municipality: UUID) -> list[Team]:
    """Care teams of a municipality by name."""
    cur = conn.cursor(row_factory=class_row(Team))
    await cur.execute("SELECT id, name FROM care_teams WHERE municipality_id = %s ORDER BY name", (municipality,))
    return await cur.fetchall()


async def add_staff(
    conn: AsyncConnection[Any],
    *,
    actor: audit.Actor,
    municipality: UUID,
    username: str,
    display_name: str,
    role: Role,
    team_ids: list[UUID],
    password: str | None,
    passwords: PasswordPool | None = None,
    national_id: str | None = None,
) -> UUID:
    """Create a staff member in one transaction with its audit record; teams must belong to the same
    municipality. With `passwords` the password is hashed off the event loop. `national_id` (already checked
    by `cloud.registry.identity`) is what binds a HelseID sign-in (`pid`) to this staff member."""
    username = username.strip().lower()
    password_hash = None
    if password:
        password_hash = await passwords.hash(password) if passwords else hash_password(password)
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        if team_ids:
            await cur.execute(
                "SELECT count(*) AS foreign_teams FROM unnest(%s::uuid[]) AS t(id) "
                "WHERE NOT EXISTS (SELECT 1 FROM care_teams c WHERE c.id = t.id AND c.municipality_id = %s)",
                (team_ids, municipality),
            )
            foreign = await cur.fetchone()
            if foreign and foreign["foreign_teams"]:
                raise DirectoryError("a care team does not exist in this municipality")
        await cur.execute("SELECT 1 FROM staff WHERE username = %s", (username,))
        if await cur.fetchone():
            raise DirectoryError(f"the user name {username!r} is taken")
        if national_id is not None:
            await cur.execute("SELECT 1 FROM staff WHERE national_id = %s", (national_id,))
            if await cur.fetchone():
                raise DirectoryError("another staff member is bound to this national identity number")
        await cur.execute(
            "INSERT INTO staff (municipality_id, username, display_name, role, password_hash, national_id) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (municipality, username, display_name, role.value, password_hash, national_id),
        )
        row = await cur.fetchone()
        assert row is not None
        staff_id = UUID(str(row["id"]))
        for team in team_ids:
            await conn.execute("INSERT INTO staff_teams (staff_id, team_id) VALUES (%s, %s)", (staff_id, team))
        teams = ",".join(sorted(str(t) for t in set(team_ids)))
        bound = " helseid=bound" if national_id else ""
        resource = f"staff/{staff_id} username={username} role={role.value} teams={teams}{bound}"
        await audit.append(conn, actor.record("staff.create", resource, municipality_id=municipality))
    return staff_id


async def bind_national_id(conn: AsyncConnection[Any], actor: audit.Actor, staff_id: UUID, national_id: str) -> bool:
    """Bind a staff member who has none yet to a national identity number (already checked by
    `cloud.registry.identity`), so that a HelseID sign-in naming it (`pid`) is this staff member; audited.
    False when the member was bound already (to any number: a binding is never silently replaced)."""
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT 1 FROM staff WHERE national_id = %s AND id <> %s", (national_id, staff_id))
        if await cur.fetchone():
            raise DirectoryError("another staff member is bound to this national identity number")
        await cur.execute(
            "UPDATE staff SET national_id = %s WHERE id = %s AND national_id IS NULL RETURNING municipality_id",
            (national_id, staff_id),
        )
        row = await cur.fetchone()
        if row is None:
            return False
        record = actor.record("staff.bind_helseid", f"staff/{staff_id}", municipality_id=row["municipality_id"])
        await audit.append(conn, record)
    return True


async def record_hpr_number(conn: AsyncConnection[Any], staff_id: UUID, hpr_number: object) -> None:
    """Keep the HPR number HelseID vouched for at a sign-in (unchanged when it names none or a malformed one)."""
    if isinstance(hpr_number, str) and plain_digits(hpr_number) and len(hpr_number) <= 9:
        await conn.execute(
            "UPDATE staff SET hpr_number = %s WHERE id = %s AND hpr_number IS DISTINCT FROM %s",
            (hpr_number, staff_id, hpr_number),
        )


async def list_staff(conn: AsyncConnection[Any], municipality: UUID) -> list[StaffMember]:
    """Every staff member of a municipality with team names."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT s.id, s.username, s.display_name, s.role, s.active, s.deactivated_at, "
        "s.national_id IS NOT NULL AS helseid_bound, s.hpr_number, "
        "coalesce(array_agg(c.name ORDER BY c.name) FILTER (WHERE c.name IS NOT NULL), '{}') AS teams "
        "FROM staff s LEFT JOIN staff_teams st ON st.staff_id = s.id LEFT JOIN care_teams c ON c.id = st.team_id "
        "WHERE s.municipality_id = %s GROUP BY s.id ORDER BY s.username",
        (municipality,),
    )
    return [
        StaffMember(**{**row, "role": Role(row["role"]), "teams": list(row["teams"])}) for row in await cur.fetchall()
    ]


async def staff_names(conn: AsyncConnection[Any], municipality: UUID, ids: Iterable[UUID | None]) -> dict[UUID, str]:
    """Display names of the municipality's staff members among `ids` (for "acknowledged by", a comment's
    author): people are named, never shown as ids. Ids of another municipality, or of nobody, are left out."""
    wanted = sorted({staff_id for staff_id in ids if staff_id is not None})
    if not wanted:
        return {}
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id, display_name FROM staff WHERE municipality_id = %s AND id = ANY(%s)", (municipality, wanted)
    )
    return {row["id"]: row["display_name"] for row in await cur.fetchall()}


@dataclass(frozen=True)
class StaffIdentity:
    """How a record names a staff member: the display name and, when HelseID told us one, the HPR number."""

    name: str
    hpr_number: str | None


async def staff_identities(
    conn: AsyncConnection[Any], municipality: UUID, ids: Iterable[UUID | None]
) -> dict[UUID, StaffIdentity]:
    """Names and HPR numbers of the municipality's staff members among `ids` (for a journal note's author);
    ids of another municipality, or of nobody, are left out."""
    wanted = sorted({staff_id for staff_id in ids if staff_id is not None})
    if not wanted:
        return {}
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id, display_name, hpr_number FROM staff WHERE municipality_id = %s AND id = ANY(%s)",
        (municipality, wanted),
    )
    return {row["id"]: StaffIdentity(row["display_name"], row["hpr_number"]) for row in await cur.fetchall()}


async def staff_id_by_username(conn: AsyncConnection[Any], username: str) -> tuple[UUID, UUID]:
    """(staff id, municipality id) of a user name, for the command line."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT id, municipality_id FROM staff WHERE username = %s", (username.strip().lower(),))
    row = await cur.fetchone()
    if row is None:
        raise DirectoryError(f"no staff member {username!r}")
    return row["id"], row["municipality_id"]


async def in_municipality(conn: AsyncConnection[Any], actor: audit.Actor, staff_id: UUID, action: str) -> bool:
    """Whether `staff_id` belongs to the actor's municipality. When it belongs to another, the attempt is
    recorded as denied in both municipalities' chains (its auditors see who probed their staff); the caller
    answers exactly as for a staff member that does not exist."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT municipality_id FROM staff WHERE id = %s", (staff_id,))
    row = await cur.fetchone()
    if row is None:
        return False
    if row["municipality_id"] == actor.municipality_id:
        return True
    resource = f"staff/{staff_id}"
    await audit.write_all(
        conn,
        [
            actor.record(action, resource, municipality_id=actor.municipality_id, outcome="denied"),
            actor.record(action, resource, municipality_id=row["municipality_id"], outcome="denied"),
        ],
    )
    return False


@dataclass(frozen=True)
class Deactivation:
    """What deactivating a staff member ended."""

    id: UUID
    deactivated_at: datetime | None  # None: made inactive before deactivation was recorded
    sessions_ended: int
    tokens_revoked: int


async def deactivate(
    conn: AsyncConnection[Any], actor: audit.Actor, staff_id: UUID, municipality: UUID, by: UUID | None
) -> Deactivation | None:
    """Deactivate a staff member of `municipality` at once: no sign-in, every session ended, every token
    revoked and every open event stream closed on every process, in one audited transaction. None when there
    is no such staff member; deactivating twice changes nothing the second time."""
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT active, deactivated_at FROM staff WHERE id = %s AND municipality_id = %s FOR UPDATE",
            (staff_id, municipality),
        )
        row = await cur.fetchone()
        if row is None:
            return None
        if not row["active"]:
            return Deactivation(staff_id, row["deactivated_at"], 0, 0)
        await cur.execute(
            "UPDATE staff SET active = false, deactivated_at = now(), deactivated_by = %s WHERE id = %s "
            "RETURNING deactivated_at",
            (by, staff_id),
        )
        row = await cur.fetchone()
        assert row is not None
        sessions = await conn.execute("DELETE FROM staff_sessions WHERE staff_id = %s", (staff_id,))
        tokens = await conn.execute(
            "UPDATE api_tokens SET revoked_at = now(), revoked_by = %s WHERE staff_id = %s AND revoked_at IS NULL",
            (by, staff_id),
        )
        ended = Deactivation(staff_id, row["deactivated_at"], sessions.rowcount, tokens.rowcount)
        resource = f"staff/{staff_id} sessions_ended={ended.sessions_ended} tokens_revoked={ended.tokens_revoked}"
        await audit.append(conn, actor.record("staff.deactivate", resource, municipality_id=municipality))
        await authn.announce(conn, staff_id)
    return ended


async def add_to_team(conn: AsyncConnection[Any], actor: audit.Actor, staff_id: UUID, team_id: UUID) -> bool:
    """Make a staff member of the actor's municipality a member of one of its care teams (audited; adding twice
    changes nothing). False when the staff member or the team is not the municipality's."""
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT (SELECT count(*) FROM staff WHERE id = %(s)s AND municipality_id = %(m)s) AS staff, "
            "(SELECT count(*) FROM care_teams WHERE id = %(t)s AND municipality_id = %(m)s) AS teams",
            {"s": staff_id, "t": team_id, "m": actor.municipality_id},
        )
        found = await cur.fetchone()
        if not found or not found["staff"] or not found["teams"]:
            return False
        await conn.execute(
            "INSERT INTO staff_teams (staff_id, team_id) VALUES (%s, %s) ON CONFLICT DO NOTHING", (staff_id, team_id)
        )
        resource = f"staff/{staff_id} team={team_id}"
        await audit.append(conn, actor.record("staff.team.add", resource, municipality_id=actor.municipality_id))
    return True
