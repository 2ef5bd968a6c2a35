"""Storing one batch in one transaction: match devices and patients, find what is not new, bulk-write the rest.

Two queries find the readings already stored, by delivery key (gateway, outbox epoch, sequence) and by
device content (a device re-sending a stored record under a new sequence); everything else goes straight
into `observations` with one binary `COPY`. A per-gateway advisory lock makes this exact: a gateway's
batches are stored one at a time, and no other gateway writes its delivery keys. What was not new is
classified: the same key with the same payload is a duplicate; with a different payload, a
`sequence_conflict`; the same content under a new key, a re-sent record.

Round trips, not rows, are what a small batch costs, so the statements go in two pipelines around the COPY
(which pipeline mode does not allow): BEGIN, the lock and every look-up in the first; the evaluation queue,
the quarantine (one statement that also applies the gateway's hourly quota, cloud/ingest/quarantine.py) and
COMMIT in the second. A batch takes four round trips whatever its size (one more when it has readings of
shared or supervision sensors: residents and consents depend on the assignments found); a batch of at most
`SMALL_BATCH` new readings takes two, its rows going in as one INSERT in the second pipeline instead.

The gateway's local attempts on an alarm it could not deliver (`raised_locally`) go into
`local_alarm_attempts` in the same transaction, from a new reading or from a duplicate: an alarm the cloud
committed without the gateway hearing so comes again with the attempts made since, and only those are added.

In the same transaction the batch queues one pending evaluation per touched (patient, metric) and, for
alarm-class metrics, signals `NOTIFY tryggheim_alarm` (delivered on commit), so no stored reading can miss
detection even if this process dies right after the commit (cloud/evaluation). It also records when each
device of the batch was last heard, quarantined readings included (cloud/gateways/last_seen.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection, AsyncCursor, pq
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg.types.string import BytesBinaryDumper

from cloud import telemetry as prometheus
from cloud.gateways import last_seen
from cloud.gateways.credentials import STILL_VALID_SQL
from cloud.ingest import quarantine
from cloud.ingest.quarantine import DEFAULT_QUOTA, Quota
from cloud.ingest.resolve import Resolver, Target
from cloud.ingest.validate import Rejection, ValidReading, as_sent
from device_profiles import load_catalogue

_CATALOGUE = load_catalogue()

# Devices re-send *stored records* (a blood-pressure monitor or glucose meter replays its memory under new
# sequence numbers); those are measurements. Events and states are not de-duplicated by content: two door
# openings or two alarm presses in the same second are two real events, and must both be stored.
RECORDED_METRICS = sorted(
    key for key, metric in load_catalogue().metrics.items() if metric.kind in {"vital", "ordinal"}
)

ALARM_CHANNEL = "tryggheim_alarm"
ALARM_METRICS = _CATALOGUE.alarm_metrics
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
# Up to this many new rows go in an INSERT inside the closing pipeline (one round trip fewer); more in a
# binary COPY, which costs less per row but is a round trip of its own.
SMALL_BATCH = 50
_INSERT_SQL = (
    f"INSERT INTO observations ({_COLUMNS}) SELECT %b::uuid, %b::uuid, * FROM unnest(%b::int8[], %b::uuid[], "  # noqa: S608 - fixed columns
    "%b::uuid[], %b::text[], %b::float8[], %b::text[], %b::timestamptz[], %b::timestamptz[], %b::timestamptz[], "
    "%b::jsonb[], %b::bool[])"
)
# Rows already stored in this batch's delivery-key range (`seq` set), and recorded measurements already
# stored in each address's time window (`seq` null), in one statement; the exact matching happens in Python.
# Ranges instead of one array element per reading keep the parameters small (dumping large arrays costs more
# than the lookups), and a fresh batch finds nothing in either range.
_BY_KEY_SQL = (
    "SELECT seq, device_id, metric, value, measured_at FROM observations "
    "WHERE gateway_id = %b AND outbox_epoch = %b AND seq BETWEEN %b AND %b"
)
# MATERIALIZED: resolving the addresses first lets each window probe the content index with device, metric
# and time; inlined, the planner joined through `devices` and filtered the times afterwards (40 times slower).
_KNOWN_SQL = (
    "WITH w AS MATERIALIZED (SELECT d.id, w.lo, w.hi FROM unnest(%b::text[], %b::timestamptz[], %b::timestamptz[]) "  # noqa: S608 - fixed text
    "AS w(address, lo, hi) JOIN devices d ON d.municipality_id = %b AND d.address = w.address) "
    f"{_BY_KEY_SQL} UNION ALL SELECT NULL, o.device_id, o.metric, o.value, o.measured_at FROM w "
    "JOIN observations o ON o.device_id = w.id AND o.metric = ANY(%b::text[]) AND o.measured_at BETWEEN w.lo AND w.hi"
)
# The credential's check (`STILL_VALID_SQL`) and the gateway's ingest lock in one statement: no row, no lock,
# and the batch is refused.
_VALID_AND_LOCK_SQL = (
    "SELECT v.clock_skew_s, pg_advisory_xact_lock(hashtextextended(%s, 0)) "  # noqa: S608 - fixed text
    f"FROM ({STILL_VALID_SQL}) AS v"
)
# A small batch's rows, their evaluations queued and the alarm notifications, in one statement (data-modifying
# WITH clauses always run to completion).
_INSERT_AND_QUEUE_SQL = (
    f"WITH stored AS ({_INSERT_SQL}), queued AS (INSERT INTO pending_evaluations (patient_id, metric, alarm) "  # noqa: S608 - fixed text
    "SELECT * FROM unnest(%b::uuid[], %b::text[], %b::bool[])) "
    "SELECT pg_notify('tryggheim_alarm', p::text) FROM unnest(%b::uuid[]) AS p"
)
_RECORDED = frozenset(RECORDED_METRICS)


@dataclass
class BatchOutcome:
    """What happened to a batch; `committed` lists every sequence the gateway may now delete. `quarantined`
    counts by reason, and readings over the gateway's quarantine quota as `over_quota`."""

    committed: list[int] = field(default_factory=list)
    stored: int = 0
    duplicates: int = 0
    resent: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)


