"""Municipalities, care teams and staff: the few writes the CLI and the admin API share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from cloud.access.roles import Role
from cloud.access.secrets import hash_password
from cloud.registry import municipalities
from cloud.registry.identity import IdentifierError, organisation_number


class DirectoryError(ValueError):
    """A directory change that cannot be made; the message says why."""


@dataclass(frozen=True)
class StaffMember:
    """A staff member as listed to administrators (never the password hash)."""

    id: UUID
    username: str
    display_name: str
    role: Role
    teams: list[str]
    active: bool


async def municipality_id(conn: AsyncConnection[Any], kommunenummer: str) -> UUID:
    """The id of a municipality by its four-digit number."""
    row = await (
        await conn.execute("SELECT id FROM municipalities WHERE kommunenummer = %s", (kommunenummer,))
    ).fetchone()
    if row is None:
        raise DirectoryError(f"no municipality with number {kommunenummer}")
    return UUID(str(row[0]))


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
    row = await (
        await conn.execute(
            "INSERT INTO municipalities (kommunenummer, name, orgnr) VALUES (%s, %s, %s) "
            "ON CONFLICT (kommunenummer) DO UPDATE SET name = municipalities.name RETURNING id",
            (kommunenummer, name, orgnr),
        )
    ).fetchone()
    assert row is not None
    return UUID(str(row[0]))


async def ensure_team(conn: AsyncConnection[Any], municipality: UUID, name: str) -> UUID:
    """Create the care team if it is new; return its id either way."""
    row = await (
        await conn.execute(
            "INSERT INTO care_teams (municipality_id, name) VALUES (%s, %s) "
            "ON CONFLICT (municipality_id, name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
            (municipality, name),
        )
    ).fetchone()
    assert row is not None
    return UUID(str(row[0]))


async def add_staff(
    conn: AsyncConnection[Any],
    *,
    municipality: UUID,
    username: str,
    display_name: str,
    role: Role,
    team_ids: list[UUID],
    password: str | None,
) -> UUID:
    """Create a staff member in one transaction; teams must belong to the same municipality."""
    username = username.strip().lower()
    async with conn.transaction():
        if team_ids:
            foreign = await (
                await conn.execute(
                    "SELECT count(*) FROM unnest(%s::uuid[]) AS t(id) "
                    "WHERE NOT EXISTS (SELECT 1 FROM care_teams c WHERE c.id = t.id AND c.municipality_id = %s)",
                    (team_ids, municipality),
                )
            ).fetchone()
            if foreign and foreign[0]:
                raise DirectoryError("a care team does not exist in this municipality")
        if await (await conn.execute("SELECT 1 FROM staff WHERE username = %s", (username,))).fetchone():
            raise DirectoryError(f"the user name {username!r} is taken")
        row = await (
            await conn.execute(
                "INSERT INTO staff (municipality_id, username, display_name, role, password_hash) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (
                    municipality,
                    username,
                    display_name,
                    role.value,
                    hash_password(password) if password else None,
                ),
            )
        ).fetchone()
        assert row is not None
        staff_id = UUID(str(row[0]))
        for team in team_ids:
            await conn.execute("INSERT INTO staff_teams (staff_id, team_id) VALUES (%s, %s)", (staff_id, team))
    return staff_id


async def list_staff(conn: AsyncConnection[Any], municipality: UUID) -> list[StaffMember]:
    """Every staff member of a municipality with team names."""
    rows = await (
        await conn.execute(
            "SELECT s.id, s.username, s.display_name, s.role, s.active, "
            "coalesce(array_agg(c.name ORDER BY c.name) FILTER (WHERE c.name IS NOT NULL), '{}') "
            "FROM staff s LEFT JOIN staff_teams st ON st.staff_id = s.id LEFT JOIN care_teams c ON c.id = st.team_id "
            "WHERE s.municipality_id = %s GROUP BY s.id ORDER BY s.username",
            (municipality,),
        )
    ).fetchall()
    return [StaffMember(r[0], r[1], r[2], Role(r[3]), list(r[5]), r[4]) for r in rows]
