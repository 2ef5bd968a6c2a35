"""What of a group's batches is stored already, and what is new.

One statement finds, for every batch of a group, the rows already stored in its delivery-key range (gateway,
outbox epoch, sequence) and the recorded measurements already stored in each device address's time window
(a device re-sending a stored record under a new sequence); the exact matching happens here. What was not
new is classified: the same key with the same payload is a duplicate; with a different payload, a
`sequence_conflict`; the same content under a new key, a re-sent record. The store's per-gateway advisory
locks, taken before this look-up, make it exact: nothing a look-up finds can change before the group commits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from cloud.db.batch import Query
from cloud.ingest.resolve import Resolver, Target
from cloud.ingest.validate import Rejection, ValidReading, as_sent
from device_profiles import load_catalogue

# Devices re-send *stored records* (a blood-pressure monitor or glucose meter replays its memory under new
# sequence numbers); those are measurements. Events and states are not de-duplicated by content: two door
# openings or two alarm presses in the same second are two real events, and must both be stored.
RECORDED_METRICS = sorted(
    key for key, metric in load_catalogue().metrics.items() if metric.kind in {"vital", "ordinal"}
)
_RECORDED = frozenset(RECORDED_METRICS)
# Rows already stored in each batch's delivery-key range (`seq` set), and recorded measurements already stored
# in each address's time window (`seq` null), in one statement. Ranges instead of one array element per reading
# keep the parameters small (dumping large arrays costs more than the look-ups), and a fresh batch finds nothing.
# Ingest runs it on its generic plan (cloud.db.batch.GENERIC_PLANS: planned once, not at every group), which
# cannot see how many ranges and windows the arrays hold; so each range and each window is read in a LATERAL
# subquery (LIMIT 1 on the unique address, OFFSET 0 elsewhere keeps it from being merged into a join), which
# every plan runs as index probes per element. As plain joins, the generic plan took 1.8 ms a group instead of
# 0.1 (pg_stat_statements). The windows' devices are resolved first (MATERIALIZED) so that each window probes the
# content index with device and time.
_BY_KEY_SQL = (
    "SELECT o.gateway_id, o.seq, o.device_id, o.metric, o.value, o.measured_at "
    "FROM unnest(%b::uuid[], %b::uuid[], %b::int8[], %b::int8[]) AS k(gateway_id, epoch, lo, hi) "
    "CROSS JOIN LATERAL (SELECT o.gateway_id, o.seq, o.device_id, o.metric, o.value, o.measured_at "
    "FROM observations o WHERE o.gateway_id = k.gateway_id AND o.outbox_epoch = k.epoch "
    "AND o.seq BETWEEN k.lo AND k.hi OFFSET 0) AS o"
)
_KNOWN_SQL = (
    "WITH w AS MATERIALIZED (SELECT d.id, w.lo, w.hi FROM unnest(%b::uuid[], %b::text[], %b::timestamptz[], "  # noqa: S608 - fixed text
    "%b::timestamptz[]) AS w(municipality_id, address, lo, hi) CROSS JOIN LATERAL (SELECT d.id FROM devices d "
    f"WHERE d.municipality_id = w.municipality_id AND d.address = w.address LIMIT 1) AS d) {_BY_KEY_SQL} "
    "UNION ALL SELECT NULL, NULL, o.device_id, o.metric, o.value, o.measured_at FROM w CROSS JOIN LATERAL "
    "(SELECT o.device_id, o.metric, o.value, o.measured_at FROM observations o WHERE o.device_id = w.id "
    "AND o.metric = ANY(%b::text[]) AND o.measured_at BETWEEN w.lo AND w.hi OFFSET 0) AS o"
)

ContentKey = tuple[int, str, datetime, float]
Staged = tuple[ValidReading, Target, ContentKey | None]


class Looked(NamedTuple):
    """One batch's part of the look-up: whose it is and what it asks about."""

    gateway_id: UUID
    municipality_id: UUID
    epoch: UUID
    readings: list[ValidReading]


@dataclass
class BatchOutcome:
    """What happened to a batch; `committed` lists every sequence the gateway may now delete. `quarantined`
    counts by reason, and readings over the gateway's quarantine quota as `over_quota`."""

    committed: list[int] = field(default_factory=list)
    stored: int = 0
    duplicates: int = 0
    resent: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)