_ContentKey = tuple[int, str, datetime, float]
_Staged = tuple[ValidReading, Target, _ContentKey | None]


class CredentialRefused(Exception):  # noqa: N818 - reads as an outcome
    """The batch's credential was revoked or expired after the caller's (cached) check."""


async def store_batch(
    conn: AsyncConnection[Any],
    *,
    gateway_id: UUID,
    municipality_id: UUID,
    epoch: UUID,
    readings: list[ValidReading],
    rejections: list[Rejection],
    clock_skew_s: float | None,
    quota: Quota = DEFAULT_QUOTA,
    credential_digest: bytes | None = None,
) -> BatchOutcome:
    """Write one batch atomically and report what happened to each sequence number; quarantine what was
    refused within the gateway's hourly `quota`, and count the rest. With `credential_digest`, the
    credential is checked again in the same transaction (raises `CredentialRefused`, nothing stored): the
    caller may have trusted a cached check), and the gateway's current `clock_skew_s` read with it."""
    outcome = BatchOutcome()
    resolver = Resolver(gateway_id, municipality_id)
    try:
        async with conn.pipeline():
            await conn.execute("BEGIN")
            # One batch per gateway at a time: what the look-ups find cannot change before the COPY, so the
            # de-duplication is exact (also without a unique index, on the TimescaleDB path).
            lock = f"ingest:{gateway_id}"
            still_valid = None
            if credential_digest is not None:
                still_valid = conn.cursor(row_factory=dict_row)
                await still_valid.execute(_VALID_AND_LOCK_SQL, (lock, gateway_id, credential_digest, credential_digest))
            else:
                await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock,))
            await resolver.send(conn, sorted({r.device for r in readings}))
            known = await _send_known(conn, gateway_id, municipality_id, epoch, readings)
        if still_valid is not None:
            valid = await still_valid.fetchone()
            if valid is None:
                raise CredentialRefused
            clock_skew_s = valid["clock_skew_s"]
        await resolver.receive(conn)
        staged = _stage(readings, resolver, rejections)
        by_key, by_content = await _receive_known(known, staged, resolver.device_keys)
        new = _classify(staged, by_key, by_content, rejections, outcome)
        if len(new) > SMALL_BATCH:
            await _copy(conn, gateway_id, epoch, new, clock_skew_s)
        outcome.stored = len(new)
        touched = {(resolver.targets[n].patient_id, metric) for n, metric in {(t.number, r.metric) for r, t, _ in new}}
        touched |= resolver.shared_touched(reading for reading, _, _ in new)
        async with conn.pipeline():
            if len(new) <= SMALL_BATCH:
                await _insert(conn, gateway_id, epoch, new, clock_skew_s, touched)
            else:
                await queue_evaluations(conn, touched)
            await _local_attempts(conn, gateway_id, epoch, [*(r for r, _, _ in new), *_duplicates(staged, by_key)])
            pending = await quarantine.send(conn, gateway_id, epoch, rejections, quota)
            await last_seen.record(conn, gateway_id, _heard(readings, rejections), clock_skew_s)
            conflicts = sum(r.reason == "sequence_conflict" for r in rejections)
            if conflicts:
                await conn.execute(
                    "UPDATE gateways SET sequence_conflicts = sequence_conflicts + %s WHERE id = %s",
                    (conflicts, gateway_id),
                )
            await conn.execute("COMMIT")
        if pending is not None:
            counts, over, over_bytes = await pending.result()
            outcome.quarantined.update(counts)
            prometheus.QUARANTINE_OVERFLOW.inc(over)
            prometheus.QUARANTINE_OVERFLOW_BYTES.inc(over_bytes)
    except BaseException:
        # BEGIN and COMMIT are explicit (conn.transaction() cannot span a COPY between two pipelines), and so
        # is the rollback: nothing of a failed batch is kept, and the connection goes back to the pool clean.
        # If the rollback fails too, the batch's own error is the one to report; the pool deals with a
        # connection that is not idle when it comes back (rolls it back, or closes it when broken).
        if not conn.closed and conn.info.transaction_status != pq.TransactionStatus.IDLE:
            with suppress(psycopg.Error):
                await conn.execute("ROLLBACK")
        raise
    outcome.committed = sorted({*staged, *(r.seq for r in rejections if r.seq is not None)})
    return outcome


