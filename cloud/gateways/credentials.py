"""Enrolment codes and gateway credentials. Only SHA-256 digests are stored; the secrets exist only on
the installer's screen (codes) and in the gateway's 0600 credential file (credentials).

Codes are single-use and expire (24 h by default). A credential can be rotated, with the previous one
accepted for a grace period so a gateway that missed the answer is not locked out, and revoked, which
takes effect on the next request: `ingest` checks the credential again inside the batch's transaction, and
the other gateway routes trust the per-process cache of `authenticate_cached` for at most `CACHE_SECONDS`.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row
from psycopg_pool import AsyncConnectionPool

from cloud.access.secrets import token_digest

CODE_LIFETIME = timedelta(hours=24)
ROTATION_GRACE = timedelta(hours=24)
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_CLIENT = 10
# How long one process trusts a credential it has checked: a revoked or expired credential is refused by the
# other gateway routes at most this long after the change (ingest re-checks in its own transaction).
CACHE_SECONDS = 5.0
_CACHE_LIMIT = 50_000
# The same test as `authenticate`, for several gateways at once: ingest runs it in a group's first pipeline (and
# takes each gateway's clock skew from it, which a heartbeat may have changed since the cached check). Arrays of
# gateway ids and presented digests; a row for each gateway whose credential still holds, in the arrays' order.
# The gateway is found per element in a LATERAL subquery (LIMIT 1: the key is unique), so that even the plan
# made once for every length of the arrays (cloud.db.batch.GENERIC_PLANS) probes the key, where a join may be
# planned as a scan of every gateway.
STILL_VALID_SQL = (
    "SELECT u.n, g.id, g.clock_skew_s FROM unnest(%b::uuid[], %b::bytea[]) WITH ORDINALITY AS u(id, digest, n) "
    "CROSS JOIN LATERAL (SELECT g.id, g.clock_skew_s FROM gateways g WHERE g.id = u.id AND g.revoked_at IS NULL "
    "AND (g.credential_hash = u.digest OR (g.previous_hash = u.digest AND g.previous_valid_until > now())) "
    "LIMIT 1) AS g ORDER BY u.n"
)
# No 0/O/1/I/L: installers read codes aloud and type them.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


class EnrolmentError(Exception):
    """A code that is unknown, used or expired; the message is safe to show."""


class EnrolmentThrottled(Exception):  # noqa: N818 - reads as a state
    """Too many wrong codes from this client recently."""


class EnrolmentPending(Exception):  # noqa: N818 - reads as a state
    """A valid code made on the pages whose home no installer has confirmed yet: the gateway asks again later
    (not a failure: it does not count towards the throttle)."""


@dataclass(frozen=True)
class GatewayPrincipal:
    """A request authenticated with a gateway credential."""

    id: UUID
    municipality_id: UUID
    home_id: UUID | None
    clock_skew_s: float | None = None  # from the last heartbeat; ingest flags readings when it is large


def new_code() -> str:
    """A 12-character code in groups of four, e.g. `K7QM-2XPA-9RTE` (about 59 bits)."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return "-".join(raw[i : i + 4] for i in range(0, 12, 4))


def normalise_code(code: str) -> str:
    """Accept lower case and missing or extra separators as typed by a person."""
    raw = "".join(ch for ch in code.upper() if ch.isalnum())
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


async def create_code(
    conn: AsyncConnection[Any], home_id: UUID, lifetime: timedelta = CODE_LIFETIME
) -> tuple[str, datetime]:
    """A new single-use code for a kit in `home_id`; returns the code and when it expires."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT municipality_id FROM homes WHERE id = %s", (home_id,))
    row = await cur.fetchone()
    if row is None:
        raise EnrolmentError(f"no home {home_id}")
    code = new_code()
    expires = datetime.now(UTC) + lifetime
    await conn.execute(
        "INSERT INTO enrolment_codes (code_hash, municipality_id, home_id, expires_at) VALUES (%s, %s, %s, %s)",
        (token_digest(code), row["municipality_id"], home_id, expires),
    )
    return code, expires


async def check_throttle(conn: AsyncConnection[Any], client: str) -> None:
    """Raise `EnrolmentThrottled` when `client` tried too many wrong codes recently."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT count(*) AS recent FROM enrolment_failures WHERE client = %s AND at > %s",
        (client, datetime.now(UTC) - FAILURE_WINDOW),
    )
    failures = await cur.fetchone()
    if failures and failures["recent"] >= MAX_FAILURES_PER_CLIENT:
        raise EnrolmentThrottled


async def record_failure(conn: AsyncConnection[Any], client: str) -> None:
    """Count one wrong code from `client` (a gateway's address, or a person looking codes up)."""
    await conn.execute("INSERT INTO enrolment_failures (client) VALUES (%s)", (client,))


