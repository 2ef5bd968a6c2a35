"""Request-scoped dependencies shared by routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool


async def _connection(request: Request) -> AsyncIterator[AsyncConnection[Any]]:
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        yield conn


# Function scope: the connection goes back to the pool when the handler returns, before the response is
# sent, so a long response (a server-sent-event stream) holds no database connection.
Conn = Annotated[AsyncConnection[Any], Depends(_connection, scope="function")]


def correlation_id(request: Request) -> str:
    """The request's correlation id (set by middleware from X-Request-ID or freshly generated)."""
    return str(getattr(request.state, "correlation_id", "unknown"))
