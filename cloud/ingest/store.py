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
from typing import Any, NamedTuple
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
# A UUID's binary form on the wire is its 16 raw bytes, exactly what the bytea dumper writes; dumping
# precomputed bytes avoids a Python-level UUID dumper call for four columns of every row.
_TYPES = [
    "bytea", "bytea", "int8", "bytea", "bytea", "text", "float8", "text", "timestamptz", "timestamptz", "timestamptz",
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


def _overlap(lo: datetime | None, hi: datetime | None, lower: datetime | None, upper: datetime | None) -> bool:
    """Whether the half-open periods [lo, hi) and [lower, upper) share a moment (None: unbounded)."""
    return (hi is None or lower is None or lower < hi) and (upper is None or lo is None or lo < upper)


class _Target(NamedTuple):
    """Where a reading goes: its device and patient (None for a home's shared sensor), with the UUIDs' 16 raw
    bytes for the binary COPY and small per-batch integers for hashing (a UUID hashes through a Python-level
    `__hash__`; a batch of 1,000 readings would call it thousands of times)."""

    number: int
    device_key: int
    device_id: UUID
    patient_id: UUID | None
    device_raw: bytes
    patient_raw: bytes | None


_ContentKey = tuple[int, str, datetime, float]
_Staged = tuple[Reading, _Target, _ContentKey | None]


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
        self.targets: list[_Target] = []
        self.device_keys: dict[UUID, int] = {}
        self._interned: dict[tuple[UUID, UUID | None], _Target] = {}
        # address -> (lower, upper, target): the answer for every moment in [lower, upper), so most readings
        # of a batch (a few devices, many readings) cost one dictionary look-up and two comparisons.
        self._memo: dict[str, tuple[datetime | None, datetime | None, _Target]] = {}

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

    def resolve(self, reading: Reading) -> _Target | Rejection:
        """Where a reading at its time goes, or the reason it cannot be stored."""
        t = reading.t
        hit = self._memo.get(reading.device)
        if hit is not None and (hit[0] is None or hit[0] <= t) and (hit[1] is None or t < hit[1]):
            return hit[2]
        registrations = self.registrations.get(reading.device)
        if registrations is None:
            return _reject(reading, "unknown_device", "no device with this address is registered in the municipality")
        registration = None
        foreign = False
        for r in registrations:
            if _within(t, r.lower, r.upper):
                if r.gateway_id == self.gateway_id:
                    registration = r
                    break
                foreign = True
        if registration is None:
            if foreign:
                return _reject(reading, "foreign_device", "the device is registered to another gateway at that time")
            return _reject(reading, "unknown_device", "the device is not registered to this gateway at that time")
        device_id = registration.device_id
        assignment = next((a for a in self.assignments.get(device_id, ()) if _within(t, a[2], a[3])), None)
        if assignment is None:
            return _reject(reading, "unassigned", "the device is assigned to no patient or home at that time")
        patient_id, home_id, lower, upper = assignment
        if device_id in self.supervision or patient_id is None:
            people = [patient_id] if patient_id is not None else self.residents.get(home_id or UUID(int=0), [])
            if device_id in self.supervision and not self.consents.covers(device_id, people, t):
                return _reject(
                    reading, "no_consent", "a supervision sensor needs a valid consent or assessment for everyone it "
                    "watches"
                )  # fmt: skip
            if patient_id is None:
                self.shared[reading.seq] = people
            return self._target(device_id, patient_id)
        target = self._target(device_id, patient_id)
        self._remember(reading.device, registration, lower, upper, target)
        return target

    def _target(self, device_id: UUID, patient_id: UUID | None) -> _Target:
        target = self._interned.get((device_id, patient_id))
        if target is None:
            key = self.device_keys.setdefault(device_id, len(self.device_keys))
            target = _Target(len(self.targets), key, device_id, patient_id, device_id.bytes,
                             patient_id.bytes if patient_id else None)  # fmt: skip
            self.targets.append(target)
            self._interned[(device_id, patient_id)] = target
        return target

    def _remember(
        self, address: str, chosen: _Registration, lower: datetime | None, upper: datetime | None, target: _Target
    ) -> None:
        """Memoize a plain patient device's answer over the intersection of its registration and assignment
        periods, unless another registration of the address overlaps it (then the answer depends on order)."""
        lo = chosen.lower if lower is None else lower if chosen.lower is None else max(lower, chosen.lower)
        hi = chosen.upper if upper is None else upper if chosen.upper is None else min(upper, chosen.upper)
        for other in self.registrations[address]:
            if other is not chosen and _overlap(lo, hi, other.lower, other.upper):
                return
        self._memo[address] = (lo, hi, target)

    def shared_touched(self, seqs: Iterable[int], staged: dict[int, _Staged]) -> set[tuple[UUID, str]]:
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
        # One batch per gateway at a time: what `_known` finds cannot change before the COPY, so the
        # de-duplication is exact (also without a unique index, on the TimescaleDB path).
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"ingest:{gateway_id}",))
        resolver = _Resolver(gateway_id)
        await resolver.load(conn, municipality_id, {r.device for r in readings})
        staged: dict[int, _Staged] = {}
        for reading in readings:
            target = resolver.resolve(reading)
            if isinstance(target, Rejection):
                rejections.append(target)
            else:
                staged[reading.seq] = (reading, target, _content(reading, target))
        by_key, by_content = await _known(conn, gateway_id, epoch, staged, resolver.device_keys)
        new: list[_Staged] = []
        seen: set[_ContentKey] = set()
        for seq, item in staged.items():
            reading, target, content = item
            if seq in by_key:
                if by_key[seq] == (target.device_id, reading.metric, reading.value, reading.measured_at):
                    outcome.duplicates += 1
                else:
                    rejections.append(
                        Rejection(seq, reading.device, "sequence_conflict", "this sequence number was stored "
                                  "before with a different reading", _raw(reading), reading.received_at)
                    )  # fmt: skip
            elif seq in by_content or (content is not None and content in seen):
                outcome.resent += 1
            else:
                new.append(item)
                if content is not None:
                    seen.add(content)
        await _copy(conn, gateway_id, epoch, new, clock_skew_s)
        outcome.stored = len(new)
        touched = {(target.number, reading.metric) for reading, target, _ in new}
        await _queue_evaluations(conn, {(resolver.targets[number].patient_id, metric) for number, metric in touched})
        await _queue_evaluations(conn, resolver.shared_touched((reading.seq for reading, _, _ in new), staged))
        await _quarantine(conn, gateway_id, epoch, rejections, outcome)
        if outcome.quarantined["sequence_conflict"]:
            await conn.execute(
                "UPDATE gateways SET sequence_conflicts = sequence_conflicts + %s WHERE id = %s",
                (outcome.quarantined["sequence_conflict"], gateway_id),
            )
    outcome.committed = sorted({*staged, *(r.seq for r in rejections if r.seq is not None)})
    return outcome


