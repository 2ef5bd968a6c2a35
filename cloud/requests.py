"""Request-scoped dependencies shared by the routes and the access policy that guards them: the pooled
connection of each pool, the correlation id and the paging of listings. Below both, so the policy layer need
not import a route module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from alerts.wording.formats import Reader
from common.i18n import negotiate, translations


async def staff_connection(request: Request) -> AsyncIterator[AsyncConnection[Any]]:
    """A connection of the pool that staff routes, the workers and the health checks share."""
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        yield conn


async def gateway_connection(request: Request) -> AsyncIterator[AsyncConnection[Any]]:
    """A connection of the pool only gateway routes use, so no amount of gateway traffic can starve a nurse,
    an escalation step or a health check (`route_check.enforce` refuses gateway routes on the staff pool)."""
    pool: AsyncConnectionPool = request.app.state.gateway_pool
    async with pool.connection() as conn:
        yield conn


# Function scope: the connection goes back to the pool when the handler returns, before the response is
# sent, so a long response (a server-sent-event stream) holds no database connection.
Conn = Annotated[AsyncConnection[Any], Depends(staff_connection, scope="function")]
GatewayConn = Annotated[AsyncConnection[Any], Depends(gateway_connection, scope="function")]


def correlation_id(request: Request) -> str:
    """The request's correlation id (set by middleware from X-Request-ID or freshly generated)."""
    return str(getattr(request.state, "correlation_id", "unknown"))


@dataclass(frozen=True)
class Page:
    """Which slice of a listing to answer: at most `limit` rows after skipping `offset`."""

    limit: int
    offset: int


def _page(
    limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0
) -> Page:
    return Page(limit, offset)


# The paging of the patient and home listings: the same bounds on every list a nurse's search pages through.
Paged = Annotated[Page, Depends(_page)]


def reader_of(request: Request) -> Reader:
    """Who reads the answer: the language negotiated from Accept-Language (bokmål first) and its catalogue."""
    language = negotiate(request.headers.get("accept-language"))
    return Reader(language, translations(language))


ReaderOf = Annotated[Reader, Depends(reader_of)]