async def enrol(conn: AsyncConnection[Any], code: str, client: str) -> tuple[UUID, str]:
    """Exchange a code, once, for a new gateway and its credential."""
    cur = conn.cursor(row_factory=dict_row)
    async with conn.transaction():
        await check_throttle(conn, client)
        await cur.execute(
            "SELECT municipality_id, home_id, expires_at, used_at, rejected_at, "
            "needs_confirmation AND confirmed_at IS NULL AS waiting FROM enrolment_codes "
            "WHERE code_hash = %s FOR UPDATE",
            (token_digest(normalise_code(code)),),
        )
        row = await cur.fetchone()
        problem = (
            "unknown"
            if row is None
            else "already used"
            if row["used_at"] is not None
            else "rejected by the installer"
            if row["rejected_at"] is not None
            else "expired"
            if row["expires_at"] <= datetime.now(UTC)
            else None
        )
        if problem:
            await record_failure(conn, client)
    if problem or row is None:
        raise EnrolmentError(f"the enrolment code is {problem}; ask for a new one")
    if row["waiting"]:
        raise EnrolmentPending
    credential = secrets.token_urlsafe(32)
    async with conn.transaction():
        await cur.execute(
            "INSERT INTO gateways (municipality_id, home_id, credential_hash, enrolled_at) "
            "VALUES (%s, %s, %s, now()) RETURNING id",
            (row["municipality_id"], row["home_id"], token_digest(credential)),
        )
        gateway = await cur.fetchone()
        assert gateway is not None
        updated = await conn.execute(
            "UPDATE enrolment_codes SET used_at = now(), gateway_id = %s WHERE code_hash = %s AND used_at IS NULL "
            "AND rejected_at IS NULL",
            (gateway["id"], token_digest(normalise_code(code))),
        )
        if updated.rowcount != 1:  # a concurrent exchange of the same code won
            raise EnrolmentError("the enrolment code is already used; ask for a new one")
    return gateway["id"], credential


async def authenticate(conn: AsyncConnection[Any], credential: str) -> GatewayPrincipal | None:
    """The gateway behind a credential: current, or previous within its grace period; never revoked."""
    digest = token_digest(credential)
    cur = conn.cursor(row_factory=class_row(GatewayPrincipal))
    await cur.execute(
        "SELECT id, municipality_id, home_id, clock_skew_s FROM gateways WHERE revoked_at IS NULL AND "
        "(credential_hash = %s OR (previous_hash = %s AND previous_valid_until > now()))",
        (digest, digest),
    )
    return await cur.fetchone()


_checked: dict[bytes, tuple[float, GatewayPrincipal]] = {}


async def authenticate_cached(pool: AsyncConnectionPool[Any], credential: str) -> GatewayPrincipal | None:
    """`authenticate`, with an accepted credential remembered for `CACHE_SECONDS` in this process (a refused
    one is looked up every time: nothing is remembered for it). Saves a pool checkout and a round trip."""
    digest = token_digest(credential)
    now = time.monotonic()
    hit = _checked.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    async with pool.connection() as conn:
        gateway = await authenticate(conn, credential)
    if gateway is None:
        _checked.pop(digest, None)
        return None
    if len(_checked) >= _CACHE_LIMIT:
        for key in [key for key, (until, _) in _checked.items() if until <= now]:
            del _checked[key]
        if len(_checked) >= _CACHE_LIMIT:  # all current: start over rather than grow without bound
            _checked.clear()
    _checked[digest] = (now + CACHE_SECONDS, gateway)
    return gateway


def _forget(gateway_id: UUID) -> None:
    """Drop this process's cached checks of a gateway's credentials (rotation or revocation made here)."""
    for key in [key for key, (_, gateway) in _checked.items() if gateway.id == gateway_id]:
        del _checked[key]


async def rotate(conn: AsyncConnection[Any], gateway_id: UUID, grace: timedelta = ROTATION_GRACE) -> str:
    """A new credential; the current one stays valid for `grace`."""
    credential = secrets.token_urlsafe(32)
    await conn.execute(
        "UPDATE gateways SET previous_hash = credential_hash, previous_valid_until = %s, credential_hash = %s "
        "WHERE id = %s",
        (datetime.now(UTC) + grace, token_digest(credential), gateway_id),
    )
    _forget(gateway_id)
    return credential


async def revoke(conn: AsyncConnection[Any], gateway_id: UUID) -> bool:
    """Revoke every credential of a gateway at once; False when there is no such gateway."""
    result = await conn.execute(
        "UPDATE gateways SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL", (gateway_id,)
    )
    _forget(gateway_id)
    return result.rowcount == 1
