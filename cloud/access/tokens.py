"""API bearer tokens: issued for a lifetime (30 days unless asked otherwise, never beyond the configured
maximum), listed without their secret, revoked by their owner or by an administrator of the owner's
municipality. Issuing and revoking are audited in the same transaction, and a revocation ends the token's
open event streams on every process (`authn.announce`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row
from pydantic import BaseModel, ConfigDict

from cloud.access import audit, authn
from cloud.access.secrets import new_token, token_digest
from cloud.config import CloudSettings

LIST_LIMIT = 200  # newest first; a person's tokens over years stay a short page


class TokenError(ValueError):
    """A token request that cannot be granted; the message says why."""


class Token(BaseModel):
    """A token as its owner and administrators see it (never the secret or its digest); a pydantic model so
    that the API answers with it as it is."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    label: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    active: bool


@dataclass(frozen=True)
class Lifetimes:
    """How long a new token lives (TRYGGHEIM_TOKEN_DAYS, TRYGGHEIM_TOKEN_MAX_DAYS)."""

    default_days: int = 30
    max_days: int = 90

    @classmethod
    def from_settings(cls, settings: CloudSettings) -> Lifetimes:
        """The lifetimes a process was configured with."""
        return cls(settings.token_days, settings.token_max_days)

    def choose(self, days: int | None) -> timedelta:
        """The lifetime for a request that asks for `days` (None: the default)."""
        if days is None:
            return timedelta(days=self.default_days)
        if days > self.max_days:
            raise TokenError(f"expires_in_days may be at most {self.max_days} (TRYGGHEIM_TOKEN_MAX_DAYS)")
        return timedelta(days=days)


_COLUMNS = (
    "id, label, created_at, expires_at, last_used_at, revoked_at, (revoked_at IS NULL AND expires_at > now()) AS active"
)


async def issue(
    conn: AsyncConnection[Any],
    actor: audit.Actor,
    *,
    staff_id: UUID,
    municipality_id: UUID,
    label: str,
    lifetime: timedelta,
) -> tuple[Token, str]:
    """A new token for `staff_id` and its secret (shown once; only its digest is stored)."""
    secret = new_token()
    async with conn.transaction():
        cur = conn.cursor(row_factory=class_row(Token))
        await cur.execute(
            f"INSERT INTO api_tokens (token_hash, staff_id, label, expires_at) VALUES (%s, %s, %s, now() + %s) "  # noqa: S608
            f"RETURNING {_COLUMNS}",
            (token_digest(secret), staff_id, label, lifetime),
        )
        token = await cur.fetchone()
        assert token is not None
        resource = f"api_token/{token.id} staff/{staff_id} expires={token.expires_at:%Y-%m-%dT%H:%MZ}"
        await audit.append(conn, actor.record("token.create", resource, municipality_id=municipality_id))
    return token, secret


async def list_tokens(conn: AsyncConnection[Any], staff_id: UUID) -> list[Token]:
    """A staff member's tokens, newest first, active or not."""
    cur = conn.cursor(row_factory=class_row(Token))
    await cur.execute(
        f"SELECT {_COLUMNS} FROM api_tokens WHERE staff_id = %s ORDER BY created_at DESC LIMIT %s",  # noqa: S608
        (staff_id, LIST_LIMIT),
    )
    return await cur.fetchall()


async def revoke(
    conn: AsyncConnection[Any],
    actor: audit.Actor,
    *,
    staff_id: UUID,
    municipality_id: UUID,
    token_id: UUID,
    by: UUID | None,
) -> bool:
    """Revoke one of `staff_id`'s tokens now; False when they have no such token. Revoking a revoked token
    changes nothing and records nothing."""
    async with conn.transaction():
        cur = conn.cursor(row_factory=class_row(Token))
        await cur.execute(
            f"UPDATE api_tokens SET revoked_at = now(), revoked_by = %s "  # noqa: S608 - fixed columns
            f"WHERE id = %s AND staff_id = %s AND revoked_at IS NULL RETURNING {_COLUMNS}",
            (by, token_id, staff_id),
        )
        if await cur.fetchone() is None:
            found = await conn.execute("SELECT 1 FROM api_tokens WHERE id = %s AND staff_id = %s", (token_id, staff_id))
            return await found.fetchone() is not None
        resource = f"api_token/{token_id} staff/{staff_id}"
        await audit.append(conn, actor.record("token.revoke", resource, municipality_id=municipality_id))
        await authn.announce(conn, staff_id)
    return True
