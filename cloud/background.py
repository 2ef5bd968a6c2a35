"""Stopping a process's background work (a scheduler and its loop tasks) within a bounded time."""

from __future__ import annotations

import asyncio
import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

STOP_TIMEOUT_S = 10.0
log = logging.getLogger(__name__)


async def stop_background(scheduler: AsyncIOScheduler | None, tasks: list[asyncio.Task[None]], what: str) -> None:
    """Shut the scheduler down and cancel the tasks; wait for them at most STOP_TIMEOUT_S.

    A cancelled query is cancelled on the server too (psycopg waits up to 5 s for that); a stuck task must
    never hold up the process's shutdown beyond that, so it is logged and left behind.
    """
    if scheduler is not None:
        scheduler.shutdown(wait=False)
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, stuck = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
    if stuck:
        log.error("%s tasks did not stop in time", what, extra={"tasks": len(stuck)})
