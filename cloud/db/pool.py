"""The service's connection pool (psycopg 3, async), always as the runtime role."""

from __future__ import annotations

import json
import select
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import orjson
from psycopg import AsyncConnection
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool


def _load_json(data: bytes | bytearray | memoryview | str) -> Any:
    """jsonb from the database as Python values: orjson, about five times faster than the standard library on
    the alerts' explanations (a sixth of a 500-alert worklist's render), and the standard library for what
    orjson refuses (integers beyond 64 bits, which a quarantined reading may hold)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(bytes(data) if isinstance(data, memoryview) else data)


set_json_loads(_load_json)


async def check_idle_connection(conn: AsyncConnection[Any]) -> None:
    """Raise if a connection leaving the pool is dead, without a round trip when it is plainly healthy.

    An idle connection has nothing to read: a server that shut down or restarted has sent its termination
    notice and closed the socket, which makes it readable. Only then is the pool's empty-query check run
    (which raises on a dead connection). Checking every checkout with a query cost one round trip per
    request, a tenth of a small ingest batch's database time.
    """
    if conn.closed or conn.broken:
        raise ConnectionError("the connection is closed")
    readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    if readable:
        await AsyncConnectionPool.check_connection(conn)


# How the service's connections are made; a command, benchmark or test working alone connects the same way.
# The batched statements (cloud/db/batch.py) must be a connection's only prepared ones: psycopg, once it has
# prepared one of its own, deallocates every prepared statement of the session at each rollback.
SESSION_SETTINGS: Mapping[str, Any] = MappingProxyType({"autocommit": True, "prepare_threshold": None})


async def connect(url: str, **settings: Any) -> AsyncConnection[Any]:
    """One connection as the pool makes them (`SESSION_SETTINGS`, unless `settings` says otherwise)."""
    return await AsyncConnection.connect(url, **{**SESSION_SETTINGS, **settings})


def make_pool(
    url: str, *, min_size: int, max_size: int, timeout_s: float, name: str = "tryggheim-cloud"
) -> AsyncConnectionPool:
    """A closed pool; the application's lifespan opens and closes it. `name` is the connections'
    `application_name`, so `pg_stat_activity` tells the staff pool from the gateway pool."""
    return AsyncConnectionPool(
        url,
        name=name,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout_s,
        open=False,
        # A connection broken by a database restart is replaced instead of failing a request.
        check=check_idle_connection,
        # psycopg_pool backs off exponentially while the database is down and only starts over after
        # `reconnect_timeout`; 10 s caps that cycle, so service resumes within seconds of the database
        # coming back instead of after a long back-off.
        reconnect_timeout=10,
        # Autocommit: each unit of work opens its own explicit transaction (audit records must commit
        # before the response is produced, independently of what the handler does next).
        kwargs={
            "connect_timeout": max(1, int(timeout_s)),
            "application_name": name,
            **SESSION_SETTINGS,
        },
    )
