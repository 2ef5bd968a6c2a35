"""The sign-in throttle: slows password guessing without giving an attacker a lever to lock the real user out.

Failures are counted per (user name, client address) pair in `login_throttle`. Following OWASP's
Authentication Cheat Sheet ("Account Lockout": an exponential lockout that starts short and doubles, and care
that lockout cannot be used to deny service) and Credential Stuffing Prevention Cheat Sheet ("IP
Blacklisting": track per-client failures separately from per-user failures, and only temporarily), both at
https://cheatsheetseries.owasp.org/cheatsheets/Authentication_Cheat_Sheet.html and
https://cheatsheetseries.owasp.org/cheatsheets/Credential_Stuffing_Prevention_Cheat_Sheet.html:

- a pair has `free_failures` attempts; then each failure makes it wait `delay`, doubling up to `delay_max`;
- when a user has `account_failures` failures from all clients, a client that has failed for that user and
  has never signed in as them waits for the window; a client with no failures for the user, or one that has
  signed in as them before, is not held back: another address's guessing never locks the real user out;
- when a client has `client_failures` failures for all users, it may still sign in as users it has signed in
  as before (a shared address of a care home stays usable for its staff), but not try new ones.

An attempt holds one of its pair's places while its password is checked (`reserve`), under transaction
locks on the user and the client, so parallel attempts cannot overrun the pair's limit: of 40 parallel guesses
from one pair exactly `free_failures` reach the password check. Only a checked, wrong password counts as a
failure (`failed`), towards the pair's, the user's and the client's limits; `succeeded` clears the pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from cloud.access import audit
from cloud.config import CloudSettings

_MAX_DOUBLINGS = 30  # beyond this the cap applies anyway; keeps the arithmetic finite


@dataclass(frozen=True)
class ThrottleRules:
    """The throttle's limits (TRYGGHEIM_LOGIN_* settings)."""

    free_failures: int = 5
    delay: timedelta = timedelta(seconds=30)
    delay_max: timedelta = timedelta(minutes=15)
    window: timedelta = timedelta(hours=1)
    account_failures: int = 20
    client_failures: int = 50

    @classmethod
    def from_settings(cls, settings: CloudSettings) -> ThrottleRules:
        """The rules a process was configured with."""
        return cls(
            free_failures=settings.login_free_failures,
            delay=timedelta(seconds=settings.login_delay_s),
            delay_max=timedelta(seconds=settings.login_delay_max_s),
            window=timedelta(seconds=settings.login_window_s),
            account_failures=settings.login_account_failures,
            client_failures=settings.login_client_failures,
        )

    def wait_after(self, failures: int) -> timedelta | None:
        """How long a pair waits after its `failures`-th failure (None: not at all)."""
        if failures < self.free_failures:
            return None
        return min(self.delay_max, self.delay * (1 << min(failures - self.free_failures, _MAX_DOUBLINGS)))


class Throttled(Exception):  # noqa: N818 - reads as a state, not an error
    """This attempt may not be made now; `retry_after` says when it may."""

    def __init__(self, retry_after: timedelta) -> None:
        super().__init__(f"throttled for {retry_after}")
        self.retry_after = retry_after


# A crashed process or a cancelled request never releases its attempt's place; after this long it is free.
PENDING_TTL = timedelta(minutes=2)

_STATE_SQL = """
    SELECT now() AS now, p.failures, p.last_failure_at, p.blocked_until, p.last_success_at,
           CASE WHEN p.pending_since > now() - %(pending_ttl)s THEN p.pending ELSE 0 END AS pending,
           (SELECT coalesce(sum(failures), 0) FROM login_throttle
             WHERE username = %(username)s AND last_failure_at > now() - %(window)s) AS account_failures,
           (SELECT coalesce(sum(failures), 0) FROM login_throttle
             WHERE client = %(client)s AND last_failure_at > now() - %(window)s) AS client_failures
    FROM (SELECT 1) AS one
    LEFT JOIN login_throttle p ON p.username = %(username)s AND p.client = %(client)s
"""

_HOLD_SQL = """
    INSERT INTO login_throttle AS t (username, client, pending, pending_since)
    VALUES (%(username)s, %(client)s, 1, now())
    ON CONFLICT (username, client) DO UPDATE SET
        pending = CASE WHEN t.pending_since > now() - %(pending_ttl)s THEN t.pending + 1 ELSE 1 END,
        pending_since = now()
"""

# The count itself is one atomic upsert: a failure inside the window adds one, after it starts afresh.
_FAILED_SQL = """
    INSERT INTO login_throttle AS t (username, client, failures, first_failure_at, last_failure_at)
    VALUES (%(username)s, %(client)s, 1, now(), now())
    ON CONFLICT (username, client) DO UPDATE SET
        failures = CASE WHEN t.last_failure_at > now() - %(window)s THEN t.failures + 1 ELSE 1 END,
        first_failure_at = CASE WHEN t.last_failure_at > now() - %(window)s THEN t.first_failure_at ELSE now() END,
        last_failure_at = now(),
        pending = greatest(t.pending - 1, 0)
    RETURNING failures
"""


