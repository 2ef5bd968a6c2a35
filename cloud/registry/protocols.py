"""Which detection protocols apply: the municipality's default and a patient's own choice.

The evaluation reads both (`cloud.evaluation.protocols`): a patient's own protocols win over the municipality's
default, and with neither the built-in default applies. A patient group (a care team) is given its protocols by
setting them for each of its patients still in the service, in one transaction. Names are checked against the
protocols shipped with the package before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from alerts.protocols.load import protocol_names
from cloud.registry.errors import RegistryError
from cloud.registry.patients import STOPPED, lifecycle_of
from cloud.registry.rows import one_row

MAX_PROTOCOLS = 5


def checked(names: Sequence[str]) -> list[str]:
    """The names in order, each once, if every one is a shipped protocol; else `RegistryError` naming it."""
    unique = list(dict.fromkeys(name.strip() for name in names if name.strip()))
    unknown = [name for name in unique if name not in protocol_names()]
    if unknown:
        raise RegistryError(f"{unknown[0]!r} is not a protocol ({', '.join(protocol_names())})")
    if len(unique) > MAX_PROTOCOLS:
        raise RegistryError(f"at most {MAX_PROTOCOLS} protocols")
    return unique


async def municipality_default(conn: AsyncConnection[Any], municipality_id: UUID) -> list[str]:
    """The municipality's default protocols (empty: the built-in default applies)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT protocols FROM municipality_protocols WHERE municipality_id = %s", (municipality_id,))
    row = await cur.fetchone()
    return list(row["protocols"]) if row else []


async def set_municipality_default(
    conn: AsyncConnection[Any], municipality_id: UUID, names: Sequence[str]
) -> list[str]:
    """Set the municipality's default protocols; none: back to the built-in default."""
    chosen = checked(names)
    if not chosen:
        await conn.execute("DELETE FROM municipality_protocols WHERE municipality_id = %s", (municipality_id,))
        return chosen
    await conn.execute(
        "INSERT INTO municipality_protocols (municipality_id, protocols) VALUES (%s, %s) ON CONFLICT "
        "(municipality_id) DO UPDATE SET protocols = EXCLUDED.protocols, updated_at = now()",
        (municipality_id, chosen),
    )
    return chosen


async def of_patients(conn: AsyncConnection[Any], patient_ids: Sequence[UUID]) -> dict[UUID, list[str]]:
    """The patients' own protocols; a patient without their own is left out."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT patient_id, protocols FROM patient_protocols WHERE patient_id = ANY(%s)", (list(patient_ids),)
    )
    return {row["patient_id"]: list(row["protocols"]) for row in await cur.fetchall()}


async def _write(conn: AsyncConnection[Any], patient_ids: Sequence[UUID], chosen: list[str]) -> None:
    if not chosen:
        await conn.execute("DELETE FROM patient_protocols WHERE patient_id = ANY(%s)", (list(patient_ids),))
        return
    await conn.execute(
        "INSERT INTO patient_protocols (patient_id, protocols) SELECT unnest(%s::uuid[]), %s ON CONFLICT "
        "(patient_id) DO UPDATE SET protocols = EXCLUDED.protocols, updated_at = now()",
        (list(patient_ids), chosen),
    )


async def set_for_patient(
    conn: AsyncConnection[Any], municipality_id: UUID, patient_id: UUID, names: Sequence[str]
) -> list[str]:
    """Set a patient's own protocols; none: the municipality's default applies to them again."""
    chosen = checked(names)
    async with conn.transaction():
        await lifecycle_of(conn, municipality_id, patient_id)
        await _write(conn, [patient_id], chosen)
    return chosen


async def set_for_team(conn: AsyncConnection[Any], municipality_id: UUID, team_id: UUID, names: Sequence[str]) -> int:
    """Give every patient of the care team still in the service these protocols (none: the municipality's
    default); returns how many patients were set."""
    chosen = checked(names)
    async with conn.transaction():
        await one_row(
            conn, "SELECT id FROM care_teams WHERE id = %s AND municipality_id = %s", (team_id, municipality_id),
            "No such care team.",
        )  # fmt: skip
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT id FROM patients WHERE care_team_id = %s AND municipality_id = %s AND lifecycle <> ALL(%s)",
            (team_id, municipality_id, sorted(STOPPED)),
        )
        members = [row["id"] for row in await cur.fetchall()]
        await _write(conn, members, chosen)
    return len(members)