@dataclass
class Known:
    """What the look-up found: stored rows by gateway and sequence, and stored recorded measurements by device."""

    by_key: dict[UUID, dict[int, tuple[Any, ...]]] = field(default_factory=dict)
    content: dict[UUID, list[tuple[str, datetime, float]]] = field(default_factory=dict)


def query(batches: Sequence[Looked]) -> Query | None:
    """The look-up for every batch (cloud/db/batch.py); None when no batch has readings."""
    keys: tuple[list[Any], ...] = ([], [], [], [])
    windows: dict[tuple[UUID, str], list[datetime]] = {}
    metrics: set[str] = set()
    for batch in batches:
        if not batch.readings:
            continue
        seqs = [r.seq for r in batch.readings]
        for column, value in zip(keys, (batch.gateway_id, batch.epoch, min(seqs), max(seqs)), strict=True):
            column.append(value)
        for reading in batch.readings:
            at = reading.measured_at
            if at is None or reading.metric not in _RECORDED:
                continue
            window = windows.get((batch.municipality_id, reading.device))
            if window is None:
                windows[(batch.municipality_id, reading.device)] = [at, at]
            elif at < window[0]:
                window[0] = at
            elif at > window[1]:
                window[1] = at
            metrics.add(reading.metric)
    if not keys[0]:
        return None
    if not windows:
        return Query(_BY_KEY_SQL, keys)
    places, spans = list(windows), list(windows.values())
    where = ([m for m, _ in places], [a for _, a in places], [s[0] for s in spans], [s[1] for s in spans])
    return Query(_KNOWN_SQL, (*where, *keys, sorted(metrics)))


def receive(rows: Iterable[dict[str, Any]]) -> Known:
    """What `query` found."""
    known = Known()
    for row in rows:
        gateway_id, seq, device_id = row["gateway_id"], row["seq"], row["device_id"]
        metric, value, at = row["metric"], row["value"], row["measured_at"]
        if seq is not None:
            known.by_key.setdefault(gateway_id, {})[seq] = (device_id, metric, value, at)
        else:
            known.content.setdefault(device_id, []).append((metric, at, value))
    return known


def stage(readings: list[ValidReading], resolver: Resolver, rejections: list[Rejection]) -> dict[int, Staged]:
    """Each reading with its resolved target and content by sequence number; the unresolvable go to `rejections`."""
    staged: dict[int, Staged] = {}
    for reading in readings:
        target = resolver.resolve(reading)
        if isinstance(target, Rejection):
            rejections.append(target)
        else:
            staged[reading.seq] = (reading, target, _content(reading, target))
    return staged


def classify(
    staged: dict[int, Staged],
    known: Known,
    gateway_id: UUID,
    device_keys: dict[UUID, int],
    rejections: list[Rejection],
    outcome: BatchOutcome,
) -> tuple[list[Staged], list[ValidReading]]:
    """What of one batch is new, and its plain duplicates; counts duplicates and re-sent records, and turns a
    reused sequence into a rejection."""
    by_key = known.by_key.get(gateway_id, {})
    stored = {
        (key, metric, at, value)
        for device_id, key in device_keys.items()
        for metric, at, value in known.content.get(device_id, ())
    }
    new: list[Staged] = []
    duplicates: list[ValidReading] = []
    seen: set[ContentKey] = set()
    for seq, item in staged.items():
        reading, target, content = item
        if seq in by_key:
            if by_key[seq] == (target.device_id, reading.metric, reading.value, reading.measured_at):
                outcome.duplicates += 1
                duplicates.append(reading)
            else:
                rejections.append(
                    Rejection(seq, reading.device, "sequence_conflict", "this sequence number was stored before "
                              "with a different reading", as_sent(reading), reading.received_at)
                )  # fmt: skip
        elif content is not None and (content in stored or content in seen):
            outcome.resent += 1
        else:
            new.append(item)
            if content is not None:
                seen.add(content)
    return new, duplicates


def _content(reading: ValidReading, target: Target) -> ContentKey | None:
    """What identifies a recorded measurement a device may re-send; None for events and states."""
    if reading.measured_at is None or reading.metric not in _RECORDED:
        return None
    return target.device_key, reading.metric, reading.measured_at, reading.value
