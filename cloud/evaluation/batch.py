"""Reads sent together: several statements in one pipeline, so they cost one round trip and one wake-up.

The evaluation of a group of patients (cloud/evaluation/drain.py) reads everything that does not depend on an
earlier answer in one go: each read is a statement with its parameters, each answer its rows by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row


@dataclass(frozen=True)
class Read:
    """One statement and its parameters."""

    sql: str
    params: Sequence[Any] | dict[str, Any]


async def fetch_all(conn: AsyncConnection[Any], reads: Sequence[Read]) -> list[list[dict[str, Any]]]:
    """Each read's rows (by name), the statements sent in one pipeline and answered in order."""
    async with conn.pipeline():
        cursors = []
        for read in reads:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(read.sql, read.params)
            cursors.append(cur)
        return [await cur.fetchall() for cur in cursors]
