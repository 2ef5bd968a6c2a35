"""Devices, their assignment to a patient or a home, and their registration to a gateway, each with a
half-open validity period `[valid_from, valid_to)`.

The database refuses overlapping periods for one device (EXCLUDE constraints, migration 0004); this module
checks ownership first (device, target and gateway must belong to the caller's municipality) and turns an
overlap into a 409 that names the period it collides with. A device moved to another patient is a closed
period plus a new one: readings stay with the patient they were measured on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row
from pydantic import BaseModel, ConfigDict

from cloud.registry.errors import ConflictError, RegistryError
from cloud.registry.rows import one_row
from device_profiles.device_catalogue import load_devices

Table = Literal["device_assignments", "device_registrations"]
INACTIVE = ("discharged", "deceased")


class Period(BaseModel):
    """One assignment or registration period; a pydantic model so that the API answers with it as it is."""

    model_config = ConfigDict(frozen=True)

    id: int
    target: str  # "patient", "home" or "gateway"
    target_id: UUID
    valid_from: datetime
    valid_to: datetime | None


async def _owned(conn: AsyncConnection[Any], table: str, row_id: UUID, municipality_id: UUID, what: str) -> None:
    await one_row(
        conn,
        f"SELECT 1 FROM {table} WHERE id = %s AND municipality_id = %s",  # noqa: S608 - fixed table names
        (row_id, municipality_id),
        f"No such {what} in your municipality.",
    )


async def owned_device(conn: AsyncConnection[Any], municipality_id: UUID, device_id: UUID) -> dict[str, Any]:
    """The device's address and profile, if it is in the municipality's inventory; else `NotFoundError`."""
    return await one_row(
        conn,
        "SELECT address, profile_id FROM devices WHERE id = %s AND municipality_id = %s",
        (device_id, municipality_id),
        "No such device in your municipality.",
    )


def _bounds(valid_from: datetime | None, valid_to: datetime | None) -> tuple[datetime, datetime | None]:
    start = valid_from or datetime.now(UTC)
    if valid_to is not None and valid_to <= start:
        raise RegistryError("valid_to must be after valid_from (periods are half-open: [valid_from, valid_to))")
    return start, valid_to


async def add_device(
    conn: AsyncConnection[Any], *, municipality_id: UUID, profile_id: str, address: str, serial: str | None
) -> UUID:
    """Add a device to the municipality's inventory."""
    if profile_id not in load_devices():
        raise RegistryError(f"{profile_id!r} is not in the device catalogue (`tryggheim profiles list`)")
    try:
        async with conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "INSERT INTO devices (municipality_id, profile_id, address, serial) VALUES (%s, %s, %s, %s) "
                "RETURNING id",
                (municipality_id, profile_id, address, serial),
            )
            row = await cur.fetchone()
    except psycopg.errors.UniqueViolation:
        raise ConflictError(f"a device with address {address} is already registered in your municipality") from None
    assert row is not None
    return UUID(str(row["id"]))


async def device_at(conn: AsyncConnection[Any], *, municipality_id: UUID, profile_id: str, address: str) -> UUID:
    """The municipality's device at `address`, added to the inventory when it is new (a proposal confirmed)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT id FROM devices WHERE municipality_id = %s AND address = %s", (municipality_id, address))
    found = await cur.fetchone()
    if found is not None:
        return UUID(str(found["id"]))
    return await add_device(conn, municipality_id=municipality_id, profile_id=profile_id, address=address, serial=None)


async def registered_to(conn: AsyncConnection[Any], device_id: UUID) -> UUID | None:
    """The gateway the device is registered to now, if any."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT gateway_id FROM device_registrations WHERE device_id = %s AND valid @> now()", (device_id,)
    )
    found = await cur.fetchone()
    return None if found is None else UUID(str(found["gateway_id"]))


async def _insert_period(
    conn: AsyncConnection[Any], table: Table, device_id: UUID, column: str, target: UUID, start: datetime,
    end: datetime | None, by: UUID | None,
) -> int:  # fmt: skip
    extra, values = ("", ()) if table == "device_registrations" else (", set_by", (by,))
    cur = conn.cursor(row_factory=dict_row)
    try:
        async with conn.transaction():
            await cur.execute(
                f"INSERT INTO {table} (device_id, {column}, valid{extra}) "  # noqa: S608 - fixed names
                f"VALUES (%s, %s, tstzrange(%s, %s, '[)'){', %s' if extra else ''}) RETURNING id",
                (device_id, target, start, end, *values),
            )
            row = await cur.fetchone()
    except psycopg.errors.ExclusionViolation:
        await cur.execute(
            f"SELECT lower(valid) AS valid_from, upper(valid) AS valid_to FROM {table} "  # noqa: S608
            "WHERE device_id = %s AND valid && tstzrange(%s, %s, '[)') ORDER BY lower(valid) LIMIT 1",
            (device_id, start, end),
        )
        clash = await cur.fetchone()
        when = (
            f"[{clash['valid_from'].isoformat()}, {clash['valid_to'].isoformat() if clash['valid_to'] else 'open'})"
            if clash
            else "another"
        )
        noun = "assignment" if table == "device_assignments" else "gateway registration"
        raise ConflictError(f"the period overlaps the device's {noun} {when}; end that one first") from None
    assert row is not None
    return int(row["id"])


