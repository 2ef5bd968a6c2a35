"""TimescaleDB: whether a server can use it, and the compression and retention policies of `observations`.

Installed is not usable: with the extension's files in place but the library not in the server's
`shared_preload_libraries`, `CREATE EXTENSION timescaledb` fails with `extension "timescaledb" must be
preloaded`. So the decision rests on what the server has loaded. The preloaded loader library registers the
`timescaledb.bgw_launcher_poll_time` setting (a server-start setting nothing else defines); `pg_settings` lists
registered settings only, never placeholders, and any role may read it, whereas `SHOW
shared_preload_libraries` needs a superuser or pg_read_all_settings, which the schema owner usually is not.

Compression is enabled, and the policies set from the operator's settings, at the end of every migration run
(`cloud.db.migrate.upgrade`), so a changed setting takes effect at the next `tryggheim db upgrade`: compression
of chunks older than `compress_after_days`, and a retention policy only when `retention_days` is set (off by
default: health records are kept for years).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Connection, text

log = logging.getLogger(__name__)

_LOADER_SETTING = "timescaledb.bgw_launcher_poll_time"


@dataclass(frozen=True)
class StoragePolicy:
    """What the migration run configures on a TimescaleDB server (ignored on plain PostgreSQL)."""

    compress_after_days: int = 7
    retention_days: int | None = None

    def __post_init__(self) -> None:
        if self.compress_after_days < 1:
            raise ValueError("compress_after_days must be at least 1")
        if self.retention_days is not None and self.retention_days < 1:
            raise ValueError("retention_days must be at least 1 (or None: never drop data)")


def installed(connection: Connection) -> bool:
    """Whether the extension's files are installed on this server (not whether it can be loaded)."""
    found = connection.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")).first()
    return found is not None


def preloaded(connection: Connection) -> bool:
    """Whether this server has loaded TimescaleDB's library at start (`shared_preload_libraries`)."""
    found = connection.execute(text("SELECT 1 FROM pg_settings WHERE name = :n"), {"n": _LOADER_SETTING}).first()
    return found is not None


def is_hypertable(connection: Connection, table: str = "observations") -> bool:
    """Whether `table` is a TimescaleDB hypertable on this database."""
    if connection.execute(text("SELECT to_regclass('timescaledb_information.hypertables')")).scalar() is None:
        return False
    found = connection.execute(
        text("SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = :t"), {"t": table}
    ).first()
    return found is not None


def configure(connection: Connection, policy: StoragePolicy) -> None:
    """Enable compression of `observations` once, and replace its compression and retention policies by
    those of `policy`.

    Segments by patient and metric (every query filters on both) and orders by time inside a segment.
    Removing and adding a policy again (rather than `if_not_exists`, which keeps an old interval) makes a
    changed setting take effect; the caller holds the migration lock, so concurrent runs do not interleave."""
    enabled = connection.execute(
        text("SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = :t"),
        {"t": "observations"},
    ).scalar()
    if not enabled:
        connection.execute(
            text(
                "ALTER TABLE observations SET (timescaledb.compress, "
                "timescaledb.compress_segmentby = 'patient_id, metric', timescaledb.compress_orderby = 't')"
            )
        )
    connection.execute(text("SELECT remove_compression_policy('observations', if_exists => true)"))
    connection.execute(
        text("SELECT add_compression_policy('observations', make_interval(days => :d))"),
        {"d": policy.compress_after_days},
    )
    connection.execute(text("SELECT remove_retention_policy('observations', if_exists => true)"))
    if policy.retention_days is not None:
        connection.execute(
            text("SELECT add_retention_policy('observations', make_interval(days => :d))"),
            {"d": policy.retention_days},
        )
        log.warning(
            "observations older than %d days are deleted by a TimescaleDB retention policy", policy.retention_days
        )
