"""Free TCP ports for the servers the demo, the benchmarks and the tests start on this machine.

A port is chosen here and bound later, often by another process, so it must stay free in between:
- Two callers must not be handed the same port. Each port handed out is noted, with the time, in a small file
  under the temporary directory that every process of the machine shares (kept under a lock), and not handed
  out again for ten minutes, whoever asks. (Two demo tests once failed to start in a CI run, with exit status
  2 and no output, as the demo does when its port is taken: chosen by the kernel, a port could be handed to two
  callers.)
- An outgoing connection must not take it either: the kernel gives outgoing connections local ports from its
  ephemeral range (`ip_local_port_range`, 32768-60999 by default), so ports come from below that range.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

# The lowest port handed out: below are the common fixed ports of development machines' services.
LOWEST = 20000
HOLD_S = 600.0
_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_NOTED = Path(tempfile.gettempdir()) / "tryggheim-ports.json"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing is bound to and no caller on this machine was given in the last ten
    minutes, outside the range outgoing connections use (where that range leaves no room below it, or the note
    cannot be kept: any port the kernel finds free)."""
    highest = _first_ephemeral() - 1
    if highest - LOWEST >= 1000:
        with contextlib.suppress(OSError), _noted() as given:
            for _ in range(200):
                port = random.randint(LOWEST, highest)  # noqa: S311 - spreading callers, not a secret
                if str(port) not in given and _free(port):
                    given[str(port)] = time.time()
                    return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _noted() -> Iterator[dict[str, float]]:
    """The ports handed out in the last `HOLD_S` seconds (port -> when), under an exclusive lock; written back."""
    fd = os.open(_NOTED, os.O_RDWR | os.O_CREAT, 0o666)
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o666)  # every user's processes share it (the umask would narrow it); only its creator may
    with os.fdopen(fd, "r+") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        try:
            noted = json.loads(file.read() or "{}")
        except ValueError:
            noted = None
        if not isinstance(noted, dict):  # half-written or replaced: start afresh
            noted = {}
        now = time.time()
        given = {port: at for port, at in noted.items() if isinstance(at, float) and now - HOLD_S < at <= now}
        yield given
        file.seek(0)
        file.truncate()
        file.write(json.dumps(given))


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
