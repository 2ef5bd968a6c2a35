"""Child processes that must not outlive their parent, even when the parent is killed with SIGKILL, and the
record of a child that may (one that changes its user itself, which clears the parent-death signal), so the
next run can stop what a killed run left behind."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: signal.Signals) -> Callable[[], None]:
    """A `preexec_fn` asking the kernel to send `sig` to the child when its parent dies.

    Python runs `preexec_fn` after `user=`/`group=` take effect, which matters: a credential change clears
    the parent-death signal. The signal follows the *thread* that started the child: start children from a
    thread that lives as long as they should.
    """

    def arm() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)

    return arm


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), None when there is
    no such process. A pid and its start time name one process: a pid reused later has another start time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; the fields after its last ")" do not.
    return int(stat.rsplit(")", 1)[1].split()[19])


def record(pid_file: Path, pid: int) -> None:
    """Remember a child by pid and start time (for `stop_recorded` after a crash of this process)."""
    pid_file.write_text(f"{pid} {start_time(pid) or 0}\n")


def stop_recorded(pid_file: Path, timeout_s: float = 10.0) -> int | None:
    """Stop the process `pid_file` recorded when it still runs (SIGTERM, then SIGKILL) and forget it; returns
    its pid when there was one to stop. A missing, garbled or outdated file (the pid now names another
    process) stops nothing."""
    try:
        pid, started = (int(part) for part in pid_file.read_text().split())
    except (OSError, ValueError):
        pid_file.unlink(missing_ok=True)
        return None
    pid_file.unlink(missing_ok=True)
    if pid <= 1 or start_time(pid) != started:
        return None
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while start_time(pid) == started and time.monotonic() < deadline:
            time.sleep(0.05)
        if start_time(pid) != started:
            break
    return pid
