"""Patient records: identity, phone, GP, next of kin, care team, home and the service lifecycle.

The national identity number is validated before it is stored, never logged, and shown masked in lists.
Lifecycle changes follow a fixed table; `discharged` and `deceased` stop all alerts in the transaction that
records them (open alerts resolved, queued evaluations dropped, device assignments ended) and keep the record.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from cloud.alert_store import store
from cloud.alert_store.records import Actor
from cloud.registry.errors import ConflictError, NotFoundError, RegistryError
from cloud.registry.identity import IdentifierError, national_id
from cloud.registry.rows import one_row

Lifecycle = Literal["referral", "trial", "active", "paused", "discharged", "deceased"]
STOPPED: frozenset[str] = frozenset({"discharged", "deceased"})
# Which changes are allowed; `deceased` is final, a discharged patient may be referred again.
TRANSITIONS: Mapping[str, frozenset[str]] = {
    "referral": frozenset({"trial", "active", "discharged", "deceased"}),
    "trial": frozenset({"active", "paused", "discharged", "deceased"}),
    "active": frozenset({"paused", "discharged", "deceased"}),
    "paused": frozenset({"trial", "active", "discharged", "deceased"}),
    "discharged": frozenset({"referral", "deceased"}),
    "deceased": frozenset(),
}


@dataclass(frozen=True)
class Contact:
    """A person to call, in order: next of kin or another contact."""

    name: str
    relation: str
    phone: str
    next_of_kin: bool = False
    note: str = ""


@dataclass
class PatientFields:
    """Fields a create or update sets; `None` leaves a field as it is on update."""

    display_name: str | None = None
    national_id: str | None = None
    phone: str | None = None
    home_id: UUID | None = None
    care_team_id: UUID | None = None
    gp: dict[str, str] | None = None
    contacts: Sequence[Contact] | None = None
    clear: set[str] = field(default_factory=set)  # nullable fields to set to null on update


async def lifecycle_of(conn: AsyncConnection[Any], municipality_id: UUID, patient_id: UUID) -> str:
    """Where the patient is in the service, if the patient is the municipality's; else `NotFoundError`."""
    patient = await one_row(
        conn,
        "SELECT lifecycle FROM patients WHERE id = %s AND municipality_id = %s",
        (patient_id, municipality_id),
        "No such patient.",
    )
    return str(patient["lifecycle"])


async def _check_refs(conn: AsyncConnection[Any], municipality_id: UUID, fields: PatientFields) -> None:
    for table, value, what in (("homes", fields.home_id, "home"), ("care_teams", fields.care_team_id, "care team")):
        if value is not None:
            found = await (
                await conn.execute(
                    f"SELECT 1 FROM {table} WHERE id = %s AND municipality_id = %s",  # noqa: S608 - fixed names
                    (value, municipality_id),
                )
            ).fetchone()
            if found is None:
                raise RegistryError(f"no such {what} in your municipality")


def _identity(raw: str | None, allow_synthetic: bool) -> tuple[str | None, str | None]:
    if raw is None:
        return None, None
    try:
        checked = national_id(raw, allow_synthetic=allow_synthetic)
    except IdentifierError as exc:
        raise RegistryError(str(exc)) from None
    return checked.number, checked.kind


async def _write_contacts(conn: AsyncConnection[Any], patient_id: UUID, contacts: Sequence[Contact]) -> None:
    await conn.execute("DELETE FROM patient_contacts WHERE patient_id = %s", (patient_id,))
    for position, c in enumerate(contacts, start=1):
        await conn.execute(
            "INSERT INTO patient_contacts (patient_id, position, name, relation, phone, next_of_kin, note) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (patient_id, position, c.name, c.relation, c.phone, c.next_of_kin, c.note),
        )


async def create(
    conn: AsyncConnection[Any],
    *,
    municipality_id: UUID,
    fields: PatientFields,
    lifecycle: Lifecycle,
    allow_synthetic: bool,
    by: UUID | None,
) -> UUID:
    """Create a patient with contacts in one transaction."""
    if fields.display_name is None:
        raise RegistryError("display_name is required")
    if lifecycle in STOPPED or lifecycle not in TRANSITIONS:
        raise RegistryError(f"a new patient starts as referral, trial or active, not {lifecycle}")
    number, kind = _identity(fields.national_id, allow_synthetic)
    try:
        async with conn.transaction():
            await _check_refs(conn, municipality_id, fields)
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "INSERT INTO patients (municipality_id, display_name, national_id, national_id_kind, phone, "
                "home_id, care_team_id, gp, lifecycle) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (municipality_id, fields.display_name, number, kind, fields.phone, fields.home_id,
                 fields.care_team_id, Jsonb(fields.gp or {}), lifecycle),
            )  # fmt: skip
            row = await cur.fetchone()
            assert row is not None
            patient_id = UUID(str(row["id"]))
            await _write_contacts(conn, patient_id, fields.contacts or ())
            await conn.execute(
                "INSERT INTO patient_lifecycle_events (patient_id, from_state, to_state, reason, set_by) "
                "VALUES (%s, 'new', %s, 'registered', %s)",
                (patient_id, lifecycle, by or UUID(int=0)),
            )
    except psycopg.errors.UniqueViolation:
        raise ConflictError("a patient with this national identity number is already registered") from None
    return patient_id


