"""Storing a group of gateways' batches in one transaction: match devices and patients, find what is not new,
bulk-write the rest.

A group is the batches of different gateways that arrived while the process's previous group was being written
(cloud/ingest/writer.py); alone, a batch is a group of one. What a small batch costs is statements and round
trips, not rows, so every statement serves the whole group: the credential checks and the gateways' ingest
locks, the device look-up (cloud/ingest/resolve.py), the look-up of what is stored already
(cloud/ingest/known.py), the rows, the evaluation queue, the devices' last-seen times. Only the rare parts are
per batch: the quarantine (one statement per batch with rejections, which also applies that gateway's hourly
quota, cloud/ingest/quarantine.py) and the count of reused sequence numbers.

Per-gateway advisory locks, taken in gateway order, make the de-duplication exact: a gateway's batches are
stored one at a time, and no other transaction writes its delivery keys. A group holds each gateway once.

The statements go in two batches, each one write to the server and one wait (cloud/db/batch.py): BEGIN, the
locks and every look-up in the first; the rows (as one INSERT when the group has at most `SMALL_BATCH` new
readings, else in a binary `COPY` of their own, before it), the evaluation queue, the last-seen times and COMMIT
in the second. A group takes two round trips: one more with a COPY, one more when it has readings of shared or
supervision sensors (residents and consents depend on the assignments found), and one more when it has
something to quarantine, reused sequence numbers or local alarm attempts, which go with the COMMIT in a pipeline
of their own.

The gateway's local attempts on an alarm it could not deliver (`raised_locally`) go into
`local_alarm_attempts` in the same transaction, from a new reading or from a duplicate: an alarm the cloud
committed without the gateway hearing so comes again with the attempts made since, and only those are added.

In the same transaction the group queues one pending evaluation per touched (patient, metric) and, for
alarm-class metrics, signals `NOTIFY tryggheim_alarm` (delivered on commit), so no stored reading can miss
detection even if this process dies right after the commit (cloud/evaluation). It also records when each
device was last heard, quarantined readings included, at most once a minute per device and process
(cloud/gateways/last_seen.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection, pq
from psycopg.types.json import Jsonb
from psycopg.types.string import BytesBinaryDumper

from cloud import telemetry as prometheus
from cloud.db.batch import GENERIC_PLANS, Query, run_batch
from cloud.gateways import last_seen
from cloud.gateways.credentials import STILL_VALID_SQL
from cloud.ingest import known, quarantine, resolve
from cloud.ingest.known import BatchOutcome, Staged
from cloud.ingest.quarantine import DEFAULT_QUOTA, Quota
from cloud.ingest.resolve import Resolver
from cloud.ingest.validate import Rejection, ValidReading
from device_profiles import load_catalogue

ALARM_CHANNEL = "tryggheim_alarm"
# The last-seen moments this process wrote: each device at most once a minute (cloud/gateways/last_seen.py).
_RECENT = last_seen.Recent()
ALARM_METRICS = load_catalogue().alarm_metrics
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
# Up to this many new rows in a group go in an INSERT inside the closing pipeline (one round trip fewer); more
# in a binary COPY, a round trip of its own. With the columns dumped as arrays by their declared types
# (cloud/db/arrays.py) the INSERT of 60 and of 150 rows cost the service about half and two thirds of the COPY,
# and the database the same; at 500 rows and more the two are even (docs/benchmarks.md, issue 25, seventh round).
SMALL_BATCH = 200
# A small group's rows, their evaluations queued and the alarm notifications, in one statement (data-modifying
# WITH clauses always run to completion).
_INSERT_AND_QUEUE_SQL = (
    f"WITH stored AS (INSERT INTO observations ({_COLUMNS}) SELECT * FROM unnest(%b::uuid[], %b::uuid[], "  # noqa: S608 - fixed text
    "%b::int8[], %b::uuid[], %b::uuid[], %b::text[], %b::float8[], %b::text[], %b::timestamptz[], %b::timestamptz[], "
    "%b::timestamptz[], %b::jsonb[], %b::bool[])), queued AS (INSERT INTO pending_evaluations (patient_id, metric, "
    "alarm) SELECT * FROM unnest(%b::uuid[], %b::text[], %b::bool[])) "
    "SELECT pg_notify('tryggheim_alarm', p::text) FROM unnest(%b::uuid[]) AS p"
)
# The credentials' check (`STILL_VALID_SQL`, in gateway order) and each accepted gateway's ingest lock in one
# statement: no row, no lock, and that batch is refused. The sorted subquery is not flattened, so the locks
# are taken in its order and two groups never wait for each other's locks in a cycle.
_VALID_AND_LOCK_SQL = (
    "SELECT v.id, v.clock_skew_s, pg_advisory_xact_lock(hashtextextended('ingest:' || v.id::text, 0)) "  # noqa: S608 - fixed text
    f"FROM ({STILL_VALID_SQL}) AS v"
)
_BEGIN = Query("BEGIN")
_COMMIT = Query("COMMIT")
_CONFLICTS_SQL = (
    "UPDATE gateways g SET sequence_conflicts = g.sequence_conflicts + c.n "
    "FROM unnest(%s::uuid[], %s::int[]) AS c(id, n) WHERE g.id = c.id"
)


@dataclass(frozen=True)
class Upload:
    """One gateway's batch as the ingest route hands it over: validated, its credential checked (perhaps from
    memory: the transaction checks it again and reads the gateway's current clock skew)."""

    gateway_id: UUID
    municipality_id: UUID
    epoch: UUID
    readings: list[ValidReading]
    rejections: list[Rejection]
    credential_digest: bytes
    quota: Quota = DEFAULT_QUOTA


