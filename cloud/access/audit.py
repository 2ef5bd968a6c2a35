"""The audit log: one append-only, hash-chained record per access to patient data and per change to who may do
what (staff, care teams, tokens, deactivation, sign-in lockouts).

Each municipality has its own chain (records whose principal is unknown form the `NULL` chain):
`hash = SHA-256(prev_hash || canonical JSON of the record)`. Appends to one chain are serialised with a
transaction-scoped advisory lock, so chain order is insertion order. Editing or deleting a row breaks the
chain at exactly that row, which `verify` reports. The runtime role may only INSERT and SELECT.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID, uuid4

from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from psycopg.rows import class_row, dict_row

GENESIS = bytes(32)
AccessOutcome = Literal["allowed", "denied"]

_COLUMNS = (
    "at",
    "municipality_id",
    "principal_kind",
    "principal_id",
    "role",
    "team_ids",
    "patient_id",
    "action",
    "resource",
    "reason",
    "outcome",
    "correlation_id",
)


@dataclass(frozen=True)
class AuditRecord:
    """What happened, by whom, to whose data."""

    municipality_id: UUID | None
    principal_kind: str
    principal_id: str | None
    role: str | None
    action: str
    resource: str
    outcome: AccessOutcome
    correlation_id: str
    patient_id: UUID | None = None
    team_ids: Sequence[UUID] = field(default_factory=tuple)
    reason: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def values(self) -> tuple[Any, ...]:
        """Column values in `_COLUMNS` order."""
        return tuple(list(self.team_ids) if c == "team_ids" else getattr(self, c) for c in _COLUMNS)


def canonical(values: Sequence[Any]) -> bytes:
    """The bytes hashed for one record: stable across Python and PostgreSQL round trips."""

    def norm(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if isinstance(value, UUID):
            return str(value)
        if isinstance(value, list | tuple):
            return sorted(str(v) for v in value)
        return value

    return json.dumps(dict(zip(_COLUMNS, map(norm, values), strict=True)), sort_keys=True).encode()


def chain_hash(prev_hash: bytes, values: Sequence[Any]) -> bytes:
    """The hash of a record given its predecessor's."""
    return hashlib.sha256(prev_hash + canonical(values)).digest()


def _lock_key(municipality_id: UUID | None) -> str:
    return f"audit:{municipality_id or 'none'}"


async def append(conn: AsyncConnection[Any], record: AuditRecord) -> int:
    """Append one record inside the caller's transaction and return its id: the record commits or rolls back
    with the change it describes. The chain's lock is held until that transaction ends."""
    if conn.info.transaction_status != TransactionStatus.INTRANS:
        raise RuntimeError("audit.append needs an open transaction; use audit.write outside one")
    values = record.values()
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_lock_key(record.municipality_id),))
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT hash FROM audit_log WHERE municipality_id IS NOT DISTINCT FROM %s ORDER BY id DESC LIMIT 1",
        (record.municipality_id,),
    )
    last = await cur.fetchone()
    prev = bytes(last["hash"]) if last else GENESIS
    await cur.execute(
        f"INSERT INTO audit_log ({', '.join(_COLUMNS)}, prev_hash, hash) "  # noqa: S608 - fixed columns
        f"VALUES ({', '.join(['%s'] * len(_COLUMNS))}, %s, %s) RETURNING id",
        (*values, prev, chain_hash(prev, values)),
    )
    inserted = await cur.fetchone()
    assert inserted is not None
    return int(inserted["id"])


async def append_all(conn: AsyncConnection[Any], records: Sequence[AuditRecord]) -> list[int]:
    """Append records that may belong to different chains inside the caller's transaction; ids in the
    order given. Chains are locked in one global order, so two such transactions cannot deadlock."""
    ids: dict[int, int] = {}
    for index in sorted(range(len(records)), key=lambda i: _lock_key(records[i].municipality_id)):
        ids[index] = await append(conn, records[index])
    return [ids[index] for index in range(len(records))]


async def write(conn: AsyncConnection[Any], record: AuditRecord) -> int:
    """Append one record in its own transaction and return its id; raises if it cannot be written
    (the caller then fails the request: no access without a record)."""
    async with conn.transaction():
        return await append(conn, record)


async def write_all(conn: AsyncConnection[Any], records: Sequence[AuditRecord]) -> list[int]:
    """`append_all` in a transaction of its own: every record is written, or none."""
    async with conn.transaction():
        return await append_all(conn, records)


