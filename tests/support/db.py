"""Small database helpers shared by the test packages."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from psycopg.rows import dict_row

from cloud.db.pool import make_pool
from cloud.evaluation.runner import EvaluationRunner


def rows(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of a query as the runtime role."""
    with psycopg.connect(url) as conn:
        return conn.execute(query, args).fetchall()  # type: ignore[arg-type]


def named_rows(url: str, query: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of a query as the runtime role, each by column name."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(query, args).fetchall()  # type: ignore[arg-type]


def drain(url: str) -> int:
    """Run one evaluation worker in this process until the queue is empty; returns patients evaluated."""

    async def run() -> int:
        pool = make_pool(url, min_size=1, max_size=2, timeout_s=5)
        await pool.open()
        try:
            return await EvaluationRunner(pool).drain()
        finally:
            await pool.close()

    return asyncio.run(run())