class CredentialRefused(Exception):  # noqa: N818 - reads as an outcome
    """The batch's credential was revoked or expired after the caller's (cached) check."""


@dataclass
class _Batch:
    """One upload's state through the group's transaction."""

    upload: Upload
    resolver: Resolver
    rejections: list[Rejection]
    outcome: BatchOutcome = field(default_factory=BatchOutcome)
    skew: float | None = None
    staged: dict[int, Staged] = field(default_factory=dict)
    new: list[Staged] = field(default_factory=list)
    duplicates: list[ValidReading] = field(default_factory=list)
    quarantined: quarantine.Pending | None = None


async def store_group(conn: AsyncConnection[Any], uploads: Sequence[Upload]) -> list[BatchOutcome | CredentialRefused]:
    """Write the uploads (of different gateways) atomically, and report for each what happened to every sequence
    number, or `CredentialRefused` (nothing of it stored) when its credential no longer holds. Rejections are
    quarantined within each gateway's hourly quota, and the rest counted."""
    batches = [_Batch(u, Resolver(u.gateway_id, u.municipality_id), list(u.rejections)) for u in uploads]
    if len({b.upload.gateway_id for b in batches}) != len(batches):
        raise ValueError("a group holds each gateway once")
    try:
        accepted = await _look_up(conn, batches)
        rows = [row for b in accepted for row in b.new]
        if len(rows) > SMALL_BATCH:
            await _copy(conn, accepted)
        touched = set().union(*(_touched(b) for b in accepted))
        rare = _rare(accepted)
        heard = [(b.upload.gateway_id, _RECENT.due(b.upload.gateway_id, _heard(b), b.skew), b.skew) for b in accepted]
        await run_batch(conn, [q for q in (
            _insert(accepted, touched) if len(rows) <= SMALL_BATCH else queue_query(touched),
            last_seen.record_query(heard),
            None if rare else _COMMIT,
        ) if q is not None])  # fmt: skip
        if rare:
            await _write_rare(conn, accepted)
        for gateway_id, moments, skew in heard:
            _RECENT.written(gateway_id, moments, skew)
        for b in accepted:
            await _finish(b)
    except BaseException:
        # BEGIN and COMMIT are explicit (the transaction spans the look-ups, the work here and a COPY), and so
        # is the rollback: nothing of a failed group is kept, and the connection goes back to the pool clean.
        # If the rollback fails too, the group's own error is the one to report; the pool deals with a
        # connection that is not idle when it comes back (rolls it back, or closes it when broken).
        if not conn.closed and conn.info.transaction_status != pq.TransactionStatus.IDLE:
            with suppress(psycopg.Error):
                await conn.execute("ROLLBACK")
        raise
    refused = {b.upload.gateway_id for b in batches} - {b.upload.gateway_id for b in accepted}
    return [CredentialRefused() if b.upload.gateway_id in refused else b.outcome for b in batches]


