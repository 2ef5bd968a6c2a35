"""Storing one batch in one transaction: match devices and patients, find what is not new, bulk-write the rest.

One query finds the readings already stored, by delivery key (gateway, outbox epoch, sequence) and by
device content (a device re-sending a stored record under a new sequence); everything else goes straight
into `observations` with one binary `COPY`. A per-gateway advisory lock makes this exact: a gateway's
batches are stored one at a time, and no other gateway writes its delivery keys. What was not new is
classified: the same key with the same payload is a duplicate; with a different payload, a
`sequence_conflict`; the same content under a new key, a re-sent record.

In the same transaction the batch queues one pending evaluation per touched (patient, metric) and, for
alarm-class metrics, signals `NOTIFY tryggheim_alarm` (delivered on commit), so no stored reading can miss
detection even if this process dies right after the commit (cloud/evaluation).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from cloud.ingest.validate import Reading, Rejection, payload_hash, storable
from cloud.registry import homes as registry_homes
from cloud.registry.consent import ConsentBook, load_book, supervision_profiles
from device_profiles import load_catalogue

_CATALOGUE = load_catalogue()

# Devices re-send *stored records* (a blood-pressure monitor or glucose meter replays its memory under new
# sequence numbers); those are measurements. Events and states are not de-duplicated by content: two door
# openings or two alarm presses in the same second are two real events, and must both be stored.
RECORDED_METRICS = sorted(
    key for key, metric in load_catalogue().metrics.items() if metric.kind in {"vital", "ordinal"}
)

ALARM_CHANNEL = "tryggheim_alarm"
ALARM_METRICS = frozenset(metric.key for metric in _CATALOGUE.metrics.values() if metric.urgency == "alarm")
# One statement: the queue rows, and one notification per patient with a new alarm-class reading.
_QUEUE_SQL = (
    "WITH queued AS (INSERT INTO pending_evaluations (patient_id, metric, alarm) "
    "SELECT * FROM unnest(%b::uuid[], %b::text[], %b::bool[]) RETURNING 1) "
    "SELECT pg_notify('tryggheim_alarm', p::text) FROM unnest(%b::uuid[]) AS p"
)
_COLUMNS = (
    "gateway_id, outbox_epoch, seq, device_id, patient_id, metric, value, unit, t, measured_at, received_at, "
    "context, backfilled"
)
_TYPES = [
    "uuid", "uuid", "int8", "uuid", "uuid", "text", "float8", "text", "timestamptz", "timestamptz", "timestamptz",
    "jsonb", "bool",
]  # fmt: skip
# Rows already stored in this batch's delivery-key range, and recorded measurements already stored in
# each device's time window; the exact matching happens in Python. Ranges instead of one array element per
# reading keep the parameters small (dumping large arrays costs more than the lookups), and a fresh batch
# finds nothing in either range.
_BY_KEY_SQL = (
    "SELECT seq, device_id, metric, value, measured_at FROM observations "
    "WHERE gateway_id = %b AND outbox_epoch = %b AND seq BETWEEN %b AND %b"
)
_BY_CONTENT_SQL = (
    "SELECT o.device_id, o.metric, o.measured_at, o.value FROM unnest(%b::uuid[], %b::timestamptz[], "
    "%b::timestamptz[]) AS w(device_id, lo, hi) JOIN observations o ON o.device_id = w.device_id "
    "AND o.metric = ANY(%b::text[]) AND o.measured_at BETWEEN w.lo AND w.hi"
)
_RECORDED = frozenset(RECORDED_METRICS)


@dataclass
class Outcome:
    """What happened to a batch; `committed` lists every sequence the gateway may now delete."""

    committed: list[int] = field(default_factory=list)
    stored: int = 0
    duplicates: int = 0
    resent: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class _Registration:
    device_id: UUID
    gateway_id: UUID
    lower: datetime | None
    upper: datetime | None


def _within(moment: datetime, lower: datetime | None, upper: datetime | None) -> bool:
    return (lower is None or lower <= moment) and (upper is None or moment < upper)


class _Resolver:
    """Device, patient and consent lookup for one batch, loaded with a few queries."""

    def __init__(self, gateway_id: UUID) -> None:
        self.gateway_id = gateway_id
        self.registrations: dict[str, list[_Registration]] = {}
        # device -> (patient or None, home or None, lower, upper): a shared sensor is assigned to a home
        self.assignments: dict[UUID, list[tuple[UUID | None, UUID | None, datetime | None, datetime | None]]] = {}
        self.supervision: set[UUID] = set()
        self.residents: dict[UUID, list[UUID]] = {}
        self.consents = ConsentBook({})
        self.shared: dict[int, list[UUID]] = {}  # seq of a home sensor's reading -> residents to evaluate

    async def load(self, conn: AsyncConnection[Any], municipality_id: UUID, addresses: set[str]) -> None:
        rows = await (
            await conn.execute(
                "SELECT d.address, d.id, r.gateway_id, lower(r.valid), upper(r.valid), d.profile_id FROM devices d "
                "LEFT JOIN device_registrations r ON r.device_id = d.id "
                "WHERE d.municipality_id = %b AND d.address = ANY(%b)",
                (municipality_id, list(addresses)),
            )
        ).fetchall()
        supervision = supervision_profiles()
        for address, device_id, gateway_id, lower, upper, profile_id in rows:
            self.registrations.setdefault(address, [])
            if profile_id in supervision:
                self.supervision.add(device_id)
            if gateway_id is not None:
                self.registrations[address].append(_Registration(device_id, gateway_id, lower, upper))
        device_ids = list({r.device_id for regs in self.registrations.values() for r in regs})
        for device_id, patient_id, home_id, lower, upper in await (
            await conn.execute(
                "SELECT device_id, patient_id, home_id, lower(valid), upper(valid) FROM device_assignments "
                "WHERE device_id = ANY(%b)",
                (device_ids,),
            )
        ).fetchall():
            self.assignments.setdefault(device_id, []).append((patient_id, home_id, lower, upper))
        homes = sorted({a[1] for rows in self.assignments.values() for a in rows if a[1] is not None})
        if homes:
            self.residents = await registry_homes.residents(conn, homes)
        if self.supervision & set(device_ids):
            self.consents = await load_book(conn, self.supervision & set(device_ids))

    def resolve(self, reading: Reading) -> tuple[UUID, UUID | None] | Rejection:
        """(device, patient) for a reading at its time, or the reason it cannot be stored. The patient is None
        for a sensor shared by a home's residents."""
        registrations = self.registrations.get(reading.device)
        if registrations is None:
            return _reject(reading, "unknown_device", "no device with this address is registered in the municipality")
        t = reading.t
        device_id = None
        foreign = False
        for r in registrations:
            if _within(t, r.lower, r.upper):
                if r.gateway_id == self.gateway_id:
                    device_id = r.device_id
                    break
                foreign = True
        if device_id is None:
            if foreign:
                return _reject(reading, "foreign_device", "the device is registered to another gateway at that time")
            return _reject(reading, "unknown_device", "the device is not registered to this gateway at that time")
        target = next(
            ((p, h) for p, h, lower, upper in self.assignments.get(device_id, ()) if _within(t, lower, upper)), None
        )
        if target is None:
            return _reject(reading, "unassigned", "the device is assigned to no patient or home at that time")
        patient_id, home_id = target
        if device_id in self.supervision or patient_id is None:
            people = [patient_id] if patient_id is not None else self.residents.get(home_id or UUID(int=0), [])
            if device_id in self.supervision and not self.consents.covers(device_id, people, t):
                return _reject(
                    reading, "no_consent", "a supervision sensor needs a valid consent or assessment for everyone it "
                    "watches"
                )  # fmt: skip
            if patient_id is None:
                self.shared[reading.seq] = people
        return device_id, patient_id

    def shared_touched(
        self, seqs: Iterable[int], staged: dict[int, tuple[Reading, UUID, UUID | None]]
    ) -> set[tuple[UUID, str]]:
        """(resident, metric) to evaluate for stored readings of shared sensors."""
        return {(person, staged[seq][0].metric) for seq in seqs if seq in self.shared for person in self.shared[seq]}


