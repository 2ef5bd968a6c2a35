"""The durable outbox: every observation is on disk before anything else happens to it.

SQLite in WAL mode with `synchronous=FULL`, so a committed append survives `kill -9` and power loss. The
outbox has a random epoch, chosen when the file is created, and `seq` is an AUTOINCREMENT key: SQLite never
reuses one, even after the newest rows are deleted, so (epoch, seq) names each observation exactly once and
the cloud can de-duplicate on it. A row leaves only when the cloud lists its sequence as committed, or by
counted eviction of the oldest routine readings when the outbox outgrows its size or age bound;
alarm-class rows are never evicted. A reading the cloud keeps refusing on its own (see edge/isolation.py) is
moved to the `quarantine` table with the cloud's answer: kept, never sent again unless an installer releases
it, and never evicted (it is the evidence of what the cloud could not take).

The same file keeps the agent's small state (edge/journal.py: counters, last upload, each device's last reading,
battery and error counts, events), and the broker deliveries already stored (`deliveries`): the MQTT source
writes a message's packet id and digest in the transaction that stores its readings, so a message the broker
delivers again after a crash before its acknowledgement is recognised (edge/sources/mqtt.py).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device_profiles import Observation, load_catalogue
from device_profiles.wire import WireJSON, observation_body, with_seq
from edge import health
from edge import quarantine as local_quarantine
from edge.journal import Journal
from edge.quarantine import Quarantined

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
DEFAULT_MAX_AGE_S = 30 * 86400

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm INTEGER NOT NULL,
    created_at REAL NOT NULL,
    size INTEGER NOT NULL,
    body TEXT NOT NULL,
    overdue_noted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_alarm ON outbox (alarm, seq);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
    address TEXT PRIMARY KEY, metric TEXT, value TEXT, at REAL NOT NULL, profile_id TEXT
);
CREATE TABLE IF NOT EXISTS deliveries (
    client TEXT NOT NULL, mid INTEGER NOT NULL, digest TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (client, mid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, kind TEXT NOT NULL,
                                   detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS local_alarms (id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL,
                                         attempt TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS local_alarms_seq ON local_alarms (seq);
"""


