"""A private PostgreSQL for the demo, tests and benchmarks, run from Debian's server binaries.

Why Debian's binaries rather than a PyPI wheel: see docs/operations.md ("Embedded database").
The server runs as a direct child in its own session, so Ctrl-C of a terminal does not race our own
orderly shutdown, with a parent-death signal so that a SIGKILL of the parent still shuts it down.
A server a killed parent left running is found at the next start by its command line (its data directory)
and stopped before a new one starts; a `postmaster.pid` that PostgreSQL itself would refuse (garbled, or naming a
pid reused by another process since) is removed, a cluster of another major version is moved aside and a new one
made (cloud/db/leftovers.py). Each such step is kept as a `Notice` for the person running it
(`EmbeddedPostgres.notices`).

PostgreSQL refuses to run as root. As root the server runs as the `postgres` system user (created
by Debian's package) or, where that user is missing, a dedicated `tryggheim-pg` system user; the data
directory must then be reachable by that user, so it falls back to /var/lib/tryggheim when the state
directory's ancestors are private.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg

from cloud.db import leftovers
from cloud.db.leftovers import Notice
from common.children import die_with_parent
from common.digits import plain_digits
from common.ports import free_port

SUPERUSER = "tryggheim_admin"
_FALLBACK_ROOT = Path("/var/lib/tryggheim")


class EmbeddedPostgresError(RuntimeError):
    """The private PostgreSQL could not be found, initialised or started; the message says why."""


SERVER_TOOLS = ("postgres", "initdb")
# What backup and restore run: Debian's `postgresql-client-15` has them without the server (the cloud image).
CLIENT_TOOLS = ("pg_dump", "pg_restore")


def find_bindir(tools: tuple[str, ...] = SERVER_TOOLS) -> Path:
    """The newest PostgreSQL >= 15 binaries on this machine that include `tools` (the server's by default).
    `TRYGGHEIM_PG_BINDIR`, when set, is the only folder looked in: a folder an operator names is never passed
    over for another version."""
    override = os.environ.get("TRYGGHEIM_PG_BINDIR")
    if override:
        missing = [tool for tool in tools if not (Path(override) / tool).is_file()]
        if missing:
            raise EmbeddedPostgresError(f"TRYGGHEIM_PG_BINDIR={override} has no {', '.join(missing)}")
        return Path(override)
    candidates: list[Path] = []
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        versions = sorted(
            (p for p in root.iterdir() if plain_digits(p.name) and int(p.name) >= 15),
            key=lambda p: int(p.name),
            reverse=True,
        )
        candidates += [v / "bin" for v in versions]
    on_path = shutil.which(tools[0])
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in tools):
            return bindir
    package = "postgresql" if tools == SERVER_TOOLS else "postgresql-client-15"
    raise EmbeddedPostgresError(
        f"no PostgreSQL binaries (>= 15) with {', '.join(tools)} found; install Debian's `{package}` package "
        "(make does this when run as root) or set TRYGGHEIM_PG_BINDIR"
    )


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As PostgreSQL itself does: connections of a killed server linger in TIME_WAIT, which must not
        # move a restarted server to another port (clients hold the old URL).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _service_user() -> pwd.struct_passwd | None:
    """The unprivileged user the server runs as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "tryggheim-pg"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "tryggheim-pg"],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam("tryggheim-pg")


def reachable_by(path: Path, user: pwd.struct_passwd) -> bool:
    """Whether every ancestor of `path` lets `user` traverse it."""
    for ancestor in path.resolve().parents:
        if not ancestor.exists():
            continue  # we create it, with the default 0755
        st = ancestor.stat()
        if st.st_uid == user.pw_uid:
            continue
        if not st.st_mode & 0o001:
            return False
    return True


@dataclass(frozen=True)
class _Layout:
    state_dir: Path
    data_dir: Path
    log_file: Path
    password_file: Path
    port_file: Path


