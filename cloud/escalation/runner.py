"""The escalation worker of one cloud process: step loop and outbox loop, woken by NOTIFY or a tick.

Every replica runs one. A dedicated connection LISTENs on `tryggheim_escalation` (an alert opened: evaluation
notifies in its transaction, so a safety alarm's first step runs at once) and `tryggheim_outbox` (a step wrote
a message to deliver). APScheduler 3 (in-memory job store, one per process) ticks both loops every
`escalation_tick_s`, which also picks up what a dead process left behind and what fell due by the clock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from psycopg import Notify
from psycopg_pool import AsyncConnectionPool

from alerts.escalation import Fire
from cloud.background import stop_background
from cloud.config import CloudSettings
from cloud.db.listen import listen_forever
from cloud.escalation.auditor import Auditor
from cloud.escalation.engine import OUTBOX_CHANNEL, earliest_due, step_next
from cloud.escalation.inhibition import recheck
from cloud.escalation.outbox import OutboxSettings, deliver_next
from cloud.escalation.policies import ESCALATION_CHANNEL
from cloud.escalation.ratelimit import RateLimits, send_notices
from cloud.notify import Channel
from cloud.notify.email import EmailChannel, SmtpSettings
from cloud.notify.sealing import SecretBox
from cloud.notify.sms import SmsChannel
from cloud.notify.webhook import WebhookChannel

log = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_S = 10.0
DELIVERY_WORKERS = 4  # concurrent deliveries per process (the pool holds 10 connections by default)
# A chain due sooner than the next tick is woken by a timer, but never sooner than this after the last look
# (another process may hold the due alert's lock for a moment: no busy loop while it does).
MIN_TIMER_S = 0.02


def rate_limits(settings: CloudSettings) -> RateLimits:
    """The rate limits the settings configure (the same in every process)."""
    secret = settings.ops_webhook_secret
    return RateLimits(
        window_s=settings.notify_rate_window_s,
        per_channel={
            "email": settings.notify_rate_email,
            "webhook": settings.notify_rate_webhook,
            "sms": settings.notify_rate_sms,
        },
        ops_webhook_url=settings.ops_webhook_url,
        ops_webhook_secret=secret.get_secret_value() if secret else None,
    )


class EscalationRunner:
    """Start with `start()` inside the running event loop; `stop()` cancels everything it started."""

    def __init__(
        self, pool: AsyncConnectionPool, settings: CloudSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.clock = clock
        self.process = f"{socket.gethostname()}:{os.getpid()}"
        self.outbox = OutboxSettings(
            max_attempts=settings.notify_max_attempts,
            backoff_s=settings.notify_backoff_s,
            public_url=settings.public_url,
            process=self.process,
            box=SecretBox(settings.secrets_key.get_secret_value() if settings.secrets_key else None),
            limits=rate_limits(settings),
        )
        self.wakeups: Counter[str] = Counter()
        self.listening = asyncio.Event()
        self._steps = asyncio.Event()
        self._deliveries = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._scheduler: AsyncIOScheduler | None = None
        self._timer: asyncio.TimerHandle | None = None
        # Without TCP_NODELAY a webhook's body segment can wait for the receiver's delayed ACK (about 40 ms).
        nodelay = httpx.AsyncHTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        self._http = httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S, transport=nodelay)
        self.channels: dict[str, Channel] = {"webhook": WebhookChannel(self._http),
                                             "sms": SmsChannel(self._http, settings.public_url)}  # fmt: skip
        self.email: EmailChannel | None = None
        ops_secret = settings.ops_webhook_secret.get_secret_value() if settings.ops_webhook_secret else None
        self.auditor = Auditor(
            pool, self._http, tick_s=settings.escalation_tick_s, process=self.process,
            url=settings.ops_webhook_url, secret=ops_secret, clock=clock,
        )  # fmt: skip
        if settings.smtp_host:
            self.channels["email"] = self.email = EmailChannel(
                SmtpSettings(
                    host=settings.smtp_host,
                    port=settings.smtp_port,
                    sender=settings.smtp_from,
                    starttls=settings.smtp_starttls,
                    username=settings.smtp_username,
                    password=settings.smtp_password,
                )
            )

    async def start(self) -> None:
        """Begin listening, stepping and delivering."""
        self._tasks = [
            asyncio.create_task(self._listen()),
            asyncio.create_task(self._loop(self._steps, self.run_steps, "steps")),
            asyncio.create_task(self._loop(self._deliveries, self.run_deliveries, "deliveries")),
        ]
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_job(
            self.tick, "interval", seconds=self.settings.escalation_tick_s, next_run_time=datetime.now(UTC),
            coalesce=True, max_instances=1, misfire_grace_time=max(1, int(self.settings.escalation_tick_s)),
        )  # fmt: skip
        self._scheduler.add_job(
            self._audit, "interval", seconds=self.settings.escalation_tick_s, coalesce=True, max_instances=1,
        )  # fmt: skip
        self._scheduler.start()

    async def stop(self) -> None:
        """Stop the scheduler and the loops (a step or delivery in flight rolls back and runs again later)."""
        if self._timer is not None:
            self._timer.cancel()
        await stop_background(self._scheduler, self._tasks, "escalation")
        await self._http.aclose()

    async def tick(self) -> None:
        """The scheduled wake-up of both loops."""
        self.wakeups["tick"] += 1
        self._steps.set()
        self._deliveries.set()

    async def _audit(self) -> None:
        try:
            await recheck(self.pool, self.clock())
            await self.auditor.check()
        except Exception:  # the database may be down: the next tick checks again
            log.exception("escalation audit failed")

    async def run_steps(self) -> int:
        """Run every chain that is due now; returns the number of alerts looked at."""
        done = 0
        while result := await step_next(self.pool, self.clock(), self.settings.escalation_minute_s, self.process):
            done += 1
            if isinstance(result.action, Fire):
                self._deliveries.set()
        await self._arm()
        return done

    async def _arm(self) -> None:
        """Wake the step loop when the soonest chain falls due, if that comes before the next tick: a step due
        between ticks (an alarm's e-mail a moment after its webhook) must not wait for the tick."""
        due = await earliest_due(self.pool)
        if due is None or due - self.clock() >= self.settings.escalation_tick_s:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(max(MIN_TIMER_S, due - self.clock()), self._steps.set)

    async def run_deliveries(self) -> int:
        """Attempt every deliverable notification once, a few at a time (each holds its row lock while it
        sends, so a slow receiver does not hold up the others); returns the attempts made."""

        async def drain() -> int:
            done = 0
            while await deliver_next(self.pool, self.channels, self.clock(), self.outbox) is not None:
                done += 1
            return done

        done = sum(await asyncio.gather(*(drain() for _ in range(DELIVERY_WORKERS))))
        await send_notices(self.pool, self.email, self._http, self.outbox.limits)
        return done

    async def _loop(self, wake: asyncio.Event, work: Callable[[], Awaitable[int]], name: str) -> None:
        while True:
            await wake.wait()
            wake.clear()
            try:
                await work()
            except Exception:  # the database may be down: the rows stay due and the next wake-up retries
                log.exception("escalation %s failed", name)

    async def _listen(self) -> None:
        conninfo = self.pool.conninfo
        if not isinstance(conninfo, str):
            raise TypeError("the escalation runner needs a pool built from a connection string")
        await listen_forever(
            conninfo, [ESCALATION_CHANNEL, OUTBOX_CHANNEL], name="tryggheim-escalation", listening=self.listening,
            on_notify=self._notified, on_ready=self.tick,
        )  # fmt: skip

    def _notified(self, note: Notify) -> None:
        self.wakeups[note.channel] += 1
        (self._steps if note.channel == ESCALATION_CHANNEL else self._deliveries).set()