def _content(reading: Reading, target: _Target) -> _ContentKey | None:
    """What identifies a recorded measurement a device may re-send; None for events and states."""
    if reading.measured_at is None or reading.metric not in _RECORDED:
        return None
    return target.device_key, reading.metric, reading.measured_at, reading.value


async def _known(
    conn: AsyncConnection[Any],
    gateway_id: UUID,
    epoch: UUID,
    staged: dict[int, _Staged],
    device_keys: dict[UUID, int],
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
    windows: dict[int, list[Any]] = {}  # device key -> [device, earliest, latest]
    metrics: set[str] = set()
    for reading, target, content in staged.values():
        if content is None:
            continue
        at = content[2]
        window = windows.get(target.device_key)
        if window is None:
            windows[target.device_key] = [target.device_id, at, at]
        elif at < window[1]:
            window[1] = at
        elif at > window[2]:
            window[2] = at
        metrics.add(reading.metric)
    if not windows:
        return by_key, set()
    stored = {
        (device_keys[device_id], metric, at, value)
        for device_id, metric, at, value in await (
            await conn.execute(
                _BY_CONTENT_SQL,
                (
                    [w[0] for w in windows.values()],
                    [w[1] for w in windows.values()],
                    [w[2] for w in windows.values()],
                    sorted(metrics),
                ),
            )
        ).fetchall()
    }
    if not stored:
        return by_key, set()
    return by_key, {seq for seq, (_, _, content) in staged.items() if content in stored}


async def _copy(
    conn: AsyncConnection[Any], gateway_id: UUID, epoch: UUID, rows: list[_Staged], clock_skew_s: float | None
) -> None:
    if not rows:
        return
    skew = {"gateway_clock_skew_s": round(clock_skew_s, 1)} if clock_skew_s and abs(clock_skew_s) > 60 else None
    gateway_raw, epoch_raw = gateway_id.bytes, epoch.bytes
    async with conn.cursor().copy(f"COPY observations ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(_TYPES)
        for reading, target, _ in rows:
            context = {**(reading.context or {}), **skew} if skew else reading.context
            await copy.write_row(
                (
                    gateway_raw, epoch_raw, reading.seq, target.device_raw, target.patient_raw, reading.metric,
                    reading.value, reading.unit, reading.t, reading.measured_at, reading.received_at,
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
