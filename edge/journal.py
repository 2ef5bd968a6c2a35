"""The gateway agent's small state, kept in the outbox's SQLite file (edge/outbox.py) beside the readings:
counters, named state (last upload, a source's position), events, and each device's last reading, battery
and error counts. `tryggheim edge status` reads it from another process while the agent runs (WAL mode); the
outbox writes it in the same transactions as the readings it concerns, so a count never disagrees with what
was stored.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from edge import health


class Journal:
    """Counters, state, events and device health in an open SQLite file whose tables the outbox created; the
    private helpers write inside a transaction the caller holds."""

    _db: sqlite3.Connection

    def count(self, name: str, by: int = 1) -> None:
        """Add to a named counter (errors, malformed input, ...)."""
        with self._transaction():
            self._bump(name, by)

    def counters(self) -> dict[str, int]:
        """All counters."""
        return dict(self._db.execute("SELECT name, value FROM counters").fetchall())

    def event(self, kind: str, detail: str) -> None:
        """Record an event for status and later inspection."""
        with self._transaction():
            self._event(kind, detail)

    def events(self, kind: str | None = None) -> list[tuple[float, str, str]]:
        """Recorded events, oldest first."""
        rows = self._db.execute(
            "SELECT at, kind, detail FROM events WHERE ? IS NULL OR kind = ? ORDER BY id", (kind, kind)
        ).fetchall()
        return [(float(at), str(k), str(detail)) for at, k, detail in rows]

    def get_state(self, key: str) -> str | None:
        """A small piece of agent state."""
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def states(self, prefix: str) -> dict[str, str]:
        """All state entries whose key starts with `prefix`, by the rest of the key."""
        rows = self._db.execute("SELECT key, value FROM state WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))
        return {str(key)[len(prefix) :]: str(value) for key, value in rows.fetchall()}

    def set_state(self, key: str, value: str) -> None:
        """Store a small piece of agent state."""
        with self._transaction():
            self._set_state(key, value)

    def devices(self) -> list[tuple[str, str | None, Any, float]]:
        """Each device's last reading: (address, metric, value, unix time)."""
        rows = self._db.execute("SELECT address, metric, value, at FROM devices ORDER BY address").fetchall()
        return [(a, m, json.loads(v) if v is not None else None, at) for a, m, v, at in rows]

    def device_error(self, address: str, kind: health.ErrorKind) -> None:
        """Count one error of a device (edge/health.py)."""
        with self._transaction():
            health.count_error(self._db, address, kind)

    def device_health(self, limit: int = 500) -> list[health.DeviceHealth]:
        """Each device's last reading, battery and error counts, by address (at most `limit` devices)."""
        return health.rows(self._db, limit)

    def _bump(self, name: str, by: int) -> None:
        if by:
            self._db.execute(
                "INSERT INTO counters VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                (name, by),
            )

    def _set_state(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO state VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value)
        )

    def _event(self, kind: str, detail: str) -> None:
        self._db.execute("INSERT INTO events (at, kind, detail) VALUES (?, ?, ?)", (time.time(), kind, detail))

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (sqlite3's own transaction handling is off)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
