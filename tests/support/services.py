"""Real PostgreSQL and MQTT for tests.

Resolution order, for each service: the explicit variable (TRYGGHEIM_TEST_DATABASE_URL,
TRYGGHEIM_TEST_MQTT_URL); else the local service on its standard port if it answers (PostgreSQL
127.0.0.1:5432 user postgres database test; Mosquitto 127.0.0.1:1883); else a private instance started on
a free port. Tests never stop, restart or reconfigure a shared service: anything a test must kill is a
private instance.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import psycopg
from psycopg import sql

from cloud.db import migrate
from cloud.db.embedded import EmbeddedPostgres
from cloud.db.provision import Provisioned, drop, provision
from common.ports import free_port

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
LOCAL_MQTT = "mqtt://127.0.0.1:1883"
RUN_PREFIX = "trgt"  # every database and role a test creates starts with this
STALE_AFTER_S = 6 * 3600


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


@contextmanager
def _resolved(
    variable: str, local: str, answers: Callable[[], bool], private: Callable[[], AbstractContextManager[str]]
) -> Iterator[str]:
    """The resolution order of the module docstring: the variable, else the local service, else a private one."""
    explicit = os.environ.get(variable)
    if explicit:
        yield explicit
    elif answers():
        yield local
    else:
        with private() as url:
            yield url


@contextmanager
def _private_postgres(root: Path) -> Iterator[str]:
    server = EmbeddedPostgres(root)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()
        server.remove()


@contextmanager
def postgres_admin_url(tmp_root: Path) -> Iterator[str]:
    """A superuser URL for tests: configured, local, or a private embedded server."""
    local, private = partial(_answers, LOCAL_POSTGRES), partial(_private_postgres, tmp_root / "private-pg")
    with _resolved("TRYGGHEIM_TEST_DATABASE_URL", LOCAL_POSTGRES, local, private) as url:
        yield url


def new_run_id() -> str:
    """`<prefix>_<unix seconds>_<random>`: the time lets a later session remove stale leftovers."""
    return f"{RUN_PREFIX}_{int(time.time())}_{secrets.token_hex(3)}"


def remove_stale(admin_url: str) -> None:
    """Drop databases and roles of test runs older than 6 hours (crashed sessions leave them)."""
    cutoff = time.time() - STALE_AFTER_S
    with psycopg.connect(admin_url, autocommit=True) as conn:
        dbs = [
            r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{RUN_PREFIX}_%",))
        ]
        roles = [r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (f"{RUN_PREFIX}_%",))]
        for name in dbs + roles:
            try:
                stamp = int(name.split("_")[1])
            except (IndexError, ValueError):
                continue
            if stamp >= cutoff:
                continue
            if name in dbs:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            else:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@dataclass(frozen=True)
class TestDatabase:
    """A provisioned, migrated database for one test or test module."""

    __test__ = False  # not a test class, despite the name

    admin_url: str
    roles: Provisioned

    @property
    def runtime_url(self) -> str:
        """Connection as the runtime role (what the service uses)."""
        return self.roles.runtime_url

    @property
    def owner_url(self) -> str:
        """Connection as the schema owner (what migrations use)."""
        return self.roles.owner_url


@contextmanager
def test_database(admin_url: str, *, migrated: bool = True) -> Iterator[TestDatabase]:
    """Create a database with its own owner and runtime roles; drop all three afterwards."""
    run = new_run_id()
    roles = provision(admin_url, database=run, owner_role=f"{run}_owner", runtime_role=f"{run}_app")
    try:
        if migrated:
            migrate.upgrade(roles.owner_url, runtime_role=roles.runtime_role)
        yield TestDatabase(admin_url, roles)
    finally:
        drop(admin_url, database=run, roles=[roles.owner_role, roles.runtime_role])


@dataclass
class Mosquitto:
    """A private Mosquitto broker on a free port (killable by tests)."""

    host: str
    port: int
    process: subprocess.Popen[bytes] | None

    @property
    def url(self) -> str:
        """mqtt://host:port"""
        return f"mqtt://{self.host}:{self.port}"


@contextmanager
def private_mosquitto(workdir: Path, config_lines: list[str] | None = None) -> Iterator[Mosquitto]:
    """Start a broker that belongs to the test; it may be stopped or killed at will."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "mosquitto.conf"
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", *(config_lines or [])]
    conf.write_text("\n".join(lines) + "\n")
    process = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not _port_open("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"private mosquitto did not start (exit {process.returncode})")
        time.sleep(0.02)
    broker = Mosquitto("127.0.0.1", port, process)
    try:
        yield broker
    finally:
        if broker.process and broker.process.poll() is None:
            broker.process.terminate()
            broker.process.wait(10)


@contextmanager
def mqtt_url(workdir: Path) -> Iterator[str]:
    """An MQTT broker URL for tests: configured, local, or a private broker."""
    local, private = partial(_port_open, "127.0.0.1", 1883), partial(_private_broker_url, workdir)
    with _resolved("TRYGGHEIM_TEST_MQTT_URL", LOCAL_MQTT, local, private) as url:
        yield url


@contextmanager
def _private_broker_url(workdir: Path) -> Iterator[str]:
    with private_mosquitto(workdir) as broker:
        yield broker.url


@contextmanager
def killable_postgres(
    prefix: str = "trgt-pg-", *, bindir: Path | None = None, settings: Mapping[str, str] | None = None
) -> Iterator[EmbeddedPostgres]:
    """A private PostgreSQL a test may kill and restart, in a directory the database user can reach
    (pytest's own temporary directories are private to root); removed afterwards. `bindir` and `settings` go to
    `EmbeddedPostgres` (another installation; server settings such as a preloaded library)."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    root.chmod(0o755)
    server = EmbeddedPostgres(root / "pg", bindir=bindir, settings=settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
