"""Authentication: who is asking. Session cookies (browser; staff and citizens) and our own opaque API tokens;
a staff member's or citizen's principal from their record. Sessions end at an absolute limit (one shift) and
after a configured idle time. Tokens from identity providers are checked in `access_tokens`/`dpop` and mapped
to the same principals by `federation`; a browser sign-in through a provider (`oidc_sign_in`) opens the same
sessions as a local password does.

Whatever ends a session or token (sign-out, revocation, deactivation) announces the staff member's id on
`ACCESS_CHANNEL` in its transaction; every process's live broadcaster (cloud.worklist.live) then has that
member's open event streams check their credential again at once, so they end within moments on every replica.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from cloud.access import audit, relatives, throttle
from cloud.access.principal import Credential, Principal
from cloud.access.roles import Role
from cloud.access.secrets import PasswordPool, new_token, token_digest

CITIZEN_HIGH_ACR = "idporten-loa-high"
CitizenOrigin = Literal["idporten", "local"]
SessionOf = Literal["staff", "patient", "relative"]

SESSION_COOKIE = "trygg_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"  # the same token in a plain HTML form
SESSION_LIFETIME = timedelta(hours=10)  # one shift, plus margin
ACCESS_CHANNEL = "tryggheim_access"
# `last_used_at` is written at most this often per token: one write per request would double the cost of
# every API call.
LAST_USED_GRANULARITY = timedelta(minutes=1)
SEEN_GRANULARITY = timedelta(minutes=1)  # the same for a session's idle clock
# A live session (within both limits), its idle clock restarted when it is more than a minute old: a
# data-modifying WITH runs once, whether or not the outer query reads it.
_LIVE_SESSION_SQL = """
    WITH live AS (
        SELECT s.token_hash, s.csrf_token, s.last_seen_at, {columns} FROM {table} s
        WHERE s.token_hash = %s AND s.expires_at > now() AND s.last_seen_at > now() - %s
    ), touched AS (
        UPDATE {table} t SET last_seen_at = now() FROM live
        WHERE t.token_hash = live.token_hash AND live.last_seen_at < now() - %s
    )
    SELECT * FROM live
"""

_PRINCIPAL_SQL = """
    SELECT s.id, s.municipality_id, s.role, s.username, s.display_name,
           coalesce(array_agg(st.team_id) FILTER (WHERE st.team_id IS NOT NULL), '{}') AS team_ids
    FROM staff s LEFT JOIN staff_teams st ON st.staff_id = s.id
    WHERE s.id = %s AND s.active
    GROUP BY s.id
"""


async def staff_principal(
    conn: AsyncConnection[Any],
    staff_id: UUID,
    credential: Credential,
    csrf: str | None = None,
    *,
    patient_data: bool = True,
    origin: Literal["local", "helseid"] = "local",
) -> Principal | None:
    """The active staff member `staff_id` as a principal (None when deactivated or unknown)."""
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
        patient_data=patient_data,
        origin=origin,
    )


async def citizen_principal(
    conn: AsyncConnection[Any], national_id: str, credential: Credential, *, acr: object, csrf: str | None = None,
    origin: CitizenOrigin = "idporten",
) -> Principal | None:  # fmt: skip
    """The citizen with `national_id` as the principal of their current record (one in care before a
    discharged one, the newest first: a person who moved has a record in each municipality); only
    `idporten-loa-high` (or a local account, which production refuses) reaches health data."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id, municipality_id, display_name FROM patients WHERE national_id = %s "
        "ORDER BY lifecycle IN ('discharged', 'deceased'), created_at DESC LIMIT 1",
        (national_id,),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return Principal(
        kind="patient",
        id=row["id"],
        municipality_id=row["municipality_id"],
        role=Role.PATIENT,
        display_name=row["display_name"],
        csrf_token=csrf,
        credential=credential,
        patient_data=_strong(acr, origin),
        origin=origin,
    )


def _strong(acr: object, origin: CitizenOrigin) -> bool:
    return origin == "local" or acr == CITIZEN_HIGH_ACR


