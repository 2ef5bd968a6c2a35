"""Devices, their registration to a gateway and their assignment to a patient, each with a validity period.

Periods are half-open `[from, to)`; the database refuses overlapping periods for one device, so a kit
swap or a device moved to another patient is a closed period plus a new one, and history stays with the
patient it was measured on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from device_profiles.device_catalogue import load_devices

_DEVICES = load_devices()


class AssignmentError(ValueError):
    """A registration or assignment that cannot be made; the message says why."""


async def register(
    conn: AsyncConnection[Any],
    *,
    gateway_id: UUID,
    address: str,
    profile_id: str,
    valid_from: datetime | None = None,
) -> UUID:
    """Register a device (created if new in the gateway's municipality) to a gateway from `valid_from`."""
    if profile_id not in _DEVICES:
        raise AssignmentError(f"{profile_id!r} is not in the device catalogue (`tryggheim profiles list`)")
    since = valid_from or datetime.now(UTC)
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT municipality_id FROM gateways WHERE id = %s", (gateway_id,))
        gw = await cur.fetchone()
        if gw is None:
            raise AssignmentError(f"no gateway {gateway_id}")
        await cur.execute(
            "INSERT INTO devices (municipality_id, profile_id, address) VALUES (%s, %s, %s) "
            "ON CONFLICT (municipality_id, address) DO UPDATE SET profile_id = EXCLUDED.profile_id RETURNING id",
            (gw["municipality_id"], profile_id, address),
        )
        row = await cur.fetchone()
        assert row is not None
        try:
            await conn.execute(
                "INSERT INTO device_registrations (device_id, gateway_id, valid) VALUES (%s, %s, tstzrange(%s, NULL))",
                (row["id"], gateway_id, since),
            )
        except psycopg.errors.ExclusionViolation:
            raise AssignmentError(f"{address} is already registered to a gateway from {since.isoformat()}") from None
    return UUID(str(row["id"]))


async def assign(
    conn: AsyncConnection[Any], *, device_id: UUID, patient_id: UUID, valid_from: datetime | None = None
) -> None:
    """Assign a device to a patient of the same municipality from `valid_from` on."""
    since = valid_from or datetime.now(UTC)
    same = await (
        await conn.execute(
            "SELECT d.municipality_id = p.municipality_id FROM devices d, patients p WHERE d.id = %s AND p.id = %s",
            (device_id, patient_id),
        )
    ).fetchone()
    if same is None or not same[0]:
        raise AssignmentError("device and patient must exist in the same municipality")
    try:
        await conn.execute(
            "INSERT INTO device_assignments (device_id, patient_id, valid) VALUES (%s, %s, tstzrange(%s, NULL))",
            (device_id, patient_id, since),
        )
    except psycopg.errors.ExclusionViolation:
        raise AssignmentError(f"the device is already assigned to a patient from {since.isoformat()}") from None
