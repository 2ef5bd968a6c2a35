"""What a series query may ask for, checked before any SQL runs. Pure: no database.

Buckets are a closed table. Sub-daily buckets are fixed lengths of absolute time (`date_bin`), anchored at
midnight Norwegian standard time, so a 6-hour bucket starts at 00, 06, 12 and 18 local time in winter (one
hour later in summer; absolute buckets keep every bucket the same length across a DST change). `1d` is the
Europe/Oslo calendar day, 23 or 25 hours long on the days the clocks change.

Pages are keyset pages: the cursor carries the last position returned and a digest of the query it belongs
to, so a page can neither skip nor repeat a row, and a cursor cannot be replayed against another query.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from common.timefmt import OSLO
from device_profiles import load_catalogue

RAW_MAX_SPAN = timedelta(days=31)
SUBDAILY_MAX_SPAN = timedelta(days=92)
DAILY_MAX_SPAN = timedelta(days=3700)
# Midnight Norwegian standard time (UTC+1) on a Monday: the anchor of every sub-daily bucket.
BUCKET_ORIGIN = datetime(2000, 1, 3, tzinfo=UTC) - timedelta(hours=1)

_CATALOGUE = load_catalogue()
# Live values (catalogue `transient`) are never stored, so there is no series to ask for.
STORED_METRICS: tuple[str, ...] = tuple(sorted(_CATALOGUE.stored_metrics))


class Bucket(StrEnum):
    """Bucket widths a downsampled series may use."""

    MIN5 = "5min"
    MIN15 = "15min"
    MIN30 = "30min"
    H1 = "1h"
    H2 = "2h"
    H3 = "3h"
    H6 = "6h"
    H12 = "12h"
    DAY = "1d"


# None: the Europe/Oslo calendar day, whose length varies.
BUCKET_WIDTH: dict[Bucket, timedelta | None] = {
    Bucket.MIN5: timedelta(minutes=5),
    Bucket.MIN15: timedelta(minutes=15),
    Bucket.MIN30: timedelta(minutes=30),
    Bucket.H1: timedelta(hours=1),
    Bucket.H2: timedelta(hours=2),
    Bucket.H3: timedelta(hours=3),
    Bucket.H6: timedelta(hours=6),
    Bucket.H12: timedelta(hours=12),
    Bucket.DAY: None,
}


class QueryError(ValueError):
    """A query that cannot be answered as asked; the message says what to change."""


class CursorError(ValueError):
    """A cursor that is not one this service issued for this query."""


def check_metric(metric: str) -> str:
    """The metric, if it has a stored series."""
    if metric in STORED_METRICS:
        return metric
    if metric in _CATALOGUE:
        raise QueryError(f"{metric} is a live value that is shown on the gateway and never stored")
    raise QueryError(f"{metric[:100]!r} is not a metric in the catalogue (device_profiles/metrics.yaml)")


def unit_of(metric: str) -> str:
    """The canonical unit every stored reading of `metric` carries."""
    return _CATALOGUE[metric].unit


def check_span(start: datetime, end: datetime, bucket: Bucket | None) -> None:
    """`start` before `end`, and the span within what a raw or bucketed query may cover."""
    if start.tzinfo is None or end.tzinfo is None:
        raise QueryError("from and to need a UTC offset, for example 2026-03-29T00:00:00+01:00")
    if start >= end:
        raise QueryError(f"from ({start.isoformat()}) must be before to ({end.isoformat()})")
    if bucket is None:
        limit, what = RAW_MAX_SPAN, "a raw series"
    elif BUCKET_WIDTH[bucket] is None:
        limit, what = DAILY_MAX_SPAN, "daily buckets"
    else:
        limit, what = SUBDAILY_MAX_SPAN, f"{bucket} buckets"
    if end - start > limit:
        hint = "; ask for buckets instead" if bucket is None else "; use a wider bucket"
        raise QueryError(f"{what} may span at most {limit.days} days, not {(end - start).days}{hint}")


def day_start(day: date) -> datetime:
    """Midnight in Oslo at the start of `day`, in UTC (midnight always exists in Europe/Oslo)."""
    return datetime.combine(day, time(), OSLO).astimezone(UTC)


def bucket_end(bucket: Bucket, start: datetime, day: date | None) -> datetime:
    """Where a bucket ends: start + width, or the next Oslo midnight for a calendar day."""
    width = BUCKET_WIDTH[bucket]
    if width is None:
        assert day is not None
        return day_start(day + timedelta(days=1))
    return start + width


# Stored readings are no older than 2000 (ingest refuses earlier times); the bounds keep date arithmetic on a
# hand-made cursor away from the ends of the calendar.
_CURSOR_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
_CURSOR_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Position:
    """Where the previous page ended: a reading's (t, id), or a bucket's start."""

    t: datetime
    id: int = 0


def query_key(*parts: Any) -> str:
    """A short digest of the query a cursor belongs to."""
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]


def encode_cursor(position: Position, key: str) -> str:
    """An opaque, URL-safe cursor."""
    body = json.dumps({"t": position.t.astimezone(UTC).isoformat(), "id": position.id, "q": key})
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, key: str) -> Position:
    """The position in a cursor issued for the query `key`."""
    try:
        body = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        t = datetime.fromisoformat(body["t"])
        ident = body["id"]
        owner = body["q"]
    except (ValueError, KeyError, TypeError):
        raise CursorError("the cursor is not one this service issued; start again without it") from None
    if owner != key:
        raise CursorError("the cursor belongs to another query (patient, metric, range or bucket changed)")
    sane = t.tzinfo is not None and _CURSOR_EARLIEST <= t <= _CURSOR_LATEST
    if not sane or not isinstance(ident, int) or isinstance(ident, bool) or not 0 <= ident < 2**63:
        raise CursorError("the cursor is not one this service issued; start again without it")
    return Position(t, ident)
