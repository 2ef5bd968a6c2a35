"""Release of quarantined `unassigned` readings to a patient: the first readings of a newly installed device,
sent before anyone assigned it.

In one transaction: the device's unreleased `unassigned` readings in `[start, end)` (reading time: the
device clock, else the gateway's receive time) are inserted into `observations` for the patient, marked
released in the quarantine (which keeps them, with the release's id), and queued for evaluation. Running it
again releases nothing twice. Readings of a supervision sensor are released only where a consent or
assessment covers them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, LiteralString
from uuid import UUID

from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict

from cloud.registry.assignments import owned_device
from cloud.registry.consent import ConsentBook, load_book, supervision_profiles
from cloud.registry.errors import ConflictError, RegistryError
from cloud.registry.patients import STOPPED, lifecycle_of
from device_profiles import load_catalogue

BACKFILL_AFTER = timedelta(minutes=5)  # as at ingest (cloud.ingest.validate)
_HELD: LiteralString = (
    "SELECT q.id, q.gateway_id, q.outbox_epoch, q.seq, q.payload, q.received_at, q.stored_at "
    "FROM quarantine q JOIN gateways g ON g.id = q.gateway_id WHERE g.municipality_id = %s "
    "AND q.reason = 'unassigned' AND q.release_id IS NULL AND q.device_ref = %s ORDER BY q.id"
)
_HELD_LOCKED: LiteralString = _HELD + " FOR UPDATE OF q"
_HELD = (
    "SELECT q.id, q.gateway_id, q.outbox_epoch, q.seq, q.payload, q.received_at, q.stored_at "
    "FROM quarantine q JOIN gateways g ON g.id = q.gateway_id WHERE g.municipality_id = %s "
    "AND q.reason = 'unassigned' AND q.release_id IS NULL AND q.device_ref = %s ORDER BY q.id"
)
_HELD_LOCKED = _HELD + " FOR UPDATE OF q"


class Released(BaseModel):
    """What a release did; a pydantic model so that the API answers with it as it is."""

    model_config = ConfigDict(frozen=True)

    release_id: int | None
    released: int
    without_consent: int


def _moment(raw: Any) -> datetime | None:
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


async def release(
    conn: AsyncConnection[Any], *, municipality_id: UUID, device_id: UUID, patient_id: UUID, start: datetime,
    end: datetime, by: UUID, audit_id: int,
) -> Released:  # fmt: skip
    """Move the device's quarantined `unassigned` readings in `[start, end)` to the patient."""
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        picked, without_consent = await _selection(conn, cur, municipality_id, device_id, patient_id, start, end,
                                                   lock=True)  # fmt: skip
        if not picked:
            return Released(release_id=None, released=0, without_consent=without_consent)
        release_id = await _move(cur, picked, municipality_id, device_id, patient_id, start, end, by, audit_id)
    return Released(release_id=release_id, released=len(picked), without_consent=without_consent)


async def preview(
    conn: AsyncConnection[Any], *, municipality_id: UUID, device_id: UUID, patient_id: UUID, start: datetime,
    end: datetime,
) -> Released:  # fmt: skip
    """What `release` would move now, without moving anything (`release_id` None); refused alike."""
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        picked, without_consent = await _selection(conn, cur, municipality_id, device_id, patient_id, start, end,
                                                   lock=False)  # fmt: skip
    return Released(release_id=None, released=len(picked), without_consent=without_consent)


async def _selection(
    conn: AsyncConnection[Any], cur: AsyncCursor[dict[str, Any]], municipality_id: UUID, device_id: UUID,
    patient_id: UUID, start: datetime, end: datetime, *, lock: bool,
) -> tuple[list[tuple[int, tuple[Any, ...]]], int]:  # fmt: skip
    """The readings a release of `[start, end)` would move, and how many it must leave for want of consent;
    `lock` holds them for the move."""
    if end <= start:
        raise RegistryError("the end of the range must be after its start")
    device = await _releasable(cur, municipality_id, device_id, patient_id, start, end)
    quarantined = await _quarantined(cur, municipality_id, device["address"], lock=lock)
    book = await load_book(conn, [device_id]) if device["profile_id"] in supervision_profiles() else None
    return _pick(quarantined, device_id, patient_id, start, end, book)


