"""Live worklist events for server-sent-event clients, fanned out across cloud processes, and the end of a
client's stream when its access ends.

Whatever process changes an alert NOTIFYs `tryggheim_worklist` in its transaction (cloud.notify.in_app.push);
every process keeps one LISTEN connection and copies each event into the queues of its own SSE clients. Each
client's route filters events by the caller's scope, so nobody is told about a patient they may not see.

The same connection listens on `tryggheim_access` (cloud.access.authn.announce): sign-out, token revocation
and deactivation name the staff member there in their transaction, and the member's streams on every process
are woken to check their credential before they pass on anything else. A NOTIFY reaches every replica within
milliseconds of the commit and costs nothing while nobody's access changes; polling each stream's credential
every few seconds would cost a query per stream per interval and still end streams seconds late. A NOTIFY is
lost while a process has no LISTEN connection, so every stream is checked again after each reconnect, and
each stream also checks itself periodically (which catches expiry too).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from psycopg import Notify

from cloud.access.authn import ACCESS_CHANNEL
from cloud.db.listen import listen_forever
from cloud.notify.in_app import WORKLIST_CHANNEL

log = logging.getLogger(__name__)
QUEUE_SIZE = 1000
# Put into a client's queue to wake it for a credential check; never sent to the client.
RECHECK: dict[str, Any] = {"event": "recheck"}
# Put into a client's queue when the process stops: its stream ends, and the browser reconnects to a replica.
CLOSING: dict[str, Any] = {"event": "closing"}


@dataclass(eq=False)
class Subscription:
    """One SSE client: its events, and a flag raised when its credential must be checked before the next."""

    staff_id: UUID
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    recheck: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, event: dict[str, Any]) -> None:
        """Queue an event; a client that stopped reading loses the oldest event, never blocks the rest."""
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(event)

    def wake_to_check(self) -> None:
        """Have the client check its credential before it passes on anything else."""
        self.recheck.set()
        self.put(RECHECK)


class Broadcaster:
    """One LISTEN connection per process; `subscribe()` yields the events that arrive after it is called."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.listening = asyncio.Event()
        self._subscriptions: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        """Begin listening."""
        self._task = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        """Stop listening (the streams were ended by `end_streams` before uvicorn's shutdown)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def end_streams(self) -> None:
        """The process is stopping: end every client's stream now, and any opened from now on at once. uvicorn
        waits for open responses before it stops, and a stream would otherwise hold it for its whole
        graceful-shutdown timeout."""
        self._closing = True
        self._each(lambda subscription: subscription.put(CLOSING))

    @contextlib.asynccontextmanager
    async def subscribe(self, staff_id: UUID) -> AsyncIterator[Subscription]:
        """A subscription for one client of `staff_id`, removed when the client goes."""
        subscription = Subscription(staff_id)
        if self._closing:
            subscription.put(CLOSING)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    def _each(self, action: Callable[[Subscription], None], staff_id: str | None = None) -> None:
        for subscription in list(self._subscriptions):
            if staff_id is None or str(subscription.staff_id) == staff_id:
                action(subscription)

    async def _listen(self) -> None:
        await listen_forever(
            self.conninfo, [WORKLIST_CHANNEL, ACCESS_CHANNEL], name="tryggheim-worklist", listening=self.listening,
            on_notify=self._received, on_ready=self._reconnected,
        )  # fmt: skip

    async def _reconnected(self) -> None:
        # Access announcements made while this process was not listening are lost: check everyone.
        self._each(Subscription.wake_to_check)

    def _received(self, note: Notify) -> None:
        if note.channel == ACCESS_CHANNEL:
            self._each(Subscription.wake_to_check, note.payload)
            return
        try:
            event = json.loads(note.payload)
        except ValueError:
            log.warning("worklist event is not JSON", extra={"payload": note.payload[:200]})
            return
        self._each(lambda subscription: subscription.put(event))
