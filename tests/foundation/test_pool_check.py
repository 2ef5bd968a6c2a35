"""The pool's check on checkout: a healthy idle connection passes, one whose server side ended does not."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from cloud.db.pool import check_idle_connection, connect


async def _check_after_termination(admin_url: str) -> None:
    async with await connect(admin_url) as conn:
        await check_idle_connection(conn)
        await check_idle_connection(conn)
        pid = conn.info.backend_pid
        with psycopg.connect(admin_url, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))
            deadline = time.monotonic() + 10
            while other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
                assert time.monotonic() < deadline, "the backend did not end"
                await asyncio.sleep(0.02)
        with pytest.raises(psycopg.OperationalError):
            await check_idle_connection(conn)


def test_pool_check_passes_a_healthy_connection_and_refuses_a_terminated_one(pg_admin_url: str) -> None:
    asyncio.run(_check_after_termination(pg_admin_url))