def _reject(reading: Reading, reason: Any, detail: str) -> Rejection:
    return Rejection(reading.seq, reading.device, reason, detail, _raw(reading), reading.received_at)


async def store_batch(
    conn: AsyncConnection[Any],
    *,
    gateway_id: UUID,
    municipality_id: UUID,
    epoch: UUID,
    readings: list[Reading],
    rejections: list[Rejection],
    clock_skew_s: float | None,
) -> Outcome:
    """Write one batch atomically and report what happened to each sequence number."""
    outcome = Outcome()
    async with conn.transaction():
        # One batch per gateway at a time: what `_KNOWN_SQL` finds cannot change before the COPY, so the
        # de-duplication is exact (also without a unique index, on the TimescaleDB path).
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"ingest:{gateway_id}",))
        resolver = _Resolver(gateway_id)
        await resolver.load(conn, municipality_id, {r.device for r in readings})
        staged: dict[int, tuple[Reading, UUID, UUID | None]] = {}
        for reading in readings:
            resolved = resolver.resolve(reading)
            if isinstance(resolved, Rejection):
                rejections.append(resolved)
            else:
                staged[reading.seq] = (reading, *resolved)
        by_key, by_content = await _known(conn, gateway_id, epoch, staged)
        new: list[int] = []
        seen: set[tuple[UUID, str, datetime, float]] = set()
        for seq, (reading, device_id, _) in staged.items():
            content = _content(reading, device_id)
            if seq in by_key:
                if by_key[seq] == (device_id, reading.metric, reading.value, reading.measured_at):
                    outcome.duplicates += 1
                else:
                    rejections.append(
                        Rejection(seq, reading.device, "sequence_conflict", "this sequence number was stored "
                                  "before with a different reading", _raw(reading), reading.received_at)
                    )  # fmt: skip
            elif seq in by_content or (content is not None and content in seen):
                outcome.resent += 1
            else:
                new.append(seq)
                if content is not None:
                    seen.add(content)
        await _copy(conn, gateway_id, epoch, [staged[seq] for seq in new], clock_skew_s)
        outcome.stored = len(new)
        await _queue_evaluations(conn, {(staged[seq][2], staged[seq][0].metric) for seq in new})
        await _queue_evaluations(conn, resolver.shared_touched(new, staged))
        await _quarantine(conn, gateway_id, epoch, rejections, outcome)
        if outcome.quarantined["sequence_conflict"]:
            await conn.execute(
                "UPDATE gateways SET sequence_conflicts = sequence_conflicts + %s WHERE id = %s",
                (outcome.quarantined["sequence_conflict"], gateway_id),
            )
    outcome.committed = sorted({*staged, *(r.seq for r in rejections if r.seq is not None)})
    return outcome


