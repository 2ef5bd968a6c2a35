"""The interoperability worker of one cloud process: VKP journaling and PMD sharing on a tick.

Every replica runs one (APScheduler 3, in-memory, one job per loop). Work is shared through the database: a
journal row or a PMD retry is sent by whichever process locks it first, and the sweep's insert is idempotent.
The VKP loop runs every `interop_tick_s` (a nurse's closed alert reaches the record within seconds); once an
hour its sweep looks back a week instead of an hour, so an alert resolved while every process was down is
still journaled. PMD sharing runs every minute: it is not urgent, and its settling time keeps it behind ingest.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from psycopg_pool import AsyncConnectionPool

from cloud import telemetry
from cloud.background import stop_background
from cloud.config import CloudSettings
from cloud.interop import status
from cloud.interop.pmd import service as pmd
from cloud.interop.vkp import service as vkp

log = logging.getLogger(__name__)
RECENT = timedelta(hours=1)
CATCH_UP = timedelta(days=7)
CATCH_UP_EVERY_S = 3600
PMD_EVERY_TICKS = 12  # PMD every minute with the default 5 s tick: sharing is not urgent
ROUND_LIMIT = 100  # rows sent per loop and tick, so one loop never holds the process for long


class InteropRunner:
    """Start with `start()` inside the running event loop; `stop()` cancels everything it started."""

    def __init__(self, pool: AsyncConnectionPool, settings: CloudSettings) -> None:
        self.pool = pool
        self.settings = settings
        self.process = f"{socket.gethostname()}:{os.getpid()}"
        self._http = httpx.AsyncClient()
        self.backoff_s = settings.interop_backoff_s
        self._scheduler: AsyncIOScheduler | None = None

    async def start(self) -> None:
        """Begin journaling and sharing."""
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        now = datetime.now(UTC)
        jobs: list[tuple[Callable[[], Awaitable[None]], float]] = [
            (self.journal, self.settings.interop_tick_s),
            (self.catch_up, CATCH_UP_EVERY_S),
            (self.share, self.settings.interop_tick_s * PMD_EVERY_TICKS),
        ]
        for job, every in jobs:
            self._scheduler.add_job(
                job, "interval", seconds=every, next_run_time=now, coalesce=True, max_instances=1,
                misfire_grace_time=max(1, int(every)),
            )  # fmt: skip
        self._scheduler.start()

    async def stop(self) -> None:
        """Stop the scheduler (a send in flight rolls back and is sent again later) and close the HTTP client."""
        await stop_background(self._scheduler, [], "interop")
        await self._http.aclose()

    async def journal(self, window: timedelta = RECENT) -> None:
        """One VKP round: sweep recently resolved alerts, then send what is due."""
        try:
            async with self.pool.connection() as conn:
                await vkp.sweep(conn, now=datetime.now(UTC), window=window)
                for kind, count in (await status.backlog(conn)).items():
                    telemetry.INTEROP_BACKLOG.labels(kind).set(count)
            for _ in range(ROUND_LIMIT):
                if (
                    await vkp.deliver(
                        self.pool, self._http, now=datetime.now(UTC), process=self.process, backoff_s=self.backoff_s
                    )
                    is None
                ):
                    break
        except Exception:  # the database or a peer may be down: the next tick tries again
            log.exception("VKP journaling round failed")

    async def catch_up(self) -> None:
        """The hourly sweep over the last week."""
        await self.journal(CATCH_UP)

    async def share(self) -> None:
        """One PMD round: new measurements of consenting patients, then refused entries one by one."""
        try:
            await pmd.share_new(self.pool, self._http, now=datetime.now(UTC), backoff_s=self.backoff_s)
            for _ in range(ROUND_LIMIT):
                if not await pmd.retry_one(self.pool, self._http, now=datetime.now(UTC), backoff_s=self.backoff_s):
                    break
        except Exception:
            log.exception("PMD sharing round failed")