def _heard(readings: list[ValidReading], rejections: list[Rejection]) -> dict[str, datetime]:
    """When the gateway last heard each device of the batch: refused readings count too, since liveness asks
    whether the device talks, not whether what it said could be stored."""
    return last_seen.newest(
        [*((r.device, r.received_at) for r in readings), *((r.device, r.received_at) for r in rejections if r.device)]
    )


def _classify(
    staged: dict[int, _Staged],
    by_key: dict[int, tuple[Any, ...]],
    by_content: set[int],
    rejections: list[Rejection],
    outcome: BatchOutcome,
) -> list[_Staged]:
    """What is new; counts duplicates and re-sent records, and turns a reused sequence into a rejection."""
    new: list[_Staged] = []
    seen: set[_ContentKey] = set()
    for seq, item in staged.items():
        reading, target, content = item
        if seq in by_key:
            if _same(by_key[seq], reading, target):
                outcome.duplicates += 1
            else:
                rejections.append(
                    Rejection(seq, reading.device, "sequence_conflict", "this sequence number was stored before "
                              "with a different reading", as_sent(reading), reading.received_at)
                )  # fmt: skip
        elif seq in by_content or (content is not None and content in seen):
            outcome.resent += 1
        else:
            new.append(item)
            if content is not None:
                seen.add(content)
    return new


def _same(stored: tuple[Any, ...], reading: ValidReading, target: Target) -> bool:
    """Whether the row stored under a reading's delivery key holds the same reading (a plain duplicate)."""
    return stored == (target.device_id, reading.metric, reading.value, reading.measured_at)


def _stage(readings: list[ValidReading], resolver: Resolver, rejections: list[Rejection]) -> dict[int, _Staged]:
    """Each reading with its resolved target and content by sequence number; the unresolvable go to `rejections`."""
    staged: dict[int, _Staged] = {}
    for reading in readings:
        target = resolver.resolve(reading)
        if isinstance(target, Rejection):
            rejections.append(target)
        else:
            staged[reading.seq] = (reading, target, _content(reading, target))
    return staged


def _duplicates(staged: dict[int, _Staged], by_key: dict[int, tuple[Any, ...]]) -> list[ValidReading]:
    return [
        reading for seq, (reading, target, _) in staged.items() if seq in by_key and _same(by_key[seq], reading, target)
    ]


async def _local_attempts(
    conn: AsyncConnection[Any], gateway_id: UUID, epoch: UUID, stored: list[ValidReading]
) -> None:
    """Keep the local attempts that came with stored alarms, each once (the table's unique key)."""
    rows = [(gateway_id, epoch, r.seq, a["at"], a["path"], a["ok"], a["detail"])
            for r in stored if r.raised_locally for a in r.raised_locally]  # fmt: skip
    if rows:
        await conn.cursor().executemany(
            "INSERT INTO local_alarm_attempts (gateway_id, outbox_epoch, seq, at, path, ok, detail) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT ON CONSTRAINT local_alarm_attempts_once DO NOTHING",
            rows,
        )


def _content(reading: ValidReading, target: Target) -> _ContentKey | None:
    """What identifies a recorded measurement a device may re-send; None for events and states."""
    if reading.measured_at is None or reading.metric not in _RECORDED:
        return None
    return target.device_key, reading.metric, reading.measured_at, reading.value


_Known = tuple[AsyncCursor[Any], AsyncCursor[Any] | None] | None


