"""Free TCP ports for the servers the demo, the benchmarks and the tests start on this machine.

A port is chosen here and bound later, often by another process, so it must stay free in between. The kernel
hands the local ports of outgoing connections from its ephemeral range (`ip_local_port_range`, 32768-60999 by
default), and under load (a test run's thousands of database connections) any free port in that range may be
taken by one before the server binds it: two demo tests once failed "port ... is taken" that way. So ports come
from below that range, at random, each checked free.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

# The lowest port handed out: below are the common fixed ports of development machines' services.
LOWEST = 20000
_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing is bound to right now, outside the range outgoing connections use
    (where the range leaves no room below it: any port the kernel finds free)."""
    highest = _first_ephemeral() - 1
    if highest - LOWEST >= 1000:
        for _ in range(200):
            port = random.randint(LOWEST, highest)  # noqa: S311 - spreading parallel callers, not a secret
            if _free(port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _first_ephemeral() -> int:
    """The lowest local port the kernel gives outgoing connections (Linux; elsewhere IANA's 49152)."""
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152


def _free(port: int) -> bool:
    # Without SO_REUSEADDR: a port with connections still in TIME_WAIT counts as taken too.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