async def _look_up(conn: AsyncConnection[Any], batches: list[_Batch]) -> list[_Batch]:
    """Begin, check the credentials and lock the gateways, resolve and classify every reading; returns the
    batches whose credential holds."""
    ordered = sorted(batches, key=lambda b: b.upload.gateway_id)
    # Each batch's device addresses, for the look-up and then for handing its rows to the batch.
    addresses = {b.upload.gateway_id: _addresses(b) for b in batches}
    found = known.query([
        known.Looked(b.upload.gateway_id, b.upload.municipality_id, b.upload.epoch, b.upload.readings)
        for b in batches
    ])  # fmt: skip
    answers = await run_batch(conn, [q for q in (
        _BEGIN,
        GENERIC_PLANS,
        Query(_VALID_AND_LOCK_SQL,
              ([b.upload.gateway_id for b in ordered], [b.upload.credential_digest for b in ordered])),
        resolve.query([b.resolver for b in batches], [addresses[b.upload.gateway_id] for b in batches]),
        found,
    ) if q is not None])  # fmt: skip
    skews: dict[UUID, float | None] = {row["id"]: row["clock_skew_s"] for row in answers[2]}
    accepted = [b for b in batches if b.upload.gateway_id in skews]
    for b in accepted:
        b.skew = skews[b.upload.gateway_id]
    await resolve.receive(
        conn, answers[3], [b.resolver for b in accepted], [addresses[b.upload.gateway_id] for b in accepted]
    )
    stored = known.receive(answers[4] if found is not None else ())
    for b in accepted:
        b.staged = known.stage(b.upload.readings, b.resolver, b.rejections)
        b.new, b.duplicates = known.classify(
            b.staged, stored, b.upload.gateway_id, b.resolver.device_keys, b.rejections, b.outcome
        )
        b.outcome.stored = len(b.new)
    return accepted


def _rare(batches: list[_Batch]) -> bool:
    """Whether the group has anything for the statements most groups do without: local alarm attempts,
    quarantine, reused sequence numbers."""
    return any(b.rejections or any(r.raised_locally for r in (*(n[0] for n in b.new), *b.duplicates))
               for b in batches)  # fmt: skip


async def _write_rare(conn: AsyncConnection[Any], batches: list[_Batch]) -> None:
    """The local alarm attempts, the quarantine and the reused sequences' counts, then the commit: one more round
    trip, only for a group that has any of them."""
    async with conn.pipeline():
        await _local_attempts(conn, batches)
        for b in batches:
            upload = b.upload
            b.quarantined = await quarantine.send(conn, upload.gateway_id, upload.epoch, b.rejections, upload.quota)
        await _count_conflicts(conn, batches)
        await conn.execute("COMMIT")


def _addresses(batch: _Batch) -> set[str]:
    return {r.device for r in batch.upload.readings}


def _touched(batch: _Batch) -> set[tuple[UUID | None, str]]:
    """(patient, metric) pairs the batch's new readings ask to evaluate, shared sensors' residents included."""
    targets = batch.resolver.targets
    touched = {(targets[n].patient_id, metric) for n, metric in {(t.number, r.metric) for r, t, _ in batch.new}}
    return touched | batch.resolver.shared_touched(reading for reading, _, _ in batch.new)


async def _finish(batch: _Batch) -> None:
    """The batch's quarantine counts (after the commit), and every sequence the gateway may now delete."""
    if batch.quarantined is not None:
        counts, over, over_bytes = await batch.quarantined.result()
        batch.outcome.quarantined.update(counts)
        prometheus.QUARANTINE_OVERFLOW.inc(over)
        prometheus.QUARANTINE_OVERFLOW_BYTES.inc(over_bytes)
    refused = (r.seq for r in batch.rejections if r.seq is not None)
    batch.outcome.committed = sorted({*batch.staged, *refused})


def _heard(batch: _Batch) -> dict[str, datetime]:
    """When the gateway last heard each device of the batch: refused readings count too, since liveness asks
    whether the device talks, not whether what it said could be stored."""
    upload = batch.upload
    return last_seen.newest(
        [*((r.device, r.received_at) for r in upload.readings),
         *((r.device, r.received_at) for r in upload.rejections if r.device)]
    )  # fmt: skip


async def _local_attempts(conn: AsyncConnection[Any], batches: list[_Batch]) -> None:
    """Keep the local attempts that came with stored alarms (new or duplicate), each once (the table's unique key)."""
    rows = [
        (b.upload.gateway_id, b.upload.epoch, r.seq, a["at"], a["path"], a["ok"], a["detail"])
        for b in batches
        for r in (*(reading for reading, _, _ in b.new), *b.duplicates)
        if r.raised_locally
        for a in r.raised_locally
    ]
    if rows:
        await conn.cursor().executemany(
            "INSERT INTO local_alarm_attempts (gateway_id, outbox_epoch, seq, at, path, ok, detail) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT ON CONSTRAINT local_alarm_attempts_once DO NOTHING",
            rows,
        )


