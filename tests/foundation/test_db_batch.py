"""Statements in one round trip (cloud/db/batch.py): the same values as `cursor.execute`, rows by name, the
server's error class for a refused statement with nothing after it applied, each statement prepared once per
connection (and not at all when asked), and a wait cut short closes the connection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from cloud.db.batch import GENERIC_PLANS, Query, run_batch
from cloud.db.pool import connect, make_pool

_VALUES = (
    "SELECT %b::uuid[] AS ids, %b::int8[] AS seqs, %s::text AS label, %b::timestamptz AS at, %b::jsonb AS context, "
    "%b::float8[] AS empty, NULL::int AS nothing, '50%%'::text AS percent"
)


def _run(admin_url: str, body: Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]]) -> None:
    async def main() -> None:
        async with await connect(admin_url) as conn:
            await body(conn)

    asyncio.run(main())


def test_values_and_names_match_what_execute_reads(pg_admin_url: str) -> None:
    params = (
        [uuid.uuid4(), uuid.uuid4()], [1, 2**40], "vekt", datetime(2026, 12, 4, 9, 30, tzinfo=UTC),
        Jsonb({"posture": "sitting"}), [],
    )  # fmt: skip

    async def body(conn: psycopg.AsyncConnection[Any]) -> None:
        cursor = conn.cursor(row_factory=dict_row)
        expected = await (await cursor.execute(_VALUES, params)).fetchall()
        for _ in range(3):  # prepared on the first run, reused after
            (rows,) = await run_batch(conn, [Query(_VALUES, params)])
            assert rows == expected
        named = "SELECT %(n)b::int AS a, %(n)b::int + %(m)s::int AS b"
        assert await run_batch(conn, [Query(named, {"n": 2, "m": 3})]) == [[{"a": 2, "b": 5}]]

    _run(pg_admin_url, body)


def test_a_refused_statement_raises_its_error_and_nothing_after_it_is_applied(pg_admin_url: str) -> None:
    table = f"batch_{uuid.uuid4().hex[:8]}"

    async def body(conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(f"CREATE TEMPORARY TABLE {table} (id int PRIMARY KEY)")
        insert = Query(f"INSERT INTO {table} (id) VALUES (%b)", (1,))  # noqa: S608 - the test's own table
        await run_batch(conn, [insert])
        later = Query(f"INSERT INTO {table} (id) VALUES (%b)", (2,))  # noqa: S608 - the test's own table
        for _ in range(2):  # the second time, the statements prepared in the failed batch are reused
            with pytest.raises(psycopg.errors.UniqueViolation):
                await run_batch(conn, [Query("BEGIN"), insert, later, Query("COMMIT")])
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
            await conn.execute("ROLLBACK")
        (rows,) = await run_batch(conn, [Query(f"SELECT id FROM {table} ORDER BY id")])  # noqa: S608
        assert rows == [{"id": 1}]

    _run(pg_admin_url, body)


def test_statements_are_prepared_once_per_connection_and_run_generic_plans_when_asked(pg_admin_url: str) -> None:
    marker = uuid.uuid4().hex
    sql = f"SELECT n FROM unnest(%b::int[]) AS n WHERE '{marker}' <> ''"  # noqa: S608 - fixed text

    async def body(conn: psycopg.AsyncConnection[Any]) -> None:
        for n in range(3):  # the server's own choice: custom plans for the first five runs
            await run_batch(conn, [Query(sql, ([n, n + 1],))])
        for n in range(2):
            answers = await run_batch(conn, [Query("BEGIN"), GENERIC_PLANS, Query(sql, ([n],)), Query("COMMIT")])
            assert answers[1:3] == [[], [{"n": n}]]  # the settings come back with no row to load
        cursor = await conn.execute(
            "SELECT generic_plans, custom_plans, current_setting('plan_cache_mode') AS mode "
            "FROM pg_prepared_statements WHERE statement LIKE %s",
            (f"%{marker}%",),
        )
        # One statement on the connection; the generic plans only inside the transactions that asked for them.
        assert await cursor.fetchall() == [(2, 3, "auto")]

    _run(pg_admin_url, body)


def test_a_wait_cut_short_closes_the_connection(pg_admin_url: str) -> None:
    async def body(conn: psycopg.AsyncConnection[Any]) -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(run_batch(conn, [Query("SELECT pg_sleep(5)")]), 0.2)
        assert conn.closed

    _run(pg_admin_url, body)


def test_a_transaction_psycopg_rolls_back_leaves_the_batch_statements_prepared(pg_admin_url: str) -> None:
    # psycopg answers a ROLLBACK by deallocating every prepared statement of the session, ours included, once it
    # has prepared one of its own (a statement executed five times); CI saw "prepared statement
    # tryggheim_batch_0 does not exist" on every evaluation after one had failed. The pool's connections.
    sql = "SELECT %b::int8 + 1 AS n"

    async def main() -> None:
        async with make_pool(pg_admin_url, min_size=1, max_size=1, timeout_s=5) as pool, pool.connection() as conn:
            assert await run_batch(conn, [Query(sql, (1,))]) == [[{"n": 2}]]
            for _ in range(6):
                await conn.execute("SELECT 1")
            with pytest.raises(ZeroDivisionError):
                async with conn.transaction():
                    await conn.execute("SELECT 2")
                    raise ZeroDivisionError
            assert await run_batch(conn, [Query(sql, (2,))]) == [[{"n": 3}]]

    asyncio.run(main())


def test_a_connection_where_psycopg_prepares_too_is_refused(pg_admin_url: str) -> None:
    async def main() -> None:
        async with await connect(pg_admin_url, prepare_threshold=5) as conn:  # psycopg's default
            with pytest.raises(psycopg.ProgrammingError, match="prepare_threshold=None"):
                await run_batch(conn, [Query("SELECT 1")])

    asyncio.run(main())


def test_statements_deallocated_in_sql_are_prepared_again_after_one_failed_batch(pg_admin_url: str) -> None:
    async def body(conn: psycopg.AsyncConnection[Any]) -> None:
        assert await run_batch(conn, [Query("SELECT %b::int8 AS n", (1,))]) == [[{"n": 1}]]
        await conn.execute("DEALLOCATE ALL")
        with pytest.raises(psycopg.errors.InvalidSqlStatementName):
            await run_batch(conn, [Query("SELECT %b::int8 AS n", (2,))])
        assert await run_batch(conn, [Query("SELECT %b::int8 AS n", (3,))]) == [[{"n": 3}]]

    _run(pg_admin_url, body)
