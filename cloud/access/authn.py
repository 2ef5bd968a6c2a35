"""Authentication: who is asking. Session cookies (browser) and bearer tokens (API), local-account mode.

Production sign-in through HelseID (OIDC) plugs in here later as another way to produce a Principal.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from cloud.access.principal import Principal
from cloud.access.roles import Role
from cloud.access.secrets import new_token, token_digest, verify_password

SESSION_COOKIE = "trygg_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_LIFETIME = timedelta(hours=10)  # one shift, plus margin
TOKEN_LIFETIME = timedelta(days=90)
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_CLIENT = 20

_PRINCIPAL_SQL = """
    SELECT s.id, s.municipality_id, s.role, s.username,
           coalesce(array_agg(st.team_id) FILTER (WHERE st.team_id IS NOT NULL), '{}')
    FROM staff s LEFT JOIN staff_teams st ON st.staff_id = s.id
    WHERE s.id = %s AND s.active
    GROUP BY s.id
"""


async def _principal(conn: AsyncConnection[Any], staff_id: UUID, csrf: str | None = None) -> Principal | None:
    row = await (await conn.execute(_PRINCIPAL_SQL, (staff_id,))).fetchone()
    if row is None:
        return None
    return Principal(
        kind="staff",
        id=row[0],
        municipality_id=row[1],
        role=Role(row[2]),
        username=row[3],
        team_ids=frozenset(row[4]),
        csrf_token=csrf,
    )


async def from_session(conn: AsyncConnection[Any], cookie: str) -> Principal | None:
    """The staff member behind a session cookie, if the session is live."""
    row = await (
        await conn.execute(
            "SELECT staff_id, csrf_token FROM staff_sessions WHERE token_hash = %s AND expires_at > now()",
            (token_digest(cookie),),
        )
    ).fetchone()
    return await _principal(conn, row[0], csrf=row[1]) if row else None


async def from_bearer(conn: AsyncConnection[Any], token: str) -> Principal | None:
    """The staff member behind an API token, if it is neither expired nor revoked."""
    row = await (
        await conn.execute(
            "SELECT staff_id FROM api_tokens WHERE token_hash = %s AND expires_at > now() AND revoked_at IS NULL",
            (token_digest(token),),
        )
    ).fetchone()
    return await _principal(conn, row[0]) if row else None


class LoginThrottled(Exception):  # noqa: N818 - reads as a state, not an error
    """Too many recent failures for this user name or client."""


async def login(conn: AsyncConnection[Any], username: str, password: str, client: str) -> tuple[str, str] | None:
    """Check the password; on success open a session and return (cookie, csrf token).

    The same answer and the same cost for an unknown user as for a wrong password.
    """
    username = username.strip().lower()
    since = datetime.now(UTC) - FAILURE_WINDOW
    counts = await (
        await conn.execute(
            "SELECT count(*) FILTER (WHERE username = %s), count(*) FILTER (WHERE client = %s) "
            "FROM login_failures WHERE at > %s AND (username = %s OR client = %s)",
            (username, client, since, username, client),
        )
    ).fetchone()
    assert counts is not None
    if counts[0] >= MAX_FAILURES_PER_USER or counts[1] >= MAX_FAILURES_PER_CLIENT:
        raise LoginThrottled
    row = await (
        await conn.execute("SELECT id, password_hash FROM staff WHERE username = %s AND active", (username,))
    ).fetchone()
    if not verify_password(row[1] if row else None, password) or row is None:
        await conn.execute("INSERT INTO login_failures (username, client) VALUES (%s, %s)", (username, client))
        return None
    cookie, csrf = new_token(), new_token()
    await conn.execute(
        "INSERT INTO staff_sessions (token_hash, staff_id, csrf_token, expires_at) VALUES (%s, %s, %s, %s)",
        (token_digest(cookie), row[0], csrf, datetime.now(UTC) + SESSION_LIFETIME),
    )
    return cookie, csrf


async def logout(conn: AsyncConnection[Any], cookie: str) -> None:
    """End a session."""
    await conn.execute("DELETE FROM staff_sessions WHERE token_hash = %s", (token_digest(cookie),))


async def issue_token(conn: AsyncConnection[Any], staff_id: UUID, label: str = "") -> str:
    """A new API bearer token for a staff member; only its digest is stored."""
    token = new_token()
    await conn.execute(
        "INSERT INTO api_tokens (token_hash, staff_id, label, expires_at) VALUES (%s, %s, %s, %s)",
        (token_digest(token), staff_id, label, datetime.now(UTC) + TOKEN_LIFETIME),
    )
    return token
