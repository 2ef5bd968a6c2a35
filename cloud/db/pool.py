"""The service's connection pool (psycopg 3, async), always as the runtime role."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool


def make_pool(url: str, *, min_size: int, max_size: int, timeout_s: float) -> AsyncConnectionPool:
    """A closed pool; the application's lifespan opens and closes it."""
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout_s,
        open=False,
        # A connection broken by a database restart is replaced instead of failing a request.
        check=AsyncConnectionPool.check_connection,
        # psycopg_pool backs off exponentially while the database is down and only starts over after
        # `reconnect_timeout`; 10 s caps that cycle, so service resumes within seconds of the database
        # coming back instead of after a long back-off.
        reconnect_timeout=10,
        # Autocommit: each unit of work opens its own explicit transaction (audit records must commit
        # before the response is produced, independently of what the handler does next).
        kwargs={
            "connect_timeout": max(1, int(timeout_s)),
            "application_name": "tryggheim-cloud",
            "autocommit": True,
        },
    )