async def _count_conflicts(conn: AsyncConnection[Any], batches: list[_Batch]) -> None:
    """Add each gateway's reused sequence numbers to its count (one statement, only when there are any)."""
    counts = {b.upload.gateway_id: sum(r.reason == "sequence_conflict" for r in b.rejections) for b in batches}
    conflicted = {gateway_id: n for gateway_id, n in counts.items() if n}
    if conflicted:
        await conn.execute(_CONFLICTS_SQL, (list(conflicted), list(conflicted.values())))


def _skew(clock_skew_s: float | None) -> dict[str, float] | None:
    """What a reading's context gets when its gateway's clock is off by more than a minute."""
    return {"gateway_clock_skew_s": round(clock_skew_s, 1)} if clock_skew_s and abs(clock_skew_s) > 60 else None


def _context(reading: ValidReading, skew: dict[str, float] | None) -> Jsonb | None:
    context = {**(reading.context or {}), **skew} if skew else reading.context
    return Jsonb(context) if context else None


def _insert(batches: list[_Batch], touched: set[tuple[UUID | None, str]]) -> Query | None:
    """A small group's rows and the evaluations they queue as one statement of the closing batch: no round trip
    of its own, as a COPY has."""
    # The ids as their raw bytes, which the uuid arrays join without a call per element (cloud/db/arrays.py).
    rows = [
        (
            gateway_raw, epoch_raw, reading.seq, target.device_raw, target.patient_raw, reading.metric,
            reading.value, reading.unit, reading.t, reading.measured_at, reading.received_at,
            _context(reading, skew), reading.backfilled,
        )
        for b, skew, gateway_raw, epoch_raw in ((b, _skew(b.skew), b.upload.gateway_id.bytes, b.upload.epoch.bytes)
                                                for b in batches)
        for reading, target, _ in b.new
    ]  # fmt: skip
    if not rows:
        return queue_query(touched)
    return Query(_INSERT_AND_QUEUE_SQL, (*map(list, zip(*rows, strict=True)), *_queue_params(touched)))


async def _copy(conn: AsyncConnection[Any], batches: list[_Batch]) -> None:
    cursor = conn.cursor()
    # By type name, bytea resolves to psycopg's DB-API `Binary` dumper, a Python subclass; the plain bytes
    # dumper (compiled in psycopg's binary package) formats the four id columns of 1,000 rows 0.7 ms faster.
    cursor.adapters.register_dumper(bytes, BytesBinaryDumper)
    async with cursor.copy(f"COPY observations ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(_TYPES)
        for b in batches:
            skew = _skew(b.skew)
            gateway_raw, epoch_raw = b.upload.gateway_id.bytes, b.upload.epoch.bytes
            for reading, target, _ in b.new:
                await copy.write_row(
                    (
                        gateway_raw, epoch_raw, reading.seq, target.device_raw, target.patient_raw, reading.metric,
                        reading.value, reading.unit, reading.t, reading.measured_at, reading.received_at,
                        _context(reading, skew), reading.backfilled,
                    )
                )  # fmt: skip


async def queue_evaluations(conn: AsyncConnection[Any], touched: Iterable[tuple[UUID | None, str]]) -> None:
    """Queue the evaluation of what the batch stored (one row per distinct patient and metric). Shared
    sensors' readings (no patient) are queued for their home's residents by the caller."""
    statement = queue_query(touched)
    if statement is not None:
        await conn.execute(statement.sql, statement.params)


def queue_query(touched: Iterable[tuple[UUID | None, str]]) -> Query | None:
    """`queue_evaluations`' statement, for a batch of statements (cloud/db/batch.py); None when nothing is due."""
    params = _queue_params(touched)
    return Query(_QUEUE_SQL, params) if params[0] else None


def _queue_params(touched: Iterable[tuple[UUID | None, str]]) -> tuple[list[UUID], list[str], list[bool], list[UUID]]:
    """The queue statement's arrays: patients, metrics, alarm flags, and the patients to notify (alarms)."""
    pairs = sorted({(patient, metric) for patient, metric in touched if patient is not None})
    patients = [patient for patient, _ in pairs]
    metrics = [metric for _, metric in pairs]
    alarm = [metric in ALARM_METRICS for metric in metrics]
    alarmed = sorted({patient for patient, is_alarm in zip(patients, alarm, strict=True) if is_alarm})
    return patients, metrics, alarm, alarmed