class EmbeddedPostgres:
    """One private cluster under a state directory; `start()` returns a superuser URL."""

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int | None = None,
        bindir: Path | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self._state_dir = state_dir.resolve()
        self._wanted_port = port
        self._user = _service_user()
        self._bindir = bindir or find_bindir()
        # Server settings of this instance only (`-c name=value`), for example a preloaded library.
        self._settings = dict(settings or {})
        self._layout = self._plan_layout()
        self._process: subprocess.Popen[bytes] | None = None
        self._lock_fd: int | None = None
        self.port = 0
        self.notices: list[Notice] = []

    @property
    def data_dir(self) -> Path:
        """Where the cluster's files are (inside the state directory unless that is private)."""
        return self._layout.data_dir

    def _plan_layout(self) -> _Layout:
        state = self._state_dir
        data = state / "pg"
        if self._user is not None and not reachable_by(data, self._user):
            digest = hashlib.sha256(str(state).encode()).hexdigest()[:16]
            data = _FALLBACK_ROOT / f"pg-{digest}"
        return _Layout(
            state_dir=state,
            data_dir=data,
            log_file=state / "postgresql.log",
            password_file=state / "pg-superuser-password",
            port_file=state / "pg-port",
        )

    def _identity(self) -> tuple[int | None, int | None, list[int] | None]:
        """user, group and supplementary groups for Popen: drop root completely (with `user=` alone the
        child would keep gid 0 and root's groups)."""
        if self._user is None:
            return None, None, None
        return self._user.pw_uid, self._user.pw_gid, []

    def _run_as_service(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        uid, gid, groups = self._identity()
        return subprocess.run(
            args, check=False, capture_output=True, text=True, user=uid, group=gid, extra_groups=groups
        )

    def _chown(self, path: Path) -> None:
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def _initdb(self) -> None:
        layout = self._layout
        layout.data_dir.parent.mkdir(parents=True, exist_ok=True)
        layout.data_dir.mkdir(mode=0o700, exist_ok=True)
        self._chown(layout.data_dir)
        password = secrets.token_urlsafe(24)
        pwfile = layout.data_dir.parent / f".{layout.data_dir.name}-initpw"
        pwfile.write_text(password)
        pwfile.chmod(0o600)
        self._chown(pwfile)
        try:
            result = self._run_as_service(
                [
                    str(self._bindir / "initdb"),
                    "-D",
                    str(layout.data_dir),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-instructions",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"initdb failed: {result.stderr.strip()[-500:]}")
        layout.password_file.write_text(password)
        layout.password_file.chmod(0o600)

    def _password_readable(self) -> bool:
        try:
            return bool(self._layout.password_file.read_text().strip())
        except (OSError, UnicodeDecodeError):
            return False

    def _choose_port(self) -> int:
        if self._wanted_port:
            return self._wanted_port
        with contextlib.suppress(FileNotFoundError, ValueError):
            previous = int(self._layout.port_file.read_text())
            if _port_free(previous):
                return previous
        return free_port()

    def url(self, database: str = "postgres") -> str:
        """Superuser URL of the running server."""
        password = quote(self._layout.password_file.read_text().strip(), safe="")
        return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{self.port}/{database}"

    def _take_lock(self) -> None:
        """One owner per state directory; the kernel releases the lock when the owner dies, even by
        SIGKILL, which is what tells a live owner's server from a killed owner's leftover."""
        fd = os.open(self._layout.state_dir / "embedded-pg.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EmbeddedPostgresError(
                f"the embedded database in {self._layout.state_dir} is in use by another running process"
            ) from None
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def start(self, timeout_s: float = 60.0) -> str:
        """Initialise when new, recover from a killed predecessor, start, wait until it accepts."""
        layout = self._layout
        layout.state_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            return self._start(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout_s: float) -> str:
        layout = self._layout
        if layout.data_dir.exists():
            leftovers.stop_leftover(layout.data_dir, self.notices)
            leftovers.set_aside_unusable(layout.data_dir, self._bindir, self._password_readable(), self.notices)
        if not layout.data_dir.exists():
            self._initdb()
        self.port = self._choose_port()
        layout.port_file.write_text(str(self.port))
        uid, gid, groups = self._identity()
        log = layout.log_file.open("ab")
        self._chown(layout.log_file)
        self._process = subprocess.Popen(
            [
                str(self._bindir / "postgres"),
                "-D",
                str(layout.data_dir),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "unix_socket_directories=",
                "-c",
                "max_connections=200",
                *(arg for name, value in self._settings.items() for arg in ("-c", f"{name}={value}")),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGINT),  # SIGINT: PostgreSQL's fast shutdown
            user=uid,
            group=gid,
            extra_groups=groups,
        )
        log.close()
        self._wait_ready(timeout_s)
        return self.url()

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last_error = ""
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                tail = self._layout.log_file.read_text(errors="replace")[-800:]
                raise EmbeddedPostgresError(f"postgres exited with {self._process.returncode}: {tail}")
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                last_error = str(exc).strip()
                if "password authentication failed" in last_error:  # waiting would not change the answer
                    raise EmbeddedPostgresError(
                        f"the password in {self._layout.password_file} is not this cluster's; move "
                        f"{self._layout.data_dir} aside to start afresh"
                    ) from None
            time.sleep(0.05)
        raise EmbeddedPostgresError(f"postgres did not accept connections in {timeout_s:.0f} s: {last_error}")

    def stop(self, timeout_s: float = 30.0) -> None:
        """Fast shutdown (SIGINT); escalate to SIGQUIT, then SIGKILL, if it hangs."""
        process, self._process = self._process, None
        try:
            if process is None or process.poll() is not None:
                return
            for sig, wait in ((signal.SIGINT, timeout_s), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(sig)
                try:
                    process.wait(wait)
                    return
                except subprocess.TimeoutExpired:
                    continue
        finally:
            self._release_lock()

    def kill(self) -> None:
        """Kill the server without a shutdown (for tests of crash recovery)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
        self._release_lock()

    def remove(self) -> None:
        """Delete the cluster's files (tests and benchmarks; the server must be stopped)."""
        if self._process is not None:
            raise EmbeddedPostgresError("stop the server before removing its data")
        shutil.rmtree(self._layout.data_dir, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while running."""
        return self._process.pid if self._process and self._process.poll() is None else None
