"""A dedicated LISTEN connection that outlives database restarts.

The evaluation worker, the escalation engine and the live worklist each keep one per process. A NOTIFY is
only ever a wake-up: whatever it announces is also in a table, so `on_ready` runs after every (re)connect to
pick up what was notified while nobody listened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import psycopg
from psycopg import Notify

from cloud.db.pool import connect

log = logging.getLogger(__name__)
RETRY_S = 2.0


async def listen_forever(
    conninfo: str,
    channels: Sequence[str],
    *,
    name: str,
    listening: asyncio.Event,
    on_notify: Callable[[Notify], None],
    on_ready: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """LISTEN on `channels` until cancelled, reconnecting every `RETRY_S` while the database is away;
    `listening` is set while the connection is up."""
    while True:
        try:
            async with await connect(conninfo, application_name=name) as conn:
                for channel in channels:
                    await conn.execute(f"LISTEN {channel}")
                listening.set()
                if on_ready is not None:
                    await on_ready()
                async for note in conn.notifies():
                    on_notify(note)
        except (psycopg.Error, OSError):
            log.warning("%s lost its LISTEN connection; reconnecting", name, exc_info=True)
        listening.clear()
        await asyncio.sleep(RETRY_S)
