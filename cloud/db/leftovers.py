"""What a killed or earlier run may have left in an embedded database's directory, and how a start clears it
(cloud/db/embedded.py): a server still running on the data directory, a lock file PostgreSQL would refuse, a
cluster this server cannot run. Each step taken is a `Notice` for the person running the demo."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from common.digits import plain_digits
from common.i18n import N_


@dataclass(frozen=True)
class Notice:
    """Something start-up did to local state that the person running it should hear of: a catalogue message
    (marked with `N_`) and its values, worded by the reader's catalogue."""

    message: str
    values: Mapping[str, object]

    def text(self, gettext: Callable[[str], str] | None = None) -> str:
        """The line, through `gettext` when given (English otherwise)."""
        return (gettext or str)(self.message).format(**self.values)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (whoever owns it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def servers_on(data_dir: Path) -> list[int]:
    """Pids of running postmasters whose command line names `data_dir` (`postgres -D <data_dir> ...`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not plain_digits(entry.name):
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"postgres") and b"-D" in argv[:-1] and argv[argv.index(b"-D") + 1] == bytes(data_dir):
            found.append(int(entry.name))
    return found


def major_version(bindir: Path) -> str:
    """The major version of the server binaries in `bindir` ("15" of "postgres (PostgreSQL) 15.8 (Debian ...)")."""
    result = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False)
    found = re.search(r"\) (\d+)", result.stdout)
    return found.group(1) if found else ""


def stop_leftover(data_dir: Path, notices: list[Notice]) -> None:
    """Stop a server that a killed predecessor left running on `data_dir`, and remove a lock file PostgreSQL
    would refuse to start with. The caller holds the state directory's lock: no live owner runs there."""
    for pid in servers_on(data_dir):
        os.kill(pid, signal.SIGINT)  # fast shutdown
        deadline = time.monotonic() + 30
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid):
            os.kill(pid, signal.SIGQUIT)
            time.sleep(1)
        notices.append(Notice(N_("Stopped a PostgreSQL (pid {pid}) left running by an earlier run"), {"pid": pid}))
    pid_file = data_dir / "postmaster.pid"
    try:
        named = int(pid_file.read_text().split("\n", 1)[0])
    except FileNotFoundError:
        return
    except (ValueError, UnicodeDecodeError):
        named = 0
    # PostgreSQL itself clears a lock file whose pid is gone, but refuses one naming a live process (a pid
    # reused since a crash) or holding garbage; no server of ours runs now (stopped above), so it is stale.
    if named <= 0 or (pid_alive(named) and named not in servers_on(data_dir)):
        pid_file.unlink(missing_ok=True)
        notices.append(Notice(N_("Removed a stale lock file of the embedded database ({path})"), {"path": pid_file}))


def set_aside_unusable(data_dir: Path, bindir: Path, password_kept: bool, notices: list[Notice]) -> None:
    """Clear the way for a new cluster when this one cannot be used: one initdb never finished is removed; one
    of another major version, or without the superuser password we kept, is moved aside (never deleted)."""
    try:
        version = (data_dir / "PG_VERSION").read_text().strip()
    except (FileNotFoundError, UnicodeDecodeError):
        version = ""
    ours = major_version(bindir)
    if version == ours and password_kept:
        return
    aside = data_dir.with_name(f"{data_dir.name}-{version or 'x'}-{time.strftime('%Y%m%d%H%M%S')}")
    if not version:
        shutil.rmtree(data_dir)
        message = N_("The embedded database in {path} was incomplete; a new one is made")
    elif version != ours:
        data_dir.rename(aside)
        message = N_("The embedded database was made by PostgreSQL {old}, this is {new}: it is kept in {aside} "
                     "and a new one is made")  # fmt: skip
    else:
        data_dir.rename(aside)
        message = N_("The embedded database's password file is missing or empty: the database is kept in "
                     "{aside} and a new one is made")  # fmt: skip
    notices.append(Notice(message, {"path": data_dir, "old": version, "new": ours, "aside": aside}))