async def update(
    conn: AsyncConnection[Any], *, municipality_id: UUID, patient_id: UUID, fields: PatientFields, allow_synthetic: bool
) -> None:
    """Change the given fields (and replace the contacts when given) in one transaction."""
    number, kind = _identity(fields.national_id, allow_synthetic)
    sets: dict[str, Any] = {
        "display_name": fields.display_name,
        "phone": fields.phone,
        "home_id": fields.home_id,
        "care_team_id": fields.care_team_id,
        "gp": Jsonb(fields.gp) if fields.gp is not None else None,
        "national_id": number,
        "national_id_kind": kind,
    }
    changes = {k: v for k, v in sets.items() if v is not None}
    for name in fields.clear & {"phone", "home_id", "care_team_id", "national_id"}:
        changes[name] = None
        if name == "national_id":
            changes["national_id_kind"] = None
    try:
        async with conn.transaction():
            await _check_refs(conn, municipality_id, fields)
            if changes:
                assignments = ", ".join(f"{name} = %s" for name in changes)
                cur = await conn.execute(
                    f"UPDATE patients SET {assignments}, updated_at = now() "  # noqa: S608 - names from a fixed dict
                    "WHERE id = %s AND municipality_id = %s",
                    (*changes.values(), patient_id, municipality_id),
                )
                if cur.rowcount == 0:
                    raise NotFoundError("No such patient.")
            if fields.contacts is not None:
                await _write_contacts(conn, patient_id, fields.contacts)
    except psycopg.errors.UniqueViolation:
        raise ConflictError("a patient with this national identity number is already registered") from None


async def change_lifecycle(
    conn: AsyncConnection[Any], *, municipality_id: UUID, patient_id: UUID, to: Lifecycle, reason: str, by: UUID
) -> str:
    """Move the patient to `to`; returns the previous state. Stopping states end alerts and assignments."""
    async with conn.transaction():
        row = await one_row(
            conn,
            "SELECT lifecycle FROM patients WHERE id = %s AND municipality_id = %s FOR UPDATE",
            (patient_id, municipality_id),
            "No such patient.",
        )
        current = str(row["lifecycle"])
        if to not in TRANSITIONS:
            raise RegistryError(f"{to} is not a lifecycle state ({', '.join(TRANSITIONS)})")
        if to not in TRANSITIONS[current]:
            allowed = ", ".join(sorted(TRANSITIONS[current])) or "none"
            raise ConflictError(f"a patient in {current} cannot move to {to} (allowed: {allowed})")
        await conn.execute("UPDATE patients SET lifecycle = %s, updated_at = now() WHERE id = %s", (to, patient_id))
        await conn.execute(
            "INSERT INTO patient_lifecycle_events (patient_id, from_state, to_state, reason, set_by) "
            "VALUES (%s, %s, %s, %s, %s)",
            (patient_id, current, to, reason, by),
        )
        if to in STOPPED:
            await _stop(conn, patient_id, f"patient {to}: {reason}", by)
    return current


async def _stop(conn: AsyncConnection[Any], patient_id: UUID, resolution: str, by: UUID) -> None:
    """End everything that could alert about a patient who left the service (caller's transaction)."""
    await conn.execute("DELETE FROM pending_evaluations WHERE patient_id = %s", (patient_id,))
    await conn.execute("DELETE FROM device_assignments WHERE patient_id = %s AND lower(valid) >= now()", (patient_id,))
    await conn.execute(
        "UPDATE device_assignments SET valid = tstzrange(lower(valid), now(), '[)') "
        "WHERE patient_id = %s AND (upper(valid) IS NULL OR upper(valid) > now())",
        (patient_id,),
    )
    await store.discharge(conn, patient_id, Actor(by=by), resolution)


async def details(conn: AsyncConnection[Any], patient_id: UUID) -> dict[str, Any]:
    """Everything the patient page shows about the person (includes the full identity number)."""
    out = await one_row(
        conn,
        "SELECT p.id, p.display_name, p.national_id, p.national_id_kind, p.phone, p.gp, p.lifecycle, "
        "p.care_team_id, t.name AS care_team, p.home_id, p.created_at, p.updated_at FROM patients p "
        "LEFT JOIN care_teams t ON t.id = p.care_team_id WHERE p.id = %s",
        (patient_id,),
        "No such patient.",
    )
    out["contacts"] = (await contacts_of(conn, [patient_id])).get(patient_id, [])
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT from_state, to_state, reason, at FROM patient_lifecycle_events WHERE patient_id = %s ORDER BY id",
        (patient_id,),
    )
    out["lifecycle_history"] = await cur.fetchall()
    return out


async def listing(
    conn: AsyncConnection[Any],
    municipality_id: UUID,
    team_ids: Collection[UUID] | None,
    limit: int,
    offset: int,
    hidden: Collection[UUID] = (),
) -> list[dict[str, Any]]:
    """The municipality's patients (of `team_ids` when given, less `hidden`: those who blocked the caller) by
    name, with the full identity number: the caller masks it for a list."""
    teams = list(team_ids) if team_ids is not None else None
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, display_name, lifecycle, care_team_id, created_at, home_id, national_id FROM patients "
            "WHERE municipality_id = %s AND (%s::uuid[] IS NULL OR care_team_id = ANY(%s::uuid[])) "
            "AND NOT id = ANY(%s::uuid[]) ORDER BY display_name, id LIMIT %s OFFSET %s",
            (municipality_id, teams, teams, list(hidden), limit, offset),
        )
        return await cur.fetchall()


async def contacts_of(conn: AsyncConnection[Any], patient_ids: Sequence[UUID]) -> dict[UUID, list[dict[str, Any]]]:
    """Each patient's next of kin and other contacts in call order (name, relation, phone, next_of_kin, note);
    patients without contacts are left out."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT patient_id, name, relation, phone, next_of_kin, note FROM patient_contacts "
        "WHERE patient_id = ANY(%s) ORDER BY patient_id, position",
        (list(patient_ids),),
    )
    found: dict[UUID, list[dict[str, Any]]] = {}
    for row in await cur.fetchall():
        found.setdefault(row.pop("patient_id"), []).append(row)
    return found
