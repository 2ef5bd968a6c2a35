"""The one row a registry operation is about, or the refusal that it does not exist for the caller."""

from __future__ import annotations

from typing import Any, LiteralString

from psycopg import AsyncConnection
from psycopg.abc import Params
from psycopg.rows import dict_row

from cloud.registry.errors import NotFoundError


async def one_row(conn: AsyncConnection[Any], query: LiteralString, params: Params, missing: str) -> dict[str, Any]:
    """The row `query` selects, read by name; `NotFoundError(missing)` when it selects none."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query, params)
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError(missing)
    return row