async def assign(
    conn: AsyncConnection[Any],
    *,
    municipality_id: UUID,
    device_id: UUID,
    patient_id: UUID | None = None,
    home_id: UUID | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    by: UUID | None = None,
) -> int:
    """Assign a device to one patient, or to a home (a sensor the residents share)."""
    if (patient_id is None) == (home_id is None):
        raise RegistryError("assign the device to exactly one of a patient or a home")
    start, end = _bounds(valid_from, valid_to)
    async with conn.transaction():
        await _owned(conn, "devices", device_id, municipality_id, "device")
        if patient_id is not None:
            await _owned(conn, "patients", patient_id, municipality_id, "patient")
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute("SELECT lifecycle FROM patients WHERE id = %s", (patient_id,))
            state = await cur.fetchone()
            if state is not None and state["lifecycle"] in INACTIVE:
                raise ConflictError(f"the patient is {state['lifecycle']}; devices cannot be assigned")
            return await _insert_period(conn, "device_assignments", device_id, "patient_id", patient_id, start, end, by)
        assert home_id is not None
        await _owned(conn, "homes", home_id, municipality_id, "home")
        return await _insert_period(conn, "device_assignments", device_id, "home_id", home_id, start, end, by)


async def register(
    conn: AsyncConnection[Any],
    *,
    municipality_id: UUID,
    device_id: UUID,
    gateway_id: UUID,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
) -> int:
    """Register a device to a gateway of the same municipality (a kit swap is an end plus a new period)."""
    start, end = _bounds(valid_from, valid_to)
    async with conn.transaction():
        await _owned(conn, "devices", device_id, municipality_id, "device")
        await _owned(conn, "gateways", gateway_id, municipality_id, "gateway")
        return await _insert_period(conn, "device_registrations", device_id, "gateway_id", gateway_id, start, end, None)


async def end_period(
    conn: AsyncConnection[Any], table: Table, *, municipality_id: UUID, device_id: UUID, period_id: int, at: datetime
) -> None:
    """Close an open (or later-ending) period at `at`; a period can only be shortened, never emptied."""
    async with conn.transaction():
        await _owned(conn, "devices", device_id, municipality_id, "device")
        row = await one_row(
            conn,
            f"SELECT lower(valid) AS valid_from, upper(valid) AS valid_to FROM {table} "  # noqa: S608
            "WHERE id = %s AND device_id = %s FOR UPDATE",
            (period_id, device_id),
            "No such period for this device.",
        )
        lower, upper = row["valid_from"], row["valid_to"]
        if at <= lower or (upper is not None and at > upper):
            raise RegistryError(
                f"the end must be after the period's start {lower.isoformat()}"
                + (f" and no later than its end {upper.isoformat()}" if upper else "")
            )
        await conn.execute(
            f"UPDATE {table} SET valid = tstzrange(lower(valid), %s, '[)') WHERE id = %s",  # noqa: S608
            (at, period_id),
        )


async def history(
    conn: AsyncConnection[Any], municipality_id: UUID, device_id: UUID
) -> tuple[list[Period], list[Period]]:
    """The device's assignments and gateway registrations, oldest first."""
    await _owned(conn, "devices", device_id, municipality_id, "device")
    cur = conn.cursor(row_factory=class_row(Period))
    await cur.execute(
        "SELECT id, CASE WHEN patient_id IS NULL THEN 'home' ELSE 'patient' END AS target, "
        "coalesce(patient_id, home_id) AS target_id, lower(valid) AS valid_from, upper(valid) AS valid_to "
        "FROM device_assignments WHERE device_id = %s ORDER BY lower(valid)",
        (device_id,),
    )
    assigned = await cur.fetchall()
    await cur.execute(
        "SELECT id, 'gateway' AS target, gateway_id AS target_id, lower(valid) AS valid_from, upper(valid) AS valid_to "
        "FROM device_registrations WHERE device_id = %s ORDER BY lower(valid)",
        (device_id,),
    )
    return assigned, await cur.fetchall()


async def inventory(
    conn: AsyncConnection[Any], municipality_id: UUID, *, limit: int, offset: int, gateway_id: UUID | None = None
) -> list[dict[str, Any]]:
    """The municipality's devices by address, each with the patient or home it is assigned to and the gateway
    it is registered to now (None where it is not); with `gateway_id`, those registered to that gateway now."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT d.id, d.profile_id, d.address, d.serial, a.patient_id, a.home_id, r.gateway_id FROM devices d "
            "LEFT JOIN device_assignments a ON a.device_id = d.id AND a.valid @> now() "
            "LEFT JOIN device_registrations r ON r.device_id = d.id AND r.valid @> now() "
            "WHERE d.municipality_id = %s AND (%s::uuid IS NULL OR r.gateway_id = %s) "
            "ORDER BY d.address LIMIT %s OFFSET %s",
            (municipality_id, gateway_id, gateway_id, limit, offset),
        )
        return await cur.fetchall()


class AssignedDevice(BaseModel):
    """A device in use for a patient now: their own (`shared` false) or one of their home's sensors."""

    model_config = ConfigDict(frozen=True)

    device_id: UUID
    profile_id: str
    address: str
    shared: bool
    since: datetime


async def devices_of_patient(conn: AsyncConnection[Any], patient_id: UUID) -> list[AssignedDevice]:
    """The devices assigned now to the patient or to their home, the patient's own first, then by address."""
    cur = conn.cursor(row_factory=class_row(AssignedDevice))
    await cur.execute(
        "SELECT d.id AS device_id, d.profile_id, d.address, a.home_id IS NOT NULL AS shared, lower(a.valid) AS since "
        "FROM device_assignments a JOIN devices d ON d.id = a.device_id "
        "WHERE (a.patient_id = %(p)s OR a.home_id = (SELECT home_id FROM patients WHERE id = %(p)s)) "
        "AND a.valid @> now() ORDER BY a.home_id IS NOT NULL, d.address",
        {"p": patient_id},
    )
    return await cur.fetchall()
