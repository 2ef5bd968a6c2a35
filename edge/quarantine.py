"""The gateway's local quarantine: readings the cloud refused on their own, kept in the outbox file.

A reading lands here only when the uplink has isolated it (edge/isolation.py): sent alone, the cloud refused
it again and again while it committed other readings of this gateway. It keeps its sequence number, so a
reading an installer releases is still de-duplicated by the cloud on (gateway, epoch, sequence). Nothing here
is sent automatically. The functions run inside a transaction the `Outbox` opens; `rows` and `summary` also
read a read-only connection (`tryggheim edge status`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS quarantine (
    seq INTEGER PRIMARY KEY,
    alarm INTEGER NOT NULL,
    created_at REAL NOT NULL,
    quarantined_at REAL NOT NULL,
    body TEXT NOT NULL,
    refusals INTEGER NOT NULL,
    answer TEXT NOT NULL
);
"""
MAX_ANSWER = 1000  # characters of the cloud's answer kept as the reason


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A reading the cloud refused on its own, with the cloud's last answer."""

    seq: int
    alarm: bool
    created_at: float
    quarantined_at: float
    body: dict[str, Any]
    refusals: int
    answer: str


def move_in(db: sqlite3.Connection, seq: int, refusals: int, answer: str, now: float) -> bool | None:
    """Move `seq` from the outbox into the quarantine; returns whether it is alarm-class, None when it was no
    longer waiting."""
    row = db.execute("SELECT alarm FROM outbox WHERE seq = ?", (seq,)).fetchone()
    if row is None:
        return None
    db.execute(
        "INSERT INTO quarantine (seq, alarm, created_at, quarantined_at, body, refusals, answer) "
        "SELECT seq, alarm, created_at, ?, body, ?, ? FROM outbox WHERE seq = ?",
        (now, refusals, answer[:MAX_ANSWER], seq),
    )
    db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
    return bool(row[0])


def rows(db: sqlite3.Connection) -> list[Quarantined]:
    """Every quarantined reading, in sequence order."""
    found = db.execute(
        "SELECT seq, alarm, created_at, quarantined_at, body, refusals, answer FROM quarantine ORDER BY seq"
    ).fetchall()
    return [Quarantined(seq, bool(alarm), created, at, json.loads(body), refusals, answer)
            for seq, alarm, created, at, body, refusals, answer in found]  # fmt: skip


def summary(db: sqlite3.Connection) -> tuple[int, float | None]:
    """How many readings are quarantined, and when the oldest of them was queued (unix time)."""
    count, oldest = db.execute("SELECT count(*), min(created_at) FROM quarantine").fetchone()
    return int(count), oldest


def chosen(db: sqlite3.Connection, seqs: Collection[int] | None) -> list[int]:
    """The quarantined sequences among `seqs` (all of them when None)."""
    found = db.execute(
        "SELECT seq FROM quarantine WHERE ? OR seq IN (SELECT value FROM json_each(?)) ORDER BY seq",
        (seqs is None, json.dumps(sorted(seqs or ()))),
    ).fetchall()
    return [int(row[0]) for row in found]


def release(db: sqlite3.Connection, seqs: list[int]) -> None:
    """Put quarantined readings back in the outbox under their own sequence numbers."""
    wanted = json.dumps(seqs)
    db.execute(
        "INSERT INTO outbox (seq, alarm, created_at, size, body) SELECT seq, alarm, created_at, length(body), body "
        "FROM quarantine WHERE seq IN (SELECT value FROM json_each(?))",
        (wanted,),
    )
    delete(db, seqs)


def delete(db: sqlite3.Connection, seqs: list[int]) -> None:
    """Remove readings from the quarantine."""
    db.execute("DELETE FROM quarantine WHERE seq IN (SELECT value FROM json_each(?))", (json.dumps(seqs),))