@dataclass(frozen=True)
class Actor:
    """Who makes a change, for the audit records of everything they change: a signed-in staff member (built by
    the policy layer) or an operator's command line (`system`)."""

    principal_kind: str
    principal_id: str | None
    role: str | None
    correlation_id: str
    team_ids: Sequence[UUID] = ()
    reason: str = ""
    municipality_id: UUID | None = None  # the actor's own municipality (None for the command line)

    @classmethod
    def system(cls, who: str) -> Actor:
        """An operator's command (`cli:<operating system user>`) or a seeding script, with a fresh correlation
        id."""
        return cls(principal_kind="system", principal_id=who, role=None, correlation_id=str(uuid4()))

    def record(
        self,
        action: str,
        resource: str,
        *,
        municipality_id: UUID | None,
        outcome: AccessOutcome = "allowed",
        patient_id: UUID | None = None,
    ) -> AuditRecord:
        """This actor's record of one action on a resource of `municipality_id`'s chain."""
        return AuditRecord(
            municipality_id=municipality_id,
            principal_kind=self.principal_kind,
            principal_id=self.principal_id,
            role=self.role,
            team_ids=self.team_ids,
            action=action,
            resource=resource,
            outcome=outcome,
            correlation_id=self.correlation_id,
            patient_id=patient_id,
            reason=self.reason,
        )


@dataclass(frozen=True)
class Break:
    """A row where the chain does not hold."""

    id: int
    municipality_id: UUID | None
    problem: str


@dataclass(frozen=True)
class ChainPosition:
    """Where a row stands in its chain: its id, its place (1 for the first row) and its stored hash."""

    id: int
    position: int
    hash: bytes


@dataclass
class Verification:
    """What `verify` found: rows checked, breaks, each chain's last row, and the rows asked about."""

    checked: int = 0
    breaks: list[Break] = field(default_factory=list)
    ends: dict[UUID | None, ChainPosition] = field(default_factory=dict)
    heads: dict[tuple[UUID | None, int], ChainPosition] = field(default_factory=dict)


async def verify(conn: AsyncConnection[Any], heads: AbstractSet[tuple[UUID | None, int]] = frozenset()) -> Verification:
    """Recompute every chain and report each row where it breaks; also say where each row of `heads`
    ((chain, id) pairs, from the audit checkpoints) stands in its chain, in the same pass."""
    found = Verification()
    async with conn.transaction(), conn.cursor(name="audit_verify", row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT id, {', '.join(_COLUMNS)}, prev_hash, hash FROM audit_log "  # noqa: S608 - fixed columns
            "ORDER BY municipality_id NULLS FIRST, id"
        )
        async for row in cur:
            found.checked += 1
            values = tuple(row[c] for c in _COLUMNS)
            chain, prev, stored = row["municipality_id"], bytes(row["prev_hash"]), bytes(row["hash"])
            last = found.ends.get(chain)
            if prev != (last.hash if last else GENESIS):
                found.breaks.append(Break(row["id"], chain, "prev_hash does not match the previous record"))
            if chain_hash(prev, values) != stored:
                found.breaks.append(Break(row["id"], chain, "content does not match its hash"))
            here = ChainPosition(row["id"], last.position + 1 if last else 1, stored)
            found.ends[chain] = here
            if (chain, here.id) in heads:
                found.heads[chain, here.id] = here
    return found


@dataclass(frozen=True)
class AuditEntry:
    """One audit record as an auditor reads it."""

    id: int
    at: datetime
    principal_kind: str
    principal_id: str | None
    role: str | None
    patient_id: UUID | None
    action: str
    resource: str
    reason: str
    outcome: str
    correlation_id: str


@dataclass(frozen=True)
class AuditFilter:
    """Which records an auditor asks for: of one patient, by one person (their principal id), of one action,
    within `[since, until)`; None: any."""

    patient_id: UUID | None = None
    person: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def newest_entries(
    conn: AsyncConnection[Any], municipality_id: UUID, *, patient_id: UUID | None, before_id: int | None, limit: int,
    where: AuditFilter = AuditFilter(),
) -> list[AuditEntry]:  # fmt: skip
    """The municipality's records, newest first, optionally of one patient, older than `before_id` when given,
    and as `where` narrows them."""
    wanted = {"m": municipality_id, "patient": patient_id or where.patient_id, "person": where.person,
              "action": where.action, "since": where.since, "until": where.until, "before": before_id,
              "limit": limit}  # fmt: skip
    async with conn.cursor(row_factory=class_row(AuditEntry)) as cur:
        await cur.execute(
            "SELECT id, at, principal_kind, principal_id, role, patient_id, action, resource, reason, outcome, "
            "correlation_id FROM audit_log WHERE municipality_id = %(m)s "
            "AND (%(patient)s::uuid IS NULL OR patient_id = %(patient)s) "
            "AND (%(person)s::text IS NULL OR principal_id = %(person)s) "
            "AND (%(action)s::text IS NULL OR action = %(action)s) "
            "AND (%(since)s::timestamptz IS NULL OR at >= %(since)s) "
            "AND (%(until)s::timestamptz IS NULL OR at < %(until)s) "
            "AND (%(before)s::bigint IS NULL OR id < %(before)s) ORDER BY id DESC LIMIT %(limit)s",
            wanted,
        )
        return await cur.fetchall()


async def actions(conn: AsyncConnection[Any], municipality_id: UUID) -> list[str]:
    """The actions recorded in the municipality's chain, by name (the audit page's choice of action)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT DISTINCT action FROM audit_log WHERE municipality_id = %s ORDER BY action", (municipality_id,)
    )
    return [str(row["action"]) for row in await cur.fetchall()]
