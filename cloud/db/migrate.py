"""Run and inspect schema migrations (Alembic) as the owner role.

Several replicas may start at once; an advisory lock makes them take turns, and the second finds
nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from cloud.db import timescale
from cloud.db.timescale import StoragePolicy

_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_LOCK_KEY = 0x7472_7967  # "tryg": serialises concurrent upgrades


@dataclass(frozen=True)
class Status:
    """Where a database stands against the migrations shipped with this code."""

    current: str | None
    head: str
    storage: str

    @property
    def up_to_date(self) -> bool:
        """True when the database is at the newest revision."""
        return self.current == self.head


def _sqlalchemy_url(url: str) -> str:
    scheme, rest = url.split("://", 1)
    if scheme not in {"postgresql", "postgres"}:
        raise ValueError(f"not a PostgreSQL URL: {scheme}://")
    return f"postgresql+psycopg://{rest}"


def _config(connection: Connection | None = None, runtime_role: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["runtime_role"] = runtime_role
    return config


def head_revision() -> str:
    """The newest revision shipped with this code."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def role_of(url: str) -> str:
    """The user name in a connection URL."""
    user = urlsplit(url).username
    if not user:
        raise ValueError("the database URL names no user")
    return user


def upgrade(owner_url: str, *, runtime_role: str, storage: StoragePolicy | None = None) -> str | None:
    """Migrate to the newest revision; granting the runtime role its privileges on the way. On TimescaleDB, enable
    compression and set the compression and retention policies of `storage` (the defaults when None), every run.
    Returns the revision found once the lock was held (None: an empty database), so that of two concurrent runs
    the one that waited reports that it found the schema current."""
    engine = create_engine(_sqlalchemy_url(owner_url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
            try:
                before = MigrationContext.configure(connection).get_current_revision()
                command.upgrade(_config(connection, runtime_role), "head")
                if timescale.is_hypertable(connection):
                    timescale.configure(connection, storage or StoragePolicy())
                connection.commit()
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
                connection.commit()
            return before
    finally:
        engine.dispose()


def storage_kind(connection: Connection) -> str:
    """`timescaledb` when observations is a hypertable, else `postgresql`."""
    return "timescaledb" if timescale.is_hypertable(connection) else "postgresql"


def status(url: str) -> Status:
    """Current and head revision, and which storage path the observations table uses."""
    engine = create_engine(_sqlalchemy_url(url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            return Status(current=current, head=head_revision(), storage=storage_kind(connection))
    finally:
        engine.dispose()


async def applied_revision(conn: AsyncConnection[Any]) -> str | None:
    """The revision a running service's database is at, read on one of its pooled connections (`/readyz`)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT version_num FROM alembic_version")
        row = await cur.fetchone()
    return None if row is None else str(row["version_num"])
