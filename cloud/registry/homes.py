"""Homes: address, how to get in (key box, electronic lock), phone, and who lives there.

A couple shares one home and the sensors assigned to it (door, motion): such readings are stored without a
patient and belong to every resident still in the service (`residents`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row

from cloud.registry.errors import NotFoundError
from cloud.registry.patients import STOPPED


@dataclass
class Home:
    """A home as listed, with its residents."""

    id: UUID
    address: str
    access_notes: str
    phone: str | None
    residents: list[dict[str, Any]]


async def create(
    conn: AsyncConnection[Any], *, municipality_id: UUID, address: str, access_notes: str, phone: str | None
) -> UUID:
    """Add a home."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "INSERT INTO homes (municipality_id, address, access_notes, phone) VALUES (%s, %s, %s, %s) RETURNING id",
        (municipality_id, address, access_notes, phone),
    )
    row = await cur.fetchone()
    assert row is not None
    return UUID(str(row["id"]))


async def update(conn: AsyncConnection[Any], *, municipality_id: UUID, home_id: UUID, changes: dict[str, Any]) -> None:
    """Change address, access notes or phone."""
    allowed = {k: v for k, v in changes.items() if k in {"address", "access_notes", "phone"}}
    if not allowed:
        return
    sets = ", ".join(f"{name} = %s" for name in allowed)
    cur = await conn.execute(
        f"UPDATE homes SET {sets}, updated_at = now() WHERE id = %s AND municipality_id = %s",  # noqa: S608
        (*allowed.values(), home_id, municipality_id),
    )
    if cur.rowcount == 0:
        raise NotFoundError("No such home in your municipality.")


async def list_homes(
    conn: AsyncConnection[Any],
    municipality_id: UUID,
    team_ids: list[UUID] | None,
    limit: int,
    offset: int,
    hidden: Collection[UUID] = (),
) -> list[Home]:
    """Homes of the municipality; with `team_ids`, only homes where a resident belongs to one of the teams.
    Residents in `hidden` (who blocked the caller) are left out, and so is a home only they made visible."""
    cur = conn.cursor(row_factory=class_row(Home))
    await cur.execute(
        "SELECT h.id, h.address, h.access_notes, h.phone, coalesce(jsonb_agg(jsonb_build_object('id', p.id, "
        "'display_name', p.display_name, 'lifecycle', p.lifecycle) ORDER BY p.display_name) "
        "FILTER (WHERE p.id IS NOT NULL), '[]') AS residents FROM homes h "
        "LEFT JOIN patients p ON p.home_id = h.id AND NOT p.id = ANY(%(hidden)s::uuid[]) "
        "WHERE h.municipality_id = %(m)s AND (%(teams)s::uuid[] IS NULL OR EXISTS (SELECT 1 FROM patients r "
        "WHERE r.home_id = h.id AND r.care_team_id = ANY(%(teams)s::uuid[]) AND NOT r.id = ANY(%(hidden)s::uuid[]))) "
        "GROUP BY h.id ORDER BY h.address, h.id LIMIT %(limit)s OFFSET %(offset)s",
        {"m": municipality_id, "teams": team_ids, "hidden": list(hidden), "limit": limit, "offset": offset},
    )
    return await cur.fetchall()


async def one(conn: AsyncConnection[Any], municipality_id: UUID, home_id: UUID) -> Home:
    """One home of the municipality with its residents (by name); `NotFoundError` otherwise."""
    cur = conn.cursor(row_factory=class_row(Home))
    await cur.execute(
        "SELECT h.id, h.address, h.access_notes, h.phone, coalesce(jsonb_agg(jsonb_build_object('id', p.id, "
        "'display_name', p.display_name, 'lifecycle', p.lifecycle) ORDER BY p.display_name) "
        "FILTER (WHERE p.id IS NOT NULL), '[]') AS residents FROM homes h LEFT JOIN patients p ON p.home_id = h.id "
        "AND p.lifecycle <> ALL(%s) WHERE h.id = %s AND h.municipality_id = %s GROUP BY h.id",
        (sorted(STOPPED), home_id, municipality_id),
    )
    found = await cur.fetchone()
    if found is None:
        raise NotFoundError("No such home in your municipality.")
    return found


async def residents(conn: AsyncConnection[Any], home_ids: list[UUID]) -> dict[UUID, list[UUID]]:
    """Residents still in the service, per home."""
    out: dict[UUID, list[UUID]] = {home: [] for home in home_ids}
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT home_id, id FROM patients WHERE home_id = ANY(%s) AND lifecycle <> ALL(%s) ORDER BY id",
        (home_ids, sorted(STOPPED)),
    )
    for row in await cur.fetchall():
        out[row["home_id"]].append(row["id"])
    return out


async def get(
    conn: AsyncConnection[Any], municipality_id: UUID, home_id: UUID, team_ids: list[UUID] | None,
    hidden: Collection[UUID] = (),
) -> Home:  # fmt: skip
    """One home of the municipality with its residents, as `list_homes` lists it (with `team_ids`: only a home
    where a resident belongs to one of the teams); `NotFoundError` for another municipality's, or none."""
    cur = conn.cursor(row_factory=class_row(Home))
    await cur.execute(
        "SELECT h.id, h.address, h.access_notes, h.phone, coalesce(jsonb_agg(jsonb_build_object('id', p.id, "
        "'display_name', p.display_name, 'lifecycle', p.lifecycle) ORDER BY p.display_name) "
        "FILTER (WHERE p.id IS NOT NULL), '[]') AS residents FROM homes h "
        "LEFT JOIN patients p ON p.home_id = h.id AND NOT p.id = ANY(%(hidden)s::uuid[]) "
        "WHERE h.id = %(home)s AND h.municipality_id = %(m)s AND (%(teams)s::uuid[] IS NULL OR EXISTS (SELECT 1 "
        "FROM patients r WHERE r.home_id = h.id AND r.care_team_id = ANY(%(teams)s::uuid[]))) GROUP BY h.id",
        {"m": municipality_id, "home": home_id, "teams": team_ids, "hidden": list(hidden)},
    )
    found = await cur.fetchone()
    if found is None:
        raise NotFoundError("No such home in your municipality.")
    return found
