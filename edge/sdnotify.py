"""systemd's notification protocol: `READY=1` once the agent runs, `WATCHDOG=1` while it is healthy.

The protocol is one datagram per message to the AF_UNIX socket named by `NOTIFY_SOCKET` (a leading `@` is
the abstract namespace); `WATCHDOG_USEC` gives the watchdog timeout and `WATCHDOG_PID` the process it is
meant for (sd_notify(3), sd_watchdog_enabled(3)). A dozen lines, so no library.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable


def notify(message: str) -> bool:
    """Send one notification; False when not run by systemd (no NOTIFY_SOCKET) or the send failed."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    target = "\0" + address[1:] if address.startswith("@") else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(message.encode(), target)
    except OSError:
        return False
    return True


def watchdog_interval() -> float | None:
    """How often to send WATCHDOG=1 (half the timeout, as sd_watchdog_enabled(3) advises), or None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    with contextlib.suppress(ValueError):
        return int(usec) / 2_000_000 if int(usec) > 0 else None
    return None


async def keep_alive(healthy: Callable[[], bool], stop: asyncio.Event) -> None:
    """Send WATCHDOG=1 every half timeout while `healthy()`; when it is not, stay silent so systemd
    restarts the agent (a wedged event loop cannot send either)."""
    interval = watchdog_interval()
    if interval is None:
        return
    while not stop.is_set():
        if healthy():
            notify("WATCHDOG=1")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
