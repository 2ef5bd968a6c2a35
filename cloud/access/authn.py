"""Authentication: who is asking. Session cookies (browser) and bearer tokens (API), local-account mode.

Production sign-in through HelseID (OIDC) plugs in here later as another way to produce a Principal.

Whatever ends a session or token (sign-out, revocation, deactivation) announces the staff member's id on
`ACCESS_CHANNEL` in its transaction; every process's live broadcaster (cloud.worklist.live) then has that
member's open event streams check their credential again at once, so they end within moments on every replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from cloud.access import throttle
from cloud.access.principal import Credential, Principal
from cloud.access.roles import Role
from cloud.access.secrets import PasswordPool, new_token, token_digest

SESSION_COOKIE = "trygg_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"  # the same token in a plain HTML form
SESSION_LIFETIME = timedelta(hours=10)  # one shift, plus margin
ACCESS_CHANNEL = "tryggheim_access"
# `last_used_at` is written at most this often per token: one write per request would double the cost of
# every API call.
LAST_USED_GRANULARITY = timedelta(minutes=1)

_PRINCIPAL_SQL = """
    SELECT s.id, s.municipality_id, s.role, s.username, s.display_name,
           coalesce(array_agg(st.team_id) FILTER (WHERE st.team_id IS NOT NULL), '{}') AS team_ids
    FROM staff s LEFT JOIN staff_teams st ON st.staff_id = s.id
    WHERE s.id = %s AND s.active
    GROUP BY s.id
"""


async def _principal(
    conn: AsyncConnection[Any], staff_id: UUID, credential: Credential, csrf: str | None = None
) -> Principal | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_PRINCIPAL_SQL, (staff_id,))
    row = await cur.fetchone()
    if row is None:
        return None
    return Principal(
        kind="staff",
        id=row["id"],
        municipality_id=row["municipality_id"],
        role=Role(row["role"]),
        username=row["username"],
        display_name=row["display_name"],
        team_ids=frozenset(row["team_ids"]),
        csrf_token=csrf,
        credential=credential,
    )


async def from_session(conn: AsyncConnection[Any], cookie: str) -> Principal | None:
    """The staff member behind a session cookie, if the session is live."""
    digest = token_digest(cookie)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT staff_id, csrf_token FROM staff_sessions WHERE token_hash = %s AND expires_at > now()", (digest,)
    )
    row = await cur.fetchone()
    return await _principal(conn, row["staff_id"], Credential("session", digest), row["csrf_token"]) if row else None


async def from_bearer(conn: AsyncConnection[Any], token: str) -> Principal | None:
    """The staff member behind an API token, if it is neither expired nor revoked."""
    digest = token_digest(token)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id, staff_id, (last_used_at < now() - %s) IS NOT FALSE AS stale FROM api_tokens "
        "WHERE token_hash = %s AND expires_at > now() AND revoked_at IS NULL",
        (LAST_USED_GRANULARITY, digest),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    if row["stale"]:
        await conn.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = %s", (row["id"],))
    return await _principal(conn, row["staff_id"], Credential("token", digest))


async def still_valid(conn: AsyncConnection[Any], principal: Principal) -> bool:
    """Whether the credential a request started with still holds (a long response checks it again)."""
    if principal.credential is None:
        return False
    table, live = (
        ("staff_sessions", "c.expires_at > now()")
        if principal.credential.kind == "session"
        else ("api_tokens", "c.expires_at > now() AND c.revoked_at IS NULL")
    )
    cur = await conn.execute(
        f"SELECT 1 FROM {table} c JOIN staff s ON s.id = c.staff_id "  # noqa: S608 - fixed names
        f"WHERE c.token_hash = %s AND {live} AND s.active",
        (principal.credential.digest,),
    )
    return await cur.fetchone() is not None


async def announce(conn: AsyncConnection[Any], staff_id: UUID) -> None:
    """Tell every process that `staff_id`'s credentials changed (delivered when the transaction commits)."""
    await conn.execute("SELECT pg_notify(%s, %s)", (ACCESS_CHANNEL, str(staff_id)))


@dataclass(frozen=True)
class SignIn:
    """What a sign-in needs: the pool (a connection is held only around the database steps, never while a
    password waits for a thread), the password threads and the throttle's rules."""

    pool: AsyncConnectionPool
    passwords: PasswordPool
    rules: throttle.ThrottleRules


async def login(
    sign_in: SignIn, username: str, password: str, client: str, correlation_id: str
) -> tuple[str, str] | None:
    """Check the password; on success open a session and return (cookie, csrf token).

    Raises `throttle.Throttled` before any password is checked when the attempt may not be made, and
    `PasswordCheckBusy` when too many sign-ins wait for a password thread. The same answer and the same cost
    for an unknown user as for a wrong password.
    """
    username = username.strip().lower()
    async with sign_in.passwords.admitted():
        async with sign_in.pool.connection() as conn:
            await throttle.reserve(conn, sign_in.rules, username, client)
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute("SELECT id, password_hash FROM staff WHERE username = %s AND active", (username,))
            staff = await cur.fetchone()
        matches = await sign_in.passwords.verify(staff["password_hash"] if staff else None, password)
    if not matches or staff is None:
        async with sign_in.pool.connection() as conn:
            await throttle.failed(conn, sign_in.rules, username, client, correlation_id)
        return None
    async with sign_in.pool.connection() as conn, conn.transaction():
        await throttle.succeeded(conn, username, client)
        return await open_session(conn, staff["id"])


async def open_session(conn: AsyncConnection[Any], staff_id: UUID) -> tuple[str, str]:
    """A new browser session for a staff member whose identity has been established (by a local password
    today, by an OIDC provider later): returns (cookie, csrf token); only the cookie's digest is stored."""
    cookie, csrf = new_token(), new_token()
    await conn.execute(
        "INSERT INTO staff_sessions (token_hash, staff_id, csrf_token, expires_at) VALUES (%s, %s, %s, %s)",
        (token_digest(cookie), staff_id, csrf, datetime.now(UTC) + SESSION_LIFETIME),
    )
    return cookie, csrf


async def logout(conn: AsyncConnection[Any], cookie: str) -> None:
    """End a session and the event streams it opened (API tokens are separate credentials: docs/operations.md)."""
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "DELETE FROM staff_sessions WHERE token_hash = %s RETURNING staff_id", (token_digest(cookie),)
        )
        ended = await cur.fetchone()
        if ended is not None:
            await announce(conn, ended["staff_id"])