async def _send_known(
    conn: AsyncConnection[Any], gateway_id: UUID, municipality_id: UUID, epoch: UUID, readings: list[ValidReading]
) -> AsyncCursor[Any] | None:
    """Queue the look-up of stored rows with this batch's delivery keys, and of recorded measurements in each
    address's time window (by address: the devices are not resolved yet)."""
    if not readings:
        return None
    keys = (gateway_id, epoch, min(r.seq for r in readings), max(r.seq for r in readings))
    windows: dict[str, list[datetime]] = {}
    metrics: set[str] = set()
    for reading in readings:
        at = reading.measured_at
        if at is None or reading.metric not in _RECORDED:
            continue
        window = windows.get(reading.device)
        if window is None:
            windows[reading.device] = [at, at]
        elif at < window[0]:
            window[0] = at
        elif at > window[1]:
            window[1] = at
        metrics.add(reading.metric)
    if not windows:
        return await conn.execute(_BY_KEY_SQL, keys)
    lows, highs = [w[0] for w in windows.values()], [w[1] for w in windows.values()]
    return await conn.execute(_KNOWN_SQL, (list(windows), lows, highs, municipality_id, *keys, sorted(metrics)))


async def _receive_known(
    known: AsyncCursor[Any] | None, staged: dict[int, _Staged], device_keys: dict[UUID, int]
) -> tuple[dict[int, tuple[Any, ...]], set[int]]:
    """Stored rows by delivery key, and the sequences whose content is already stored."""
    if known is None:
        return {}, set()
    by_key: dict[int, tuple[Any, ...]] = {}
    stored: set[_ContentKey] = set()
    for seq, device_id, metric, value, at in await known.fetchall():
        if seq is not None:
            if seq in staged:
                by_key[seq] = (device_id, metric, value, at)
        # A stored row of a device that no reading of this batch resolved to cannot match any of them.
        elif device_id in device_keys:
            stored.add((device_keys[device_id], metric, at, value))
    if not stored:
        return by_key, set()
    return by_key, {seq for seq, (_, _, content) in staged.items() if content in stored}


def _skew(clock_skew_s: float | None) -> dict[str, float] | None:
    """What a reading's context gets when its gateway's clock is off by more than a minute."""
    return {"gateway_clock_skew_s": round(clock_skew_s, 1)} if clock_skew_s and abs(clock_skew_s) > 60 else None


async def _insert(
    conn: AsyncConnection[Any],
    gateway_id: UUID,
    epoch: UUID,
    rows: list[_Staged],
    clock_skew_s: float | None,
    touched: set[tuple[UUID | None, str]],
) -> None:
    """A small batch's rows and the evaluations they queue as one statement in the closing pipeline: no
    round trip of its own, as a COPY has."""
    if not rows:
        await queue_evaluations(conn, touched)
        return
    skew = _skew(clock_skew_s)
    contexts = []
    for reading, _, _ in rows:
        context = {**(reading.context or {}), **skew} if skew else reading.context
        contexts.append(Jsonb(context) if context else None)
    await conn.execute(
        _INSERT_AND_QUEUE_SQL,
        (
            gateway_id, epoch, [r.seq for r, _, _ in rows], [t.device_id for _, t, _ in rows],
            [t.patient_id for _, t, _ in rows], [r.metric for r, _, _ in rows], [r.value for r, _, _ in rows],
            [r.unit for r, _, _ in rows], [r.t for r, _, _ in rows], [r.measured_at for r, _, _ in rows],
            [r.received_at for r, _, _ in rows], contexts, [r.backfilled for r, _, _ in rows], *_queue_params(touched),
        ),
    )  # fmt: skip


async def _copy(
    conn: AsyncConnection[Any], gateway_id: UUID, epoch: UUID, rows: list[_Staged], clock_skew_s: float | None
) -> None:
    if not rows:
        return
    skew = _skew(clock_skew_s)
    gateway_raw, epoch_raw = gateway_id.bytes, epoch.bytes
    cursor = conn.cursor()
    # By type name, bytea resolves to psycopg's DB-API `Binary` dumper, a Python subclass; the plain bytes
    # dumper (compiled in psycopg's binary package) formats the four id columns of 1,000 rows 0.7 ms faster.
    cursor.adapters.register_dumper(bytes, BytesBinaryDumper)
    async with cursor.copy(f"COPY observations ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
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


async def queue_evaluations(conn: AsyncConnection[Any], touched: Iterable[tuple[UUID | None, str]]) -> None:
    """Queue the evaluation of what the batch stored (one row per distinct patient and metric). Shared
    sensors' readings (no patient) are queued for their home's residents by the caller."""
    params = _queue_params(touched)
    if params[0]:
        await conn.execute(_QUEUE_SQL, params)


def _queue_params(touched: Iterable[tuple[UUID | None, str]]) -> tuple[list[UUID], list[str], list[bool], list[UUID]]:
    """The queue statement's arrays: patients, metrics, alarm flags, and the patients to notify (alarms)."""
    pairs = sorted({(patient, metric) for patient, metric in touched if patient is not None})
    patients = [patient for patient, _ in pairs]
    metrics = [metric for _, metric in pairs]
    alarm = [metric in ALARM_METRICS for metric in metrics]
    alarmed = sorted({patient for patient, is_alarm in zip(patients, alarm, strict=True) if is_alarm})
    return patients, metrics, alarm, alarmed
