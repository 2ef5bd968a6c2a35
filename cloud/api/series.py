"""A patient's series: raw readings with all three times, downsampled buckets, and the newest value per
metric. Every route is `patient_access`: scoped to the caller's patients and audited before it answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeVar
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import AwareDatetime, BaseModel

from cloud.access.policy import PatientGrant, patient_access
from cloud.query import store
from cloud.query.series import (
    STORED_METRICS,
    Bucket,
    CursorError,
    Position,
    QueryError,
    check_metric,
    check_span,
    decode_cursor,
    encode_cursor,
    query_key,
    unit_of,
)
from cloud.query.store import Aggregate, StoredReading
from cloud.requests import Conn

T = TypeVar("T")
router = APIRouter(prefix="/api/v1/patients", tags=["series"])
MetricPath = Annotated[
    str,
    Path(
        max_length=200,
        description="A stored metric of the catalogue.",
        examples=["heart_rate"],
        json_schema_extra={"enum": [*STORED_METRICS]},
    ),
]
From = Annotated[
    AwareDatetime,
    Query(alias="from", description="Start, inclusive (with a UTC offset).", examples=["2026-11-22T00:00:00+01:00"]),
]
To = Annotated[
    AwareDatetime, Query(description="End, exclusive (with a UTC offset).", examples=["2026-11-23T00:00:00+01:00"])
]
BucketQuery = Annotated[Bucket, Query(description="Bucket width; `1d` is the Oslo calendar day.", examples=["1h"])]
Cursor = Annotated[str | None, Query(max_length=400, description="`next_cursor` of the previous page.")]
_ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "A cursor not issued for this query."},
    404: {"description": "No such patient."},
    422: {"description": "Unknown metric, empty or too wide a range, unknown bucket."},
}


class RawPage(BaseModel):
    """Readings oldest first; pass `next_cursor` back for the next page (null: this was the last)."""

    metric: str
    unit: str
    items: list[StoredReading]
    next_cursor: str | None


class BucketOut(Aggregate):
    """A bucket; `partial` when the requested range cuts it."""

    partial: bool


class BucketPage(BaseModel):
    """Non-empty buckets oldest first; pass `next_cursor` back for the next page."""

    metric: str
    unit: str
    bucket: Bucket
    items: list[BucketOut]
    next_cursor: str | None


class LatestReading(StoredReading):
    """The newest reading of one metric."""

    metric: str


def _checked(metric: str, start: datetime, end: datetime, bucket: Bucket | None) -> None:
    try:
        check_metric(metric)
        check_span(start, end, bucket)
    except QueryError as exc:
        raise HTTPException(422, str(exc)) from None


def _position(cursor: str | None, key: str) -> Position | None:
    if cursor is None:
        return None
    try:
        return decode_cursor(cursor, key)
    except CursorError as exc:
        raise HTTPException(400, str(exc)) from None


def _page(found: list[T], limit: int) -> tuple[list[T], bool]:
    """The first `limit` of up to `limit + 1` items fetched, and whether a next page exists."""
    return found[:limit], len(found) > limit


@router.get("/{patient_id}/series/{metric}", responses=_ERRORS)
async def raw_series(
    patient_id: UUID,
    metric: MetricPath,
    start: From,
    to: To,
    conn: Conn,
    grant: Annotated[PatientGrant, patient_access("series.read")],
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    cursor: Cursor = None,
) -> RawPage:
    """Raw readings of one metric in [from, to), at most 31 days, oldest first, in keyset pages."""
    _checked(metric, start, to, None)
    key = query_key("raw", grant.patient_id, metric, start.timestamp(), to.timestamp())
    after = _position(cursor, key)
    rows, more = _page(await store.raw(conn, grant.patient_id, metric, start, to, after, limit + 1), limit)
    following = encode_cursor(Position(rows[-1].t, rows[-1].id), key) if more else None
    return RawPage(metric=metric, unit=unit_of(metric), items=rows, next_cursor=following)


@router.get("/{patient_id}/series/{metric}/buckets", responses=_ERRORS)
async def bucketed_series(
    patient_id: UUID,
    metric: MetricPath,
    start: From,
    to: To,
    bucket: BucketQuery,
    conn: Conn,
    grant: Annotated[PatientGrant, patient_access("series.read")],
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    cursor: Cursor = None,
) -> BucketPage:
    """min/max/mean/count per bucket of readings in [from, to): sub-daily buckets span at most 92 days,
    Oslo calendar days (`1d`) at most 3,700; empty buckets are left out."""
    _checked(metric, start, to, bucket)
    key = query_key("buckets", grant.patient_id, metric, start.timestamp(), to.timestamp(), bucket)
    after = _position(cursor, key)
    found, more = _page(await store.buckets(conn, grant.patient_id, metric, start, to, bucket, after, limit + 1), limit)
    items = [BucketOut(**b.model_dump(), partial=b.start < start or b.end > to) for b in found]
    following = encode_cursor(Position(found[-1].start), key) if more else None
    return BucketPage(metric=metric, unit=unit_of(metric), bucket=bucket, items=items, next_cursor=following)


@router.get("/{patient_id}/latest", responses={404: {"description": "No such patient."}, 422: {}})
async def latest_values(
    patient_id: UUID,
    conn: Conn,
    grant: Annotated[PatientGrant, patient_access("series.latest")],
    metric: Annotated[list[str] | None, Query(max_length=len(STORED_METRICS))] = None,
) -> list[LatestReading]:
    """The newest reading of each metric (or of the `metric`s named), by clinical time; metrics with no
    reading are left out."""
    wanted = sorted(set(metric)) if metric else list(STORED_METRICS)
    try:
        for name in wanted:
            check_metric(name)
    except QueryError as exc:
        raise HTTPException(422, str(exc)) from None
    found = await store.latest(conn, grant.patient_id, wanted)
    return [LatestReading(metric=name, **row.model_dump(exclude={"id"})) for name, row in found]
