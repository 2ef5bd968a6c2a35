"""What staff see of the quarantine: the refused readings of their municipality's gateways, newest first,
and their counts, narrowed by gateway, device and reason. Reads only; `cloud.ingest.quarantine` writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row

_FILTER = (
    "q.gateway_id IN (SELECT id FROM gateways WHERE municipality_id = %(m)s) "
    "AND (%(gw)s::uuid IS NULL OR q.gateway_id = %(gw)s) AND (%(dev)s::text IS NULL OR q.device_ref = %(dev)s) "
    "AND (%(reason)s::text IS NULL OR q.reason = %(reason)s)"
)


@dataclass(frozen=True)
class Narrowing:
    """Which refused readings a view shows: always one municipality, optionally one gateway, device or reason."""

    municipality_id: UUID
    gateway_id: UUID | None = None
    device: str | None = None
    reason: str | None = None

    def params(self) -> dict[str, Any]:
        """The parameters of `_FILTER`."""
        return {"m": self.municipality_id, "gw": self.gateway_id, "dev": self.device, "reason": self.reason}


@dataclass(frozen=True)
class QuarantinedReading:
    """One reading as it arrived, with the reason it was not stored."""

    id: int
    gateway_id: UUID | None
    outbox_epoch: UUID | None
    seq: int | None
    device_ref: str | None
    reason: str
    detail: str
    payload: Any
    received_at: datetime | None
    stored_at: datetime


@dataclass(frozen=True)
class QuarantineCount:
    """How many refused readings one gateway's device sent for one reason."""

    gateway_id: UUID | None
    device: str | None
    reason: str
    count: int


async def newest(
    conn: AsyncConnection[Any], narrowing: Narrowing, *, limit: int, before_id: int | None
) -> list[QuarantinedReading]:
    """At most `limit` refused readings, newest first, older than `before_id` when given (for paging)."""
    async with conn.cursor(row_factory=class_row(QuarantinedReading)) as cur:
        await cur.execute(
            "SELECT q.id, q.gateway_id, q.outbox_epoch, q.seq, q.device_ref, q.reason, q.detail, q.payload, "  # noqa: S608
            f"q.received_at, q.stored_at FROM quarantine q WHERE {_FILTER} "
            "AND (%(before)s::bigint IS NULL OR q.id < %(before)s) ORDER BY q.id DESC LIMIT %(limit)s",
            {**narrowing.params(), "before": before_id, "limit": limit},
        )
        return await cur.fetchall()


async def counts(conn: AsyncConnection[Any], narrowing: Narrowing) -> list[QuarantineCount]:
    """Counts by gateway, device and reason, largest first."""
    async with conn.cursor(row_factory=class_row(QuarantineCount)) as cur:
        await cur.execute(
            "SELECT q.gateway_id, q.device_ref AS device, q.reason, count(*) AS count FROM quarantine q "  # noqa: S608
            f"WHERE {_FILTER} GROUP BY 1, 2, 3 ORDER BY 4 DESC",
            narrowing.params(),
        )
        return await cur.fetchall()
