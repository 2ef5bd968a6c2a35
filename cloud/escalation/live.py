"""Live worklist events for server-sent-event clients, fanned out across cloud processes.

Whatever process changes an alert NOTIFYs `tryggheim_worklist` in its transaction (cloud.notify.in_app.push);
every process keeps one LISTEN connection and copies each event into the queues of its own SSE clients. Each
client's route filters events by the caller's scope, so nobody is told about a patient they may not see.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from psycopg import Notify

from cloud.db.listen import listen_forever
from cloud.notify.in_app import WORKLIST_CHANNEL

log = logging.getLogger(__name__)
QUEUE_SIZE = 1000


class Broadcaster:
    """One LISTEN connection per process; `subscribe()` yields the events that arrive after it is called."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.listening = asyncio.Event()
        self._queues: set[asyncio.Queue[dict[str, Any]]] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Begin listening."""
        self._task = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        """Stop listening; subscribers see the stream end."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """A queue of events for one client, removed when the client goes."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    def _publish(self, event: dict[str, Any]) -> None:
        for queue in list(self._queues):
            if queue.full():  # a client that stopped reading loses the oldest event, never blocks the rest
                queue.get_nowait()
            queue.put_nowait(event)

    async def _listen(self) -> None:
        await listen_forever(
            self.conninfo, [WORKLIST_CHANNEL], name="tryggheim-worklist", listening=self.listening,
            on_notify=self._received,
        )  # fmt: skip

    def _received(self, note: Notify) -> None:
        try:
            self._publish(json.loads(note.payload))
        except ValueError:
            log.warning("worklist event is not JSON", extra={"payload": note.payload[:200]})
