"""The evaluation worker of one cloud process: drain on NOTIFY or poll, sweep on a schedule.

Every replica runs one. A dedicated connection LISTENs on `tryggheim_alarm` (ingest notifies it in the
transaction that stores an alarm-class reading), which wakes the drain at once; otherwise the drain runs
every `poll_s` seconds, which also picks up rows a dead process left behind. The drain takes a group of
patients per transaction (cloud/evaluation/drain.py); a NOTIFY that arrives while a group is being evaluated
also starts a drain of alarm rows only on a second connection, so an alarm never waits for a group.
APScheduler 3 (in-memory job store, one per process, never shared) ticks the sweep that queues the
clock-driven rules; the sweep itself is safe on all replicas at once (cloud.evaluation.queue.enqueue_sweep).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import UTC, datetime

import psycopg
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from psycopg_pool import AsyncConnectionPool

from cloud.background import stop_background
from cloud.db.listen import listen_forever
from cloud.evaluation.baselines import DEFAULT_TRIAL_DAYS, propose_due
from cloud.evaluation.drain import GROUP_SIZE, evaluate_group
from cloud.evaluation.queue import enqueue_sweep
from cloud.ingest.store import ALARM_CHANNEL

log = logging.getLogger(__name__)
BASELINE_EVERY_S = 3600.0  # proposals are due by the day; an hourly look is plenty


class EvaluationRunner:
    """Start with `start()` inside the running event loop; `stop()` cancels everything it started."""

    def __init__(
        self, pool: AsyncConnectionPool, *, poll_s: float = 5.0, sweep_s: float = 60.0,
        trial_days: int = DEFAULT_TRIAL_DAYS, group_size: int = GROUP_SIZE,
    ) -> None:  # fmt: skip
        self.pool = pool
        self.group_size = group_size
        self.trial_days = trial_days
        self.poll_s = poll_s
        self.sweep_s = sweep_s
        self.wakeups: Counter[str] = Counter()  # why the drain ran: "notify", "poll", "sweep", "start"
        self.evaluated = 0
        self.listening = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._draining = False
        self._alarms: asyncio.Task[None] | None = None
        self._scheduler: AsyncIOScheduler | None = None

    async def start(self) -> None:
        """Begin listening, draining and sweeping."""
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._drain_loop())]
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_job(
            self.sweep, "interval", seconds=self.sweep_s, next_run_time=datetime.now(UTC), coalesce=True,
            max_instances=1, misfire_grace_time=int(self.sweep_s),
        )  # fmt: skip
        self._scheduler.add_job(
            self.propose_baselines, "interval", seconds=BASELINE_EVERY_S, next_run_time=datetime.now(UTC),
            coalesce=True, max_instances=1, misfire_grace_time=int(BASELINE_EVERY_S),
        )  # fmt: skip
        self._scheduler.start()

    async def stop(self) -> None:
        """Stop the scheduler and cancel the loops (an evaluation in flight rolls back and is retried)."""
        alarms = [self._alarms] if self._alarms is not None else []
        await stop_background(self._scheduler, [*self._tasks, *alarms], "evaluation worker")

    def wake(self, reason: str) -> None:
        """Ask the drain loop to run now."""
        self.wakeups[reason] += 1
        self._wake.set()

    async def sweep(self) -> None:
        """Queue the clock-driven rules of every active patient (one replica per tick), then drain."""
        try:
            queued = await enqueue_sweep(self.pool)
        except (psycopg.Error, OSError):
            log.exception("evaluation sweep failed; the next tick retries")
            return
        if queued:
            self.wake("sweep")

    async def propose_baselines(self) -> None:
        """Propose personal limits where a trial period has ended or a review is due (one proposal waits per
        patient, whichever replica makes it)."""
        try:
            await propose_due(self.pool, trial_days=self.trial_days)
        except (psycopg.Error, OSError):
            log.exception("baseline proposals failed; the next tick retries")

    async def drain(self) -> int:
        """Evaluate a group of patients at a time until nothing is claimable; returns the patient evaluations."""
        done = 0
        self._draining = True
        try:
            while (evaluated := await evaluate_group(self.pool, self.group_size)) is not None:
                done += evaluated
                self.evaluated += evaluated
        finally:
            self._draining = False
        return done

    def _alarm_notified(self) -> None:
        """An alarm row was queued: the drain loop takes it next, and if a group is being evaluated now, a
        second connection takes it at once so that it does not wait for the group's commit."""
        self.wake("notify")
        if self._draining and (self._alarms is None or self._alarms.done()):
            self._alarms = asyncio.create_task(self._drain_alarms())

    async def _drain_alarms(self) -> None:
        try:
            while (evaluated := await evaluate_group(self.pool, self.group_size, alarm_only=True)) is not None:
                self.evaluated += evaluated
        except Exception:  # the rows stay queued: the drain loop takes them
            log.exception("alarm drain failed")

    async def _drain_loop(self) -> None:
        reason = "start"
        while True:
            self._wake.clear()
            try:
                await self.drain()
            except Exception:  # the database may be down: keep the loop alive, the rows stay queued
                log.exception("evaluation drain failed", extra={"wakeup": reason})
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
                reason = "signal"
            except TimeoutError:
                self.wakeups["poll"] += 1
                reason = "poll"

    async def _listen(self) -> None:
        conninfo = self.pool.conninfo
        if not isinstance(conninfo, str):
            raise TypeError("the evaluation runner needs a pool built from a connection string")
        await listen_forever(
            conninfo, [ALARM_CHANNEL], name="tryggheim-listen", listening=self.listening,
            on_notify=lambda _: self._alarm_notified(), on_ready=self._after_listening,
        )  # fmt: skip

    async def _after_listening(self) -> None:
        # Whatever was notified while nobody listened is still queued: drain once now.
        self.wake("listen")
