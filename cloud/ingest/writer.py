"""Group commit for ingest: the batches that arrive while this process is writing go in together.

A small batch costs its statements and round trips, not its rows (docs/benchmarks.md), so the batches that
queue up while the process's writers are busy are written by the next free writer in one transaction
(cloud/ingest/store.py). Nothing waits on purpose: a batch arriving while a writer is free starts one at once,
and a writer that finds the queue empty stops, so an alarm on a quiet system goes in as fast as before. Under
load, groups grow by themselves (the longer a group takes, the more batches arrive meanwhile), and each batch's
answer waits for its group's commit: an acknowledged reading is a committed reading.

A group holds each gateway once, at most `MAX_GROUP_BATCHES` batches and `MAX_GROUP_READINGS` readings (a
larger batch goes alone). If a group's transaction fails for something other than the database being
unreachable, its batches are written again one by one, so one batch's fault answers only that batch.
The writers bound what ingest holds of the gateway pool: at most `writers` connections per process.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

import psycopg
from psycopg.errors import DeadlockDetected, SerializationFailure, TransactionRollback
from psycopg_pool import AsyncConnectionPool

from cloud import telemetry
from cloud.ingest.known import BatchOutcome
from cloud.ingest.store import CredentialRefused, Upload, store_group

log = logging.getLogger(__name__)
MAX_GROUP_BATCHES = 64
MAX_GROUP_READINGS = 5000
_WORTH_A_RETRY = (TransactionRollback, DeadlockDetected, SerializationFailure)


@dataclass(frozen=True)
class _Queued:
    upload: Upload
    answer: asyncio.Future[BatchOutcome]


class IngestWriter:
    """The process's ingest writers over the gateway pool; `store` is all a route needs."""

    def __init__(self, pool: AsyncConnectionPool, writers: int) -> None:
        self.pool = pool
        self.writers = writers
        self._queue: deque[_Queued] = deque()
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def store(self, upload: Upload) -> BatchOutcome:
        """Store the upload with whatever else is waiting; its outcome once committed. Raises `CredentialRefused`
        (nothing of it stored), or the database's error."""
        answer: asyncio.Future[BatchOutcome] = asyncio.get_running_loop().create_future()
        self._queue.append(_Queued(upload, answer))
        if self._running < self.writers:
            self._running += 1
            task = asyncio.create_task(self._run())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await answer

    async def _run(self) -> None:
        try:
            while self._queue:
                group = self._take()
                if group:
                    await self._write(group)
        finally:
            self._running -= 1

    def _take(self) -> list[_Queued]:
        """The next group, in arrival order: a gateway's second batch and what does not fit wait for the next.
        A batch whose request has gone (its caller cancelled) is left out: the gateway sends it again."""
        group: list[_Queued] = []
        gateways = set()
        readings = 0
        later: list[_Queued] = []
        while self._queue and len(group) < MAX_GROUP_BATCHES:
            queued = self._queue.popleft()
            size = len(queued.upload.readings) + len(queued.upload.rejections)
            if queued.answer.done():
                continue
            if queued.upload.gateway_id in gateways or (group and readings + size > MAX_GROUP_READINGS):
                later.append(queued)
                continue
            group.append(queued)
            gateways.add(queued.upload.gateway_id)
            readings += size
        self._queue.extendleft(reversed(later))
        return group

    async def _write(self, group: list[_Queued]) -> None:
        try:
            async with self.pool.connection() as conn:
                results = await store_group(conn, [queued.upload for queued in group])
            telemetry.GROUP_BATCHES.observe(len(group))
        except Exception as exc:
            if len(group) == 1 or _unreachable(exc):
                for queued in group:
                    _fail(queued, exc)
                return
            log.warning("an ingest group failed; writing its %d batches one by one", len(group), exc_info=exc)
            for queued in group:
                await self._write([queued])
            return
        except BaseException:
            for queued in group:
                _fail(queued, RuntimeError("the ingest writer was stopped"))
            raise
        for queued, result in zip(group, results, strict=True):
            if not queued.answer.done():
                if isinstance(result, CredentialRefused):
                    queued.answer.set_exception(result)
                else:
                    queued.answer.set_result(result)


def _unreachable(exc: Exception) -> bool:
    """Whether the failure is the database's state, not a batch's content (writing one by one would not help):
    an operational error such as a lost connection, a pool timeout or a statement timeout; a deadlock or
    serialization failure is worth the retry."""
    return isinstance(exc, psycopg.OperationalError) and not isinstance(exc, _WORTH_A_RETRY)


def _fail(queued: _Queued, exc: BaseException) -> None:
    if not queued.answer.done():
        queued.answer.set_exception(exc)