async def held_back(conn: AsyncConnection[Any], municipality_id: UUID) -> dict[str, int]:
    """How many unreleased `unassigned` readings the municipality's gateways hold per device address."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT q.device_ref, count(*) AS readings FROM quarantine q JOIN gateways g ON g.id = q.gateway_id "
        "WHERE g.municipality_id = %s AND q.reason = 'unassigned' AND q.release_id IS NULL GROUP BY q.device_ref",
        (municipality_id,),
    )
    return {row["device_ref"]: int(row["readings"]) for row in await cur.fetchall()}


async def _quarantined(
    cur: AsyncCursor[dict[str, Any]], municipality_id: UUID, address: str, *, lock: bool
) -> list[dict[str, Any]]:
    """The device's unreleased `unassigned` readings, oldest first (locked for the release that moves them)."""
    await cur.execute(_HELD_LOCKED if lock else _HELD, (municipality_id, address))
    return await cur.fetchall()


async def _releasable(
    cur: AsyncCursor[dict[str, Any]], municipality_id: UUID, device_id: UUID, patient_id: UUID, start: datetime,
    end: datetime,
) -> dict[str, Any]:  # fmt: skip
    """The device (address, profile), once it is known that its readings in the range may go to the patient;
    holds the device's release lock for the rest of the transaction."""
    device = await owned_device(cur.connection, municipality_id, device_id)
    lifecycle = await lifecycle_of(cur.connection, municipality_id, patient_id)
    if lifecycle in STOPPED:
        raise ConflictError(f"the patient is {lifecycle}")
    await cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"release:{device_id}",))
    await cur.execute(
        "SELECT 1 FROM device_assignments WHERE device_id = %s AND valid && tstzrange(%s, %s, '[)') "
        "AND patient_id IS DISTINCT FROM %s LIMIT 1",
        (device_id, start, end, patient_id),
    )
    if await cur.fetchone() is not None:
        raise ConflictError("the device is assigned to someone else within this range; release a range before it")
    return device


def _pick(
    quarantined: list[dict[str, Any]], device_id: UUID, patient_id: UUID, start: datetime, end: datetime,
    book: ConsentBook | None,
) -> tuple[list[tuple[int, tuple[Any, ...]]], int]:  # fmt: skip
    """(quarantine id, observation row) of each reading to release, and how many in the range lack a consent."""
    catalogue = load_catalogue()
    picked: list[tuple[int, tuple[Any, ...]]] = []
    without_consent = 0
    for row in quarantined:
        payload = row["payload"]
        metric = payload.get("metric")
        if metric not in catalogue or row["seq"] is None or row["outbox_epoch"] is None:
            continue
        measured = _moment(payload.get("measured_at"))
        received = _moment(payload.get("received_at")) or row["received_at"]
        moment = measured or received
        if moment is None or not start <= moment < end:
            continue
        if book is not None and not book.covers(device_id, [patient_id], moment):
            without_consent += 1
            continue
        context = Jsonb(payload["context"]) if payload.get("context") else None
        values = (
            row["gateway_id"],
            row["outbox_epoch"],
            row["seq"],
            device_id,
            patient_id,
            metric,
            float(payload["value"]),
            catalogue[metric].unit,
            moment,
            measured,
            received,
            context,
            row["stored_at"] - received > BACKFILL_AFTER,
        )
        picked.append((row["id"], values))
    return picked, without_consent


async def _move(
    cur: AsyncCursor[dict[str, Any]], picked: list[tuple[int, tuple[Any, ...]]], municipality_id: UUID,
    device_id: UUID, patient_id: UUID, start: datetime, end: datetime, by: UUID, audit_id: int,
) -> int:  # fmt: skip
    """Record the release, copy the readings into `observations`, mark them released and queue evaluation."""
    await cur.execute(
        "INSERT INTO quarantine_releases (municipality_id, device_id, patient_id, period, released, "
        "released_by, audit_id) VALUES (%s, %s, %s, tstzrange(%s, %s, '[)'), %s, %s, %s) RETURNING id",
        (municipality_id, device_id, patient_id, start, end, len(picked), by, audit_id),
    )
    row = await cur.fetchone()
    assert row is not None
    await cur.executemany(
        "INSERT INTO observations (gateway_id, outbox_epoch, seq, device_id, patient_id, metric, value, unit, "
        "t, measured_at, received_at, context, backfilled) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
        "%s, %s, %s) ON CONFLICT (gateway_id, outbox_epoch, seq) DO NOTHING",
        [values for _, values in picked],
    )
    await cur.execute("UPDATE quarantine SET release_id = %s WHERE id = ANY(%s)", (row["id"], [q for q, _ in picked]))
    metrics = sorted({values[5] for _, values in picked})
    await cur.execute(
        "INSERT INTO pending_evaluations (patient_id, metric) SELECT %s, m FROM unnest(%s::text[]) AS m",
        (patient_id, metrics),
    )
    return int(row["id"])
