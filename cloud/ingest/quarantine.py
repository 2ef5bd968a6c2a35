"""What the quarantine keeps of a refused reading, and each gateway's hourly quarantine quota.

A refused reading can be any JSON value: integers of thousands of digits, strings with NUL or unpaired
surrogates, nesting as deep as the body parser goes (orjson: 1,024 levels; the standard library, its
fallback, less). `keep` never recurses and never raises on such a value: it walks it with an explicit stack
into canonical JSON text (sorted keys, no spaces, UTF-8, NUL and unpaired surrogates replaced by U+FFFD,
non-finite numbers as text), which PostgreSQL accepts as jsonb. The digest of that text makes quarantine
rows idempotent. A payload of at most `MAX_KEPT_BYTES` and `MAX_KEPT_DEPTH` levels is kept whole: every
well-formed reading fits (its context is at most 4 KiB), and so does the malformed input the edge forwards.
Anything larger or deeper is kept as a bounded summary: size, depth, digest, the known fields when short,
and the head of the text.

The quota: a gateway may add `Quota.readings` rows and `Quota.bytes` of payload to the quarantine per clock
hour (UTC). One statement, in the batch's second pipeline and only when the batch has rejections, skips
what is already stored, stores the rejections that fit the hour's remaining quota in the batch's order,
counts the rest in `quarantine_overflow`, and adds what it stored to `quarantine_usage`. Readings over the
quota are still acknowledged (they are invalid either way, and a gateway must not re-send them forever).
The batch's per-gateway advisory lock serialises this, so the counts are exact.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass
from json.encoder import encode_basestring
from operator import itemgetter
from typing import Any, NamedTuple
from uuid import UUID

from psycopg import AsyncConnection, AsyncCursor

from cloud.config import CloudSettings
from cloud.ingest.validate import Rejection, storable_text

MAX_KEPT_BYTES = 6 * 1024
MAX_KEPT_DEPTH = 32
OVER_QUOTA = "over_quota"  # the ingest reply's count of readings over the quota; never a stored reason
_HEAD_CHARS = 256
# The known fields a summary keeps when they are short (a device address is up to 200 characters).
_KNOWN = {"seq": 64, "device": 200, "metric": 64, "value": 64, "unit": 64, "measured_at": 64, "received_at": 64}


class _Token(str):
    """Punctuation on the walk's stack, emitted as is (a plain `str` there is a JSON string value)."""

    __slots__ = ()


_CLOSE_OBJECT, _CLOSE_ARRAY, _COMMA = _Token("}"), _Token("]"), _Token(",")


def _string(text: str) -> str:
    return encode_basestring(storable_text(text))


def _integer(number: int) -> str:
    try:
        return int.__repr__(number)
    except ValueError:  # beyond the interpreter's digit limit for int -> str
        return _string(f"<integer of {number.bit_length()} bits>")


def _scalar(item: Any) -> str:
    """JSON text of anything that is not an object or array (or a marker for what JSON cannot hold)."""
    if item is None:
        return "null"
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        return _integer(item)
    if isinstance(item, float):
        return float.__repr__(item) if math.isfinite(item) else _string(float.__repr__(item))
    if isinstance(item, str):
        return _string(str.__str__(item))
    return _string(f"<{type(item).__name__}>")


def canonical(raw: Any) -> tuple[str, int]:
    """`raw` as canonical JSON text PostgreSQL accepts, and its nesting depth (0 for a scalar)."""
    out: list[str] = []
    stack: list[Any] = [raw]
    depth = deepest = 0
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is _Token:
            out.append(item)
            if item is _CLOSE_OBJECT or item is _CLOSE_ARRAY:
                depth -= 1
        elif kind is str:
            out.append(_string(item))
        elif isinstance(item, dict):
            depth += 1
            deepest = max(deepest, depth)
            out.append("{")
            pairs = sorted(
                ((key if type(key) is str else f"<{type(key).__name__}>", value) for key, value in dict.items(item)),
                key=itemgetter(0),
            )
            stack.append(_CLOSE_OBJECT)
            for index in range(len(pairs) - 1, -1, -1):
                key, value = pairs[index]
                stack.append(value)
                stack.append(_Token(_string(key) + ":"))
                if index:
                    stack.append(_COMMA)
        elif isinstance(item, list | tuple):
            depth += 1
            deepest = max(deepest, depth)
            out.append("[")
            stack.append(_CLOSE_ARRAY)
            for index in range(len(item) - 1, -1, -1):
                stack.append(item[index])
                if index:
                    stack.append(_COMMA)
        else:
            out.append(_scalar(item))
    return "".join(out), deepest


class Kept(NamedTuple):
    """A refused reading as the quarantine keeps it: jsonb text, its size in bytes, and the digest of the
    whole reading's canonical form."""

    payload: str
    size: int
    digest: bytes


def keep(raw: Any) -> Kept:
    """The quarantine copy of `raw`: whole when small and shallow enough, else a bounded summary."""
    text, depth = canonical(raw)
    encoded = text.encode()
    digest = hashlib.sha256(encoded).digest()
    if len(encoded) <= MAX_KEPT_BYTES and depth <= MAX_KEPT_DEPTH:
        return Kept(text, len(encoded), digest)
    known = {}
    if isinstance(raw, dict):
        for field, limit in _KNOWN.items():
            value = dict.get(raw, field)
            if field in raw and _short(value, limit):
                known[field] = value
    summary = {"bytes": len(encoded), "depth": depth, "sha256": digest.hex(), "head": text[:_HEAD_CHARS]}
    payload, _ = canonical({**known, "quarantine_summary": summary})
    return Kept(payload, len(payload.encode()), digest)


def _short(value: Any, limit: int) -> bool:
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str) and len(value) <= limit


