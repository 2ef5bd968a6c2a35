"""The series queries in SQL, one statement each, all through the (patient_id, metric, t) index.

Raw rows are ordered by (t, id): `t` alone is not unique (two devices, or a device and the gateway clock,
can give one instant), the identity column breaks the tie, and the keyset condition `(t, id) > cursor`
makes the order total. Buckets are grouped in SQL (`date_bin`, or the Europe/Oslo date via
`AT TIME ZONE`) so the same statements answer on plain PostgreSQL and on a TimescaleDB hypertable.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict

from cloud.query.series import BUCKET_ORIGIN, BUCKET_WIDTH, Bucket, Position, bucket_end, day_start
from common.timefmt import to_oslo

_RAW = (
    "SELECT id, t, value, unit, context->>'label' AS label, measured_at, received_at, stored_at, device_id, "
    "backfilled, source, entered_by FROM observations "
    "WHERE patient_id = %(p)s AND metric = %(m)s AND t >= %(lo)s AND t < %(to)s "
    "AND (t, id) > (%(ct)s, %(cid)s) ORDER BY t, id LIMIT %(n)s"
)
_SUMMARY = "min(value) AS min, max(value) AS max, avg(value) AS mean, count(*) AS count"
_SUBDAILY = (
    "SELECT date_bin(%(w)s, t, %(origin)s) AS b, " + _SUMMARY + " "
    "FROM observations WHERE patient_id = %(p)s AND metric = %(m)s AND t >= %(lo)s AND t < %(to)s "
    "GROUP BY b ORDER BY b LIMIT %(n)s"
)
_DAILY = (
    "SELECT (t AT TIME ZONE 'Europe/Oslo')::date AS d, " + _SUMMARY + " "
    "FROM observations WHERE patient_id = %(p)s AND metric = %(m)s AND t >= %(lo)s AND t < %(to)s "
    "GROUP BY d ORDER BY d LIMIT %(n)s"
)
_LATEST = (
    "SELECT k.metric, o.id, o.t, o.value, o.unit, o.context->>'label' AS label, o.measured_at, o.received_at, "
    "o.stored_at, o.device_id, o.backfilled, o.source, o.entered_by "
    "FROM unnest(%(metrics)s::text[]) AS k(metric) CROSS JOIN LATERAL "
    "(SELECT * FROM observations WHERE patient_id = %(p)s AND metric = k.metric AND t = (SELECT max(t) FROM "
    "observations WHERE patient_id = %(p)s AND metric = k.metric) ORDER BY id DESC LIMIT 1) o "
    "ORDER BY k.metric"
)


class StoredReading(BaseModel):
    """One stored reading. `t` is the clinical time every query orders by: the device clock when the
    device sent one (`measured_at`), else the gateway's receipt (`received_at`); `stored_at` is the cloud's
    commit time. `source` is `gateway`, or `manual` for what a nurse entered at a visit (`entered_by`, no
    device)."""

    model_config = ConfigDict(frozen=True)

    t: datetime
    value: float
    unit: str
    label: str | None
    measured_at: datetime | None
    received_at: datetime
    stored_at: datetime
    device_id: UUID | None
    backfilled: bool
    source: str
    entered_by: UUID | None


class Row(StoredReading):
    """A stored reading with its identity, which breaks ties in the keyset order."""

    id: int


class Aggregate(BaseModel):
    """Readings in [start, end): `day` names the Oslo calendar day for `1d` buckets (23 or 25 hours on the
    days the clocks change)."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime
    day: date | None
    min: float
    max: float
    mean: float
    count: int


async def raw(
    conn: AsyncConnection[Any], patient_id: UUID, metric: str, start: datetime, end: datetime,
    after: Position | None, limit: int,
) -> list[Row]:  # fmt: skip
    """Up to `limit` readings in [start, end) after `after`, oldest first."""
    lower = max(start, after.t) if after else start
    params = {"p": patient_id, "m": metric, "lo": lower, "to": end, "n": limit}
    # Without a cursor, (t, id) > (start, 0) excludes nothing: t >= start and ids start at 1.
    params |= {"ct": after.t, "cid": after.id} if after else {"ct": start, "cid": 0}
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_RAW, params)
    return [Row(**r) for r in await cur.fetchall()]


async def buckets(
    conn: AsyncConnection[Any], patient_id: UUID, metric: str, start: datetime, end: datetime,
    bucket: Bucket, after: Position | None, limit: int,
) -> list[Aggregate]:  # fmt: skip
    """Up to `limit` non-empty buckets of readings in [start, end) after the bucket starting at `after`."""
    width = BUCKET_WIDTH[bucket]
    lower = start
    if after is not None:
        # The next page starts where the cursor's bucket (identified by its start) ends.
        day = to_oslo(after.t).date() if width is None else None
        lower = max(start, bucket_end(bucket, after.t, day))
    params: dict[str, Any] = {"p": patient_id, "m": metric, "lo": lower, "to": end, "n": limit}
    cur = conn.cursor(row_factory=dict_row)
    if width is None:
        await cur.execute(_DAILY, params)
        days = [(r.pop("d"), r) for r in await cur.fetchall()]
        return [Aggregate(start=day_start(d), end=bucket_end(bucket, day_start(d), d), day=d, **r) for d, r in days]
    await cur.execute(_SUBDAILY, params | {"w": width, "origin": BUCKET_ORIGIN})
    bins = [(r.pop("b"), r) for r in await cur.fetchall()]
    return [Aggregate(start=b, end=b + width, day=None, **r) for b, r in bins]


async def latest(conn: AsyncConnection[Any], patient_id: UUID, metrics: list[str]) -> list[tuple[str, Row]]:
    """The newest reading (by clinical time) of each metric that has one. The newest time is one index probe
    per metric; only the readings at that instant are then ordered by id (ordering every reading of the metric
    by (t, id) would sort them all)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_LATEST, {"metrics": metrics, "p": patient_id})
    return [(row.pop("metric"), Row(**row)) for row in await cur.fetchall()]
