"""Waiting in the agent's loops: every wait also ends when the agent is told to stop, so that SIGTERM is
answered within the agent's grace (edge/agent.py) whatever a loop was waiting for."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def unless_stopped(awaitable: Awaitable[T], stop: asyncio.Event, timeout_s: float) -> T | None:
    """What `awaitable` gives, or None when `stop` is set or `timeout_s` passes first (it is then cancelled:
    a queue's `get` cancelled before it returned leaves the item in the queue)."""
    waiting = asyncio.ensure_future(awaitable)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((waiting, stopping), timeout=max(0.0, timeout_s), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        waiting.cancel()  # nothing, once it is done
    return waiting.result() if waiting.done() and not waiting.cancelled() else None