class Quota(NamedTuple):
    """What one gateway may add to the quarantine per clock hour."""

    readings: int
    bytes: int


DEFAULT_QUOTA = Quota(2000, 2 * 1024 * 1024)


def quota_of(settings: CloudSettings) -> Quota:
    """The quota a process's settings configure (`TRYGGHEIM_QUARANTINE_QUOTA_READINGS` and `_BYTES`)."""
    return Quota(settings.quarantine_quota_readings, settings.quarantine_quota_bytes)


# Rows already stored (a re-sent batch) are skipped before the quota is applied: re-sending costs no quota.
# The running count and size in the batch's order decide what fits; the hour is UTC. Usage is needed for the
# current hour only, so a gateway's earlier hours are dropped as it goes (overflow is kept: the fleet view
# reports it).
_QUARANTINE_SQL = """
WITH batch AS (
    SELECT b.*, count(*) OVER w AS n, sum(b.size) OVER w AS total
    FROM unnest(%(seq)b::int8[], %(device)b::text[], %(reason)b::text[], %(detail)b::text[], %(payload)b::text[],
                %(received)b::timestamptz[], %(digest)b::bytea[], %(size)b::int8[])
         WITH ORDINALITY AS b(seq, device_ref, reason, detail, payload, received_at, payload_hash, size, i)
    WHERE NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.gateway_id = %(g)s AND q.outbox_epoch = %(e)s
                      AND q.seq = b.seq AND q.payload_hash = b.payload_hash)
    WINDOW w AS (ORDER BY b.i)
), judged AS (
    SELECT b.*, coalesce(u.readings, 0) + b.n <= %(max_readings)s
                AND coalesce(u.bytes, 0) + b.total <= %(max_bytes)s AS kept
    FROM batch b LEFT JOIN quarantine_usage u ON u.gateway_id = %(g)s AND u.hour = date_trunc('hour', now(), 'UTC')
), stored AS (
    INSERT INTO quarantine (gateway_id, outbox_epoch, seq, device_ref, reason, detail, payload, received_at,
                            payload_hash)
    SELECT %(g)s, %(e)s, seq, device_ref, reason, detail, payload::jsonb, received_at, payload_hash
    FROM judged WHERE kept ON CONFLICT DO NOTHING
), used AS (
    INSERT INTO quarantine_usage AS u (gateway_id, hour, readings, bytes)
    SELECT %(g)s, date_trunc('hour', now(), 'UTC'), count(*), sum(size) FROM judged WHERE kept HAVING count(*) > 0
    ON CONFLICT (gateway_id, hour) DO UPDATE SET readings = u.readings + excluded.readings,
                                                bytes = u.bytes + excluded.bytes
), pruned AS (
    DELETE FROM quarantine_usage WHERE gateway_id = %(g)s AND hour < date_trunc('hour', now(), 'UTC')
), overflow AS (
    INSERT INTO quarantine_overflow AS o (gateway_id, hour, readings, bytes)
    SELECT %(g)s, date_trunc('hour', now(), 'UTC'), count(*), sum(size) FROM judged WHERE NOT kept
    HAVING count(*) > 0
    ON CONFLICT (gateway_id, hour) DO UPDATE SET readings = o.readings + excluded.readings,
                                                bytes = o.bytes + excluded.bytes
)
SELECT coalesce(array_agg(i::int) FILTER (WHERE NOT kept), '{}') AS over,
       coalesce(sum(size) FILTER (WHERE NOT kept), 0)::int8 AS over_bytes
FROM judged
"""


@dataclass
class Pending:
    """A batch's quarantine statement, sent; `result` reads what it did once the pipeline has synced."""

    cursor: AsyncCursor[Any]
    slots: list[int]  # per rejection, its row in the statement (rejections repeated in a batch share one)
    reasons: list[str]

    async def result(self) -> tuple[Counter[str], int, int]:
        """Counts by reason (`over_quota` for what exceeded the quota), and the overflow's readings and bytes."""
        row = await self.cursor.fetchone()
        assert row is not None, "an aggregate returns one row"
        over_rows, over_bytes = row
        over = {index - 1 for index in over_rows}
        counts = Counter(OVER_QUOTA if slot in over else reason for slot, reason in zip(self.slots, self.reasons,
                                                                                         strict=True))  # fmt: skip
        return counts, len(over), over_bytes


async def send(
    conn: AsyncConnection[Any], gateway_id: UUID, epoch: UUID, rejections: list[Rejection], quota: Quota
) -> Pending | None:
    """Queue the quarantine statement for `rejections` (in pipeline mode nothing waits here)."""
    if not rejections:
        return None
    rows: dict[tuple[int, bytes] | int, int] = {}
    columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [])
    slots = []
    for index, rejection in enumerate(rejections):
        kept = keep(rejection.raw)
        # The same reading twice in one batch is one row, as the unique delivery key would have it.
        identity = (rejection.seq, kept.digest) if rejection.seq is not None else index
        slot = rows.setdefault(identity, len(rows))
        slots.append(slot)
        if slot < len(columns[0]):
            continue
        values = (
            rejection.seq, rejection.device and storable_text(rejection.device), rejection.reason,
            storable_text(rejection.detail)[:500], kept.payload, rejection.received_at, kept.digest, kept.size,
        )  # fmt: skip
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    names = ("seq", "device", "reason", "detail", "payload", "received", "digest", "size")
    params = {
        **dict(zip(names, columns, strict=True)),
        "g": gateway_id, "e": epoch, "max_readings": quota.readings, "max_bytes": quota.bytes,
    }  # fmt: skip
    cursor = await conn.execute(_QUARANTINE_SQL, params)
    return Pending(cursor, slots, [r.reason for r in rejections])