async def citizen_of(
    conn: AsyncConnection[Any], national_id: str, credential: Credential, *, acr: object, csrf: str | None = None,
    origin: CitizenOrigin = "idporten",
) -> Principal | None:  # fmt: skip
    """Whom a citizen's national id speaks for, the same for ID-porten and a local citizen account: their
    patient record, else their links as a relative (`cloud.access.relatives`), else nobody."""
    found = await citizen_principal(conn, national_id, credential, acr=acr, csrf=csrf, origin=origin)
    if found is not None:
        return found
    return await relatives.relative_principal(
        conn, national_id, credential, patient_data=_strong(acr, origin), origin=origin, csrf=csrf
    )


async def from_session(conn: AsyncConnection[Any], cookie: str, idle: timedelta) -> Principal | None:
    """The staff member or citizen behind a session cookie, if the session is live and has not been idle for
    `idle`; a used session's idle clock restarts (written at most once a minute)."""
    digest = token_digest(cookie)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        _LIVE_SESSION_SQL.format(table="staff_sessions", columns="s.staff_id, s.patient_data, s.origin"),
        (digest, idle, SEEN_GRANULARITY),
    )
    if row := await cur.fetchone():
        credential = Credential("session", digest)
        return await staff_principal(
            conn,
            row["staff_id"],
            credential,
            row["csrf_token"],
            patient_data=row["patient_data"],
            origin=_origin(row["origin"]),
        )
    await cur.execute(
        _LIVE_SESSION_SQL.format(table="citizen_sessions", columns="s.patient_id, s.national_id, s.acr, s.origin"),
        (digest, idle, SEEN_GRANULARITY),
    )
    if row := await cur.fetchone():
        person = row["national_id"]
        if person is None:  # a session opened before sessions kept the person (migration 0017)
            await cur.execute("SELECT national_id FROM patients WHERE id = %s", (row["patient_id"],))
            found = await cur.fetchone()
            person = found["national_id"] if found else None
        if person is not None:
            credential = Credential("citizen_session", digest)
            return await citizen_of(
                conn, person, credential, acr=row["acr"], csrf=row["csrf_token"], origin=row["origin"]
            )
    return None


def _origin(value: str) -> Literal["local", "helseid"]:
    return "helseid" if value == "oidc" else "local"


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
    return await staff_principal(conn, row["staff_id"], Credential("token", digest))