async def _lock(conn: AsyncConnection[Any], username: str, client: str) -> None:
    # The user's lock first, then the client's (always in this order, so two attempts cannot deadlock): the
    # pair's, the user's and the client's counts are each read and written by one attempt at a time.
    for key in (f"login-user:{username}", f"login-client:{client}"):
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))


async def _state(conn: AsyncConnection[Any], rules: ThrottleRules, username: str, client: str) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    params = {"username": username, "client": client, "window": rules.window, "pending_ttl": PENDING_TTL}
    await cur.execute(_STATE_SQL, params)
    state = await cur.fetchone()
    assert state is not None
    recent = state["last_failure_at"] is not None and state["last_failure_at"] > state["now"] - rules.window
    return {**state, "failures": state["failures"] if recent else 0}


async def reserve(conn: AsyncConnection[Any], rules: ThrottleRules, username: str, client: str) -> None:
    """Hold a place for this attempt's password check, or raise `Throttled` (nothing held). Follow with
    `failed` or `succeeded` once the password has been checked."""
    async with conn.transaction():
        await _lock(conn, username, client)
        state = await _state(conn, rules, username, client)
        now = state["now"]
        if state["blocked_until"] is not None and state["blocked_until"] > now:
            raise Throttled(state["blocked_until"] - now)
        if state["failures"] + state["pending"] >= rules.free_failures:
            # The pair's last free attempts are being checked; if they fail, it waits at least `delay`.
            raise Throttled(rules.delay)
        known = state["last_success_at"] is not None
        tried = state["failures"] + state["pending"] > 0  # one attempt at a time from a new address
        if not known and tried and state["account_failures"] >= rules.account_failures:
            raise Throttled(rules.window)
        if not known and state["client_failures"] >= rules.client_failures:
            raise Throttled(rules.window)
        params = {"username": username, "client": client, "pending_ttl": PENDING_TTL}
        await conn.execute(_HOLD_SQL, params)


async def failed(
    conn: AsyncConnection[Any], rules: ThrottleRules, username: str, client: str, correlation_id: str
) -> None:
    """Count a wrong password. A pair, user or client that becomes throttled by it is recorded in the audit log
    (once per streak, not per refused attempt, so an attacker cannot flood the log)."""
    async with conn.transaction():
        await _lock(conn, username, client)
        state = await _state(conn, rules, username, client)
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(_FAILED_SQL, {"username": username, "client": client, "window": rules.window})
        counted = await cur.fetchone()
        assert counted is not None
        failures = counted["failures"]
        wait = rules.wait_after(failures)
        if wait is not None:
            await cur.execute(
                "UPDATE login_throttle SET blocked_until = now() + %s WHERE username = %s AND client = %s",
                (wait, username, client),
            )
        became = []
        if failures == rules.free_failures:
            became.append(("pair", f"user {username} from {client}: {failures} failures, waits {wait}"))
        if state["account_failures"] + 1 == rules.account_failures:
            became.append(("account", f"user {username}: {rules.account_failures} failures from all clients"))
        if state["client_failures"] + 1 == rules.client_failures:
            became.append(("client", f"client {client}: {rules.client_failures} failures for all users"))
        if became:
            await _audit(conn, username, became, correlation_id)
        await cur.execute(
            "DELETE FROM login_throttle WHERE client = %s AND last_success_at IS NULL AND pending = 0 "
            "AND last_failure_at < now() - %s AND (blocked_until IS NULL OR blocked_until < now())",
            (client, rules.window),
        )


async def _audit(conn: AsyncConnection[Any], username: str, became: list[tuple[str, str]], correlation_id: str) -> None:
    """Lockout records of a pair or user go to the chain of the user's municipality (its auditors see attacks on
    their staff); those of a client, or of a user name that does not exist, to the chain of unknown principals."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT municipality_id FROM staff WHERE username = %s", (username,))
    staff = await cur.fetchone()
    actor = audit.Actor(principal_kind="anonymous", principal_id=None, role=None, correlation_id=correlation_id)
    municipality = staff["municipality_id"] if staff else None
    records = [
        actor.record(f"auth.throttle.{scope}", what, municipality_id=None if scope == "client" else municipality,
                     outcome="denied")
        for scope, what in became
    ]  # fmt: skip
    await audit.append_all(conn, records)


async def succeeded(conn: AsyncConnection[Any], username: str, client: str) -> None:
    """The pair signed in: forget its failures and remember it as known (call inside a transaction)."""
    await conn.execute(
        "INSERT INTO login_throttle AS t (username, client, last_success_at) VALUES (%s, %s, now()) "
        "ON CONFLICT (username, client) DO UPDATE SET failures = 0, first_failure_at = NULL, "
        "last_failure_at = NULL, blocked_until = NULL, last_success_at = now(), pending = greatest(t.pending - 1, 0)",
        (username, client),
    )