@dataclass(frozen=True, slots=True)
class Pending:
    """A queued observation: its sequence number and its wire body without `seq` (device_profiles/wire.py)."""

    seq: int
    alarm: bool
    created_at: float
    body: dict[str, Any]

    def wire(self) -> WireJSON:
        """The reading as the ingest API expects it."""
        return with_seq(self.seq, self.body)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A broker's delivery of one message: the subscribing client, the packet id and a digest of topic and
    payload. Stored with the message's readings; a redelivery (DUP) with the same packet id and digest is
    the same message."""

    client: str
    mid: int
    digest: str


@dataclass(frozen=True, slots=True)
class Depth:
    """How much is waiting, and for how long."""

    count: int
    alarms: int
    oldest_created_at: float | None
    bytes: int


class Outbox(Journal):
    """One outbox file. Not thread-safe: the agent uses it from its event loop only."""

    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_age_s: float = DEFAULT_MAX_AGE_S):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.alarm_metrics = load_catalogue().alarm_metrics
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves so each append is exactly one transaction.
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA + local_quarantine.SCHEMA + health.SCHEMA)
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('epoch', ?)", (str(uuid.uuid4()),))
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('created_at', ?)", (str(time.time()),))
        self.epoch: str = self._db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0]

    def close(self) -> None:
        """Close the file (a committed append is durable whether or not this runs)."""
        self._db.close()

    # --- appending -----------------------------------------------------------------------------------------

    def append(self, observations: Iterable[Observation], *, state: Mapping[str, str] | None = None,
               delivery: Delivery | None = None) -> list[int]:  # fmt: skip
        """Store observations durably; returns their sequence numbers. `state` entries (and the broker's
        `delivery`) are written in the same transaction, so a source can record how far it got together with
        what it produced (exactly once)."""
        bodies = [(observation_body(o), o.metric in self.alarm_metrics) for o in observations]
        return self.append_bodies(bodies, state, delivery=delivery)

    def append_bodies(self, bodies: Iterable[tuple[dict[str, Any], bool]], state: Mapping[str, str] | None = None,
                      count_malformed: int = 0, *, malformed_from: str | None = None,
                      delivery: Delivery | None = None) -> list[int]:  # fmt: skip
        """Store raw ingest bodies (used for forwarded malformed input); see `append`. `count_malformed` adds
        to the malformed-input counter in the same transaction, and to the decode errors of `malformed_from`."""
        now = time.time()
        seqs: list[int] = []
        with self._transaction():
            for body, alarm in bodies:
                text = json.dumps(body, separators=(",", ":"))
                cur = self._db.execute(
                    "INSERT INTO outbox (alarm, created_at, size, body) VALUES (?, ?, ?, ?)",
                    (int(alarm), now, len(text), text),
                )
                assert cur.lastrowid is not None
                seqs.append(cur.lastrowid)
                self._note_device(body, now)
            for key, value in (state or {}).items():
                self._set_state(key, value)
            self._bump("malformed", count_malformed)
            if malformed_from is not None and count_malformed:
                health.count_error(self._db, malformed_from, "decode_errors", count_malformed)
            if delivery is not None:
                self._db.execute(
                    "INSERT INTO deliveries VALUES (?, ?, ?, ?) ON CONFLICT (client, mid) DO UPDATE "
                    "SET digest = excluded.digest, at = excluded.at",
                    (delivery.client, delivery.mid, delivery.digest, now),
                )
        return seqs

    def _note_device(self, body: dict[str, Any], now: float) -> None:
        if body.get("metric") is None:
            return
        self._db.execute(
            "INSERT INTO devices (address, metric, value, at) VALUES (?, ?, ?, ?) ON CONFLICT (address) DO UPDATE "
            "SET metric = excluded.metric, value = excluded.value, at = excluded.at",
            (body["device"], body["metric"], json.dumps(body["value"]), now),
        )
        if body["metric"] == health.BATTERY_METRIC:
            health.note_battery(self._db, body["device"], body["value"], now)

    # --- broker deliveries (edge/sources/mqtt.py) ----------------------------------------------------------

    def delivered(self, client: str, mid: int) -> str | None:
        """The digest of the message last stored under this client's packet id `mid`, if any."""
        row = self._db.execute("SELECT digest FROM deliveries WHERE client = ? AND mid = ?", (client, mid)).fetchone()
        return None if row is None else str(row[0])

    def forget_deliveries(self, client: str) -> int:
        """Forget the client's stored deliveries (the broker started a new session: nothing of the old one can
        be delivered again, and packet ids start over); returns how many were forgotten."""
        with self._transaction():
            return self._db.execute("DELETE FROM deliveries WHERE client = ?", (client,)).rowcount

    # --- reading and acknowledging -------------------------------------------------------------------------

    def depth(self, exclude: Collection[int] = ()) -> Depth:
        """Counts for the uplink's triggers and for status; `exclude` leaves out readings the uplink holds."""
        row = self._db.execute(
            "SELECT count(*), total(alarm), min(created_at), total(size) FROM outbox "
            "WHERE seq NOT IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(exclude)),),
        ).fetchone()
        return Depth(int(row[0]), int(row[1]), row[2], int(row[3]))

    def last_seq(self) -> int:
        """The highest sequence number ever assigned (0 when none): every number up to it was produced once."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return 0 if row is None else int(row[0])

    def next_batch(self, limit: int, exclude: Collection[int] = ()) -> list[Pending]:
        """The next readings to send: pending alarms alone when there are any (so they are stored before
        anything queued earlier), otherwise the oldest readings in sequence order. Readings in `exclude` (held
        by the uplink while it isolates a refused one) are left out."""
        held = json.dumps(sorted(exclude))
        rows = self._db.execute(
            "SELECT seq, alarm, created_at, body FROM outbox WHERE alarm = 1 "
            "AND seq NOT IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?",
            (held, limit),
        ).fetchall()
        if not rows:
            rows = self._db.execute(
                "SELECT seq, alarm, created_at, body FROM outbox WHERE seq NOT IN (SELECT value FROM json_each(?)) "
                "ORDER BY seq LIMIT ?",
                (held, limit),
            ).fetchall()
        return [Pending(seq, bool(alarm), created, json.loads(body)) for seq, alarm, created, body in rows]

    def pending(self, seqs: Collection[int]) -> list[Pending]:
        """Those of `seqs` still waiting in the outbox, alarm-class first, then in sequence order."""
        rows = self._db.execute(
            "SELECT seq, alarm, created_at, body FROM outbox WHERE seq IN (SELECT value FROM json_each(?)) "
            "ORDER BY alarm DESC, seq",
            (json.dumps(sorted(seqs)),),
        ).fetchall()
        return [Pending(seq, bool(alarm), created, json.loads(body)) for seq, alarm, created, body in rows]

    def acknowledge(self, seqs: Iterable[int], carried: Mapping[int, int] | None = None) -> int:
        """Delete the sequences the cloud reported committed; returns how many were still here. `carried` is
        how many local attempts each alarm's upload held: an alarm with an attempt recorded since (the siren
        answered while the upload was in flight) stays, so the cloud gets that attempt with the next copy."""
        if not (committed := set(seqs)):
            return 0
        with self._transaction():  # BEGIN IMMEDIATE: no attempt can be recorded between the look and the delete
            wanted = sorted(committed - self._attempted_since(carried or {}))
            deleted = 0
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                deleted += self._db.execute(f"DELETE FROM outbox WHERE seq IN ({marks})", chunk).rowcount  # noqa: S608
                self._db.execute(f"DELETE FROM local_alarms WHERE seq IN ({marks})", chunk)  # noqa: S608
            self._bump("uploaded", deleted)
            self._set_state("last_upload_at", str(time.time()))
        return deleted

    # --- local quarantine (edge/quarantine.py) -------------------------------------------------------------

    def quarantine(self, seq: int, refusals: int, answer: str) -> bool:
        """Move a reading the cloud keeps refusing on its own into the local quarantine, with the cloud's last
        answer; False when it was no longer waiting."""
        with self._transaction():
            alarm = local_quarantine.move_in(self._db, seq, refusals, answer, time.time())
            if alarm is None:
                return False
            self._bump("quarantined", 1)
            self._event("alarm_quarantined" if alarm else "quarantined",
                        f"seq {seq} refused by the cloud {refusals} times on its own: {answer[:200]}")  # fmt: skip
        return True

    def quarantined(self) -> list[Quarantined]:
        """The locally quarantined readings, in sequence order."""
        return local_quarantine.rows(self._db)

    def quarantine_summary(self) -> tuple[int, float | None]:
        """How many readings are quarantined here, and when the oldest was queued (unix time)."""
        return local_quarantine.summary(self._db)

    def release_quarantined(self, seqs: Collection[int] | None) -> list[int]:
        """Put quarantined readings (all when `seqs` is None) back in the outbox under their own sequence
        numbers, so the cloud still de-duplicates them; returns the sequences released."""
        with self._transaction():
            chosen = local_quarantine.chosen(self._db, seqs)
            local_quarantine.release(self._db, chosen)
            if chosen:
                self._event("quarantine_released", f"released for another try: seq {', '.join(map(str, chosen))}")
        return chosen

    def discard_quarantined(self, seqs: Collection[int] | None) -> list[int]:
        """Delete quarantined readings for good (all when `seqs` is None), counted; returns the sequences."""
        with self._transaction():
            chosen = local_quarantine.chosen(self._db, seqs)
            local_quarantine.delete(self._db, chosen)
            self._bump("quarantine_discarded", len(chosen))
            if chosen:
                self._event("quarantine_discarded", f"discarded by the installer: seq {', '.join(map(str, chosen))}")
        return chosen

    # --- bounds --------------------------------------------------------------------------------------------

    def enforce_bounds(self, now: float | None = None) -> int:
        """Evict the oldest routine readings beyond the age bound, then beyond the size bound. Alarm-class
        readings are never evicted, even if they alone exceed the bounds. Returns the number evicted."""
        now = time.time() if now is None else now
        with self._transaction():
            evicted = self._db.execute(
                "DELETE FROM outbox WHERE alarm = 0 AND created_at < ?", (now - self.max_age_s,)
            ).rowcount
            excess = int(self._db.execute("SELECT total(size) FROM outbox").fetchone()[0]) - self.max_bytes
            if excess > 0:
                # Walk the routine rows oldest first, adding up sizes until the excess is covered.
                cutoff = self._db.execute(
                    "SELECT seq FROM (SELECT seq, sum(size) OVER (ORDER BY seq) AS running FROM outbox "
                    "WHERE alarm = 0) WHERE running >= ? ORDER BY seq LIMIT 1",
                    (excess,),
                ).fetchone()
                if cutoff is None:
                    evicted += self._db.execute("DELETE FROM outbox WHERE alarm = 0").rowcount
                else:
                    evicted += self._db.execute(
                        "DELETE FROM outbox WHERE alarm = 0 AND seq <= ?", (cutoff[0],)
                    ).rowcount
            # A delivery older than the outbox's age bound can no longer be told from a new message reliably,
            # and its readings would have been evicted anyway.
            self._db.execute("DELETE FROM deliveries WHERE at < ?", (now - self.max_age_s,))
            if evicted:
                self._bump("evicted", evicted)
                self._event("evicted", f"{evicted} routine readings evicted to stay within the outbox bounds")
        return evicted

    def note_overdue_alarms(self, older_than_s: float = 60.0, now: float | None = None) -> int:
        """Record one event per alarm-class reading unacknowledged for longer than `older_than_s` (the hook
        for a later local alarm); returns how many were newly overdue."""
        now = time.time() if now is None else now
        with self._transaction():
            rows = self._db.execute(
                "SELECT seq, body FROM outbox WHERE alarm = 1 AND overdue_noted = 0 AND created_at < ?",
                (now - older_than_s,),
            ).fetchall()
            for seq, body in rows:
                self._db.execute("UPDATE outbox SET overdue_noted = 1 WHERE seq = ?", (seq,))
                device = json.loads(body).get("device")
                self._event(
                    "alarm_unacknowledged", f"seq {seq} from {device} not acknowledged after {older_than_s:g} s"
                )
            self._bump("alarms_overdue", len(rows))
        return len(rows)

    # --- local alarm attempts (edge/local_alarm.py) -------------------------------------------------------

    def record_local_attempt(self, seq: int, attempt: Mapping[str, Any], detail: str) -> None:
        """Keep one local attempt to raise alarm `seq` (sent with the reading: device_profiles/wire.py), with
        an event and a counter, in one transaction."""
        ok = bool(attempt.get("ok"))
        with self._transaction():
            self._db.execute("INSERT INTO local_alarms (seq, attempt) VALUES (?, ?)", (seq, json.dumps(attempt)))
            self._event("local_alarm_raised" if ok else "local_alarm_failed", detail)
            self._bump("local_alarms_raised" if ok else "local_alarm_failures", 1)

    def _attempted_since(self, carried: Mapping[int, int]) -> set[int]:
        """The alarms in `carried` with more local attempts recorded than their upload held."""
        if not carried:
            return set()
        now = {seq: len(attempts) for seq, attempts in self.local_attempts(carried).items()}
        return {seq for seq, sent in carried.items() if now.get(seq, 0) > sent}

    def local_attempts(self, seqs: Collection[int]) -> dict[int, list[dict[str, Any]]]:
        """The recorded local attempts of the readings `seqs`, oldest first, by sequence number."""
        rows = self._db.execute(
            "SELECT seq, attempt FROM local_alarms WHERE seq IN (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(sorted(seqs)),),
        ).fetchall()
        found: dict[int, list[dict[str, Any]]] = {}
        for seq, attempt in rows:
            found.setdefault(int(seq), []).append(json.loads(attempt))
        return found

    def waiting_alarms(self) -> list[Pending]:
        """Every alarm-class reading still waiting, in sequence order."""
        rows = self._db.execute("SELECT seq, alarm, created_at, body FROM outbox WHERE alarm = 1 ORDER BY seq")
        return [Pending(seq, bool(alarm), created, json.loads(body)) for seq, alarm, created, body in rows]