def _content(reading: Reading, device_id: UUID) -> tuple[UUID, str, datetime, float] | None:
    """What identifies a recorded measurement a device may re-send; None for events and states."""
    if reading.measured_at is None or reading.metric not in _RECORDED:
        return None
    return device_id, reading.metric, reading.measured_at, reading.value


async def _known(
    conn: AsyncConnection[Any], gateway_id: UUID, epoch: UUID, staged: dict[int, tuple[Reading, UUID, UUID | None]]
) -> tuple[dict[int, tuple[Any, ...]], set[int]]:
    """Stored rows with this batch's delivery keys, and the sequences whose content is already stored."""
    if not staged:
        return {}, set()
    by_key = {
        seq: tuple(stored)
        for seq, *stored in await (
            await conn.execute(_BY_KEY_SQL, (gateway_id, epoch, min(staged), max(staged)))
        ).fetchall()
        if seq in staged
    }
    recorded = {seq: c for seq, (reading, device_id, _) in staged.items() if (c := _content(reading, device_id))}
    if not recorded:
        return by_key, set()
    windows: dict[UUID, tuple[datetime, datetime]] = {}
    for device_id, _, at, _ in recorded.values():
        lo, hi = windows.get(device_id, (at, at))
        windows[device_id] = (min(lo, at), max(hi, at))
    metrics = sorted({c[1] for c in recorded.values()})
    stored = set(
        await (
            await conn.execute(
                _BY_CONTENT_SQL,
                (list(windows), [w[0] for w in windows.values()], [w[1] for w in windows.values()], metrics),
            )
        ).fetchall()
    )
    return by_key, {seq for seq, content in recorded.items() if content in stored}


async def _copy(
    conn: AsyncConnection[Any],
    gateway_id: UUID,
    epoch: UUID,
    rows: list[tuple[Reading, UUID, UUID | None]],
    clock_skew_s: float | None,
) -> None:
    if not rows:
        return
    skew = {"gateway_clock_skew_s": round(clock_skew_s, 1)} if clock_skew_s and abs(clock_skew_s) > 60 else None
    async with conn.cursor().copy(f"COPY observations ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(_TYPES)
        for reading, device_id, patient_id in rows:
            context = {**(reading.context or {}), **skew} if skew else reading.context
            await copy.write_row(
                (
                    gateway_id, epoch, reading.seq, device_id, patient_id, reading.metric, reading.value,
                    reading.unit, reading.t, reading.measured_at, reading.received_at,
                    Jsonb(context) if context else None, reading.backfilled,
                )
            )  # fmt: skip


async def _queue_evaluations(conn: AsyncConnection[Any], touched: Iterable[tuple[UUID | None, str]]) -> None:
    """Queue the evaluation of what the batch stored (one row per distinct patient and metric). Shared
    sensors' readings (no patient) are queued for their home's residents by the caller."""
    touched = {pair for pair in touched if pair[0] is not None}
    if not touched:
        return
    patients, metrics = zip(*sorted(touched), strict=True)
    alarm = [metric in ALARM_METRICS for metric in metrics]
    alarmed = sorted({patient for patient, is_alarm in zip(patients, alarm, strict=True) if is_alarm})
    await conn.execute(_QUEUE_SQL, (list(patients), list(metrics), alarm, alarmed))


def _raw(reading: Reading) -> dict[str, Any]:
    return {
        "seq": reading.seq,
        "device": reading.device,
        "metric": reading.metric,
        "value": reading.value,
        "unit": reading.unit,
        "measured_at": reading.measured_at.isoformat() if reading.measured_at else None,
        "received_at": reading.received_at.isoformat(),
        **({"context": reading.context} if reading.context else {}),
    }


async def _quarantine(
    conn: AsyncConnection[Any], gateway_id: UUID, epoch: UUID, rejections: list[Rejection], outcome: Outcome
) -> None:
    if not rejections:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO quarantine (gateway_id, outbox_epoch, seq, device_ref, reason, detail, payload, "
            "received_at, payload_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [
                (gateway_id, epoch, r.seq, r.device, r.reason, r.detail.replace("\x00", "\ufffd")[:500],
                 Jsonb(storable(r.raw)), r.received_at,
                 payload_hash(r.raw))
                for r in rejections
            ],
        )  # fmt: skip
    outcome.quarantined.update(r.reason for r in rejections)