async def still_valid(conn: AsyncConnection[Any], principal: Principal) -> bool:
    """Whether the credential a request started with still holds (a long response checks it again)."""
    credential = principal.credential
    if credential is None:
        return False
    if credential.kind == "provider_token":  # nothing stored: the token's own expiry, and an active account
        if credential.expires_at is None or credential.expires_at <= time.time():
            return False
        if principal.kind == "patient":
            return True
        cur = await conn.execute("SELECT 1 FROM staff WHERE id = %s AND active", (principal.id,))
        return await cur.fetchone() is not None
    if credential.kind == "citizen_session":
        cur = await conn.execute(
            "SELECT 1 FROM citizen_sessions WHERE token_hash = %s AND expires_at > now()", (credential.digest,)
        )
        return await cur.fetchone() is not None
    table, live = (
        ("staff_sessions", "c.expires_at > now()")
        if credential.kind == "session"
        else ("api_tokens", "c.expires_at > now() AND c.revoked_at IS NULL")
    )
    cur = await conn.execute(
        f"SELECT 1 FROM {table} c JOIN staff s ON s.id = c.staff_id "  # noqa: S608 - fixed names
        f"WHERE c.token_hash = %s AND {live} AND s.active",
        (credential.digest,),
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


_ACCOUNT_SQL = (
    "SELECT id, password_hash, 'staff' AS audience, NULL AS national_id FROM staff WHERE username = %(u)s AND active "
    "UNION ALL SELECT id, password_hash, 'citizen', national_id FROM citizen_accounts "
    "WHERE username = %(u)s AND active AND %(citizens)s ORDER BY audience DESC LIMIT 1"
)


async def login(
    sign_in: SignIn, username: str, password: str, client: str, correlation_id: str, *, citizens: bool = False
) -> tuple[str, str, SessionOf] | None:
    """Check the password; on success open a session and return (cookie, csrf token, whose session it is:
    staff, a patient or a relative).

    With `citizens`, a local citizen account (`cloud.access.citizen_accounts`, the sign-in form's demo and test
    stand-in for ID-porten) is accepted too and resolved by its national id as an ID-porten sign-in is; a
    staff account of the same user name comes first. Raises `throttle.Throttled` before any password is
    checked when the attempt may not be made, and `PasswordCheckBusy` when too many sign-ins wait for a
    password thread. The same answer and the same cost for an unknown user as for a wrong password.
    """
    username = username.strip().lower()
    async with sign_in.passwords.admitted():
        async with sign_in.pool.connection() as conn:
            await throttle.reserve(conn, sign_in.rules, username, client)
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(_ACCOUNT_SQL, {"u": username, "citizens": citizens})
            account = await cur.fetchone()
        matches = await sign_in.passwords.verify(account["password_hash"] if account else None, password)
    if not matches or account is None:
        async with sign_in.pool.connection() as conn:
            await throttle.failed(conn, sign_in.rules, username, client, correlation_id)
        return None
    async with sign_in.pool.connection() as conn, conn.transaction():
        await throttle.succeeded(conn, username, client)
        if account["audience"] == "staff":
            return (*await open_session(conn, account["id"]), "staff")
        principal = await citizen_of(conn, account["national_id"], Credential("citizen_session", b""), acr="local",
                                     origin="local")  # fmt: skip
        if principal is None:  # neither a patient nor anyone's relative (any more): nothing to open
            return None
        opened = await open_citizen_session(
            conn, principal.id if principal.kind == "patient" else None, national_id=account["national_id"],
            acr="local", id_token=None, origin="local",
        )  # fmt: skip
        await audit.append(conn, audit.AuditRecord(
            municipality_id=principal.municipality_id, principal_kind=principal.kind, principal_id=str(principal.id),
            role=str(principal.role), action="sign_in", resource="session via local citizen account",
            outcome="allowed", correlation_id=correlation_id,
            patient_id=principal.id if principal.kind == "patient" else None,
        ))  # fmt: skip
        return (*opened, "patient" if principal.kind == "patient" else "relative")


async def open_session(
    conn: AsyncConnection[Any],
    staff_id: UUID,
    *,
    origin: Literal["local", "oidc"] = "local",
    id_token: str | None = None,
    patient_data: bool = True,
) -> tuple[str, str]:
    """A new browser session for a staff member whose identity has been established (by a local password or
    by a provider): returns (cookie, csrf token); only the cookie's digest is stored."""
    cookie, csrf = new_token(), new_token()
    await conn.execute(
        "INSERT INTO staff_sessions (token_hash, staff_id, csrf_token, expires_at, origin, id_token, patient_data) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (token_digest(cookie), staff_id, csrf, datetime.now(UTC) + SESSION_LIFETIME, origin, id_token, patient_data),
    )
    return cookie, csrf


async def open_citizen_session(
    conn: AsyncConnection[Any], patient_id: UUID | None, *, acr: str, id_token: str | None,
    national_id: str | None = None, origin: CitizenOrigin = "idporten",
) -> tuple[str, str]:  # fmt: skip
    """A new browser session for a citizen (a patient: `patient_id`; a relative: None) signed in through ID-porten
    or a local citizen account, kept for the person `national_id`: returns (cookie, csrf token)."""
    cookie, csrf = new_token(), new_token()
    await conn.execute(
        "INSERT INTO citizen_sessions (token_hash, patient_id, national_id, csrf_token, acr, id_token, expires_at, "
        "origin) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (token_digest(cookie), patient_id, national_id, csrf, acr, id_token, datetime.now(UTC) + SESSION_LIFETIME,
         origin),
    )  # fmt: skip
    return cookie, csrf


@dataclass(frozen=True)
class Ended:
    """A session that sign-out ended: whose it was and the provider's ID token, for the provider's sign-out."""

    audience: Literal["staff", "citizen"]
    id_token: str | None


async def logout(conn: AsyncConnection[Any], cookie: str) -> Ended | None:
    """End a session and the event streams it opened (API tokens are separate credentials: docs/operations.md);
    None when there was no such session."""
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "DELETE FROM staff_sessions WHERE token_hash = %s RETURNING staff_id, id_token", (token_digest(cookie),)
        )
        if ended := await cur.fetchone():
            await announce(conn, ended["staff_id"])
            return Ended("staff", ended["id_token"])
        await cur.execute(
            "DELETE FROM citizen_sessions WHERE token_hash = %s RETURNING id_token", (token_digest(cookie),)
        )
        if ended := await cur.fetchone():
            return Ended("citizen", ended["id_token"])
    return None
