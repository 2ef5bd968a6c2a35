"""`tryggheim edge status`: what the outbox says, read from its file so it works while the agent runs."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge import health
from edge import quarantine as local_quarantine
from edge.quarantine import Quarantined

_ERROR_COUNTERS = ("errors", "failures", "unavailable", "overdue", "refused")
# Degraded mode's record (edge/local_alarm.py): every local attempt, a path given up, a clock that jumped.
_LOCAL_EVENTS = ("local_alarm_raised", "local_alarm_failed", "local_alarm_gave_up", "clock_jump")


def _when(unix: float | None) -> str | None:
    return None if unix is None else datetime.fromtimestamp(unix, UTC).isoformat(timespec="seconds")


def read_status(outbox_path: Path) -> dict[str, Any]:
    """A snapshot of the outbox, opened read-only (WAL lets it read while the agent writes)."""
    if not outbox_path.exists():
        return {"outbox": str(outbox_path), "created": False}
    db = sqlite3.connect(f"file:{outbox_path}?mode=ro", uri=True, timeout=10)
    try:
        depth, alarms, oldest, size = db.execute(
            "SELECT count(*), total(alarm), min(created_at), total(size) FROM outbox"
        ).fetchone()
        counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
        state = dict(db.execute("SELECT key, value FROM state").fetchall())
        epoch = db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0]
        devices = db.execute("SELECT address, metric, value, at FROM devices ORDER BY address").fetchall()
        events = db.execute("SELECT at, kind, detail FROM events ORDER BY id DESC LIMIT 5").fetchall()
        local = db.execute(
            f"SELECT at, kind, detail FROM events WHERE kind IN ({','.join('?' * len(_LOCAL_EVENTS))}) "  # noqa: S608
            "ORDER BY id DESC LIMIT 10",
            _LOCAL_EVENTS,
        ).fetchall()
        # An outbox last opened by an agent older than the local quarantine has no such table yet.
        has_quarantine = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'quarantine'").fetchone()
        quarantined = local_quarantine.rows(db) if has_quarantine else []
        has_health = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'device_health'").fetchone()
        healths = [h for h in health.rows(db, 500) if h.battery_pct is not None or h.decode_errors
                   or h.connection_errors] if has_health else []  # fmt: skip
    finally:
        db.close()
    last_upload = state.get("last_upload_at")
    heartbeat = state.get("last_heartbeat_at")
    return {
        "outbox": str(outbox_path),
        "created": True,
        "epoch": epoch,
        "depth": int(depth),
        "alarms_waiting": int(alarms),
        "oldest_waiting": _when(oldest),
        "bytes": int(size),
        "last_upload": _when(float(last_upload)) if last_upload else None,
        "last_heartbeat": _when(float(heartbeat)) if heartbeat else None,
        "uploaded": counters.get("uploaded", 0),
        "evicted": counters.get("evicted", 0),
        "malformed": counters.get("malformed", 0),
        "watchdog_restarts": counters.get("watchdog_restarts", 0),
        "mqtt_messages": counters.get("mqtt_messages", 0),
        "errors": {k: v for k, v in counters.items() if k.endswith(_ERROR_COUNTERS)},
        "devices": [{"address": a, "metric": m, "value": v, "at": _when(at)} for a, m, v, at in devices],
        "quarantined": [_quarantined(q) for q in quarantined],
        # Battery and error counts per device (edge/health.py), as the heartbeat sends them; the signal is the
        # running agent's alone.
        "device_health": [_health(h) for h in healths],
        "local_alarms_raised": counters.get("local_alarms_raised", 0),
        "local_alarm_failures": counters.get("local_alarm_failures", 0),
        "local_alarm": [{"at": _when(at), "kind": kind, "detail": detail} for at, kind, detail in local],
        "recent_events": [{"at": _when(at), "kind": kind, "detail": detail} for at, kind, detail in events],
    }


def _health(h: health.DeviceHealth) -> dict[str, Any]:
    return {
        "address": h.address,
        "battery_pct": h.battery_pct,
        "battery_at": _when(h.battery_at),
        "decode_errors": h.decode_errors,
        "connection_errors": h.connection_errors,
    }


def _health_line(h: dict[str, Any]) -> str:
    battery = "-" if h["battery_pct"] is None else f"{h['battery_pct']:g} % at {h['battery_at']}"
    return (f"  {h['address']}: battery {battery}, decode errors {h['decode_errors']}, "
            f"connection errors {h['connection_errors']}")  # fmt: skip


def _quarantined(q: Quarantined) -> dict[str, Any]:
    return {
        "seq": q.seq,
        "alarm": q.alarm,
        "metric": q.body.get("metric"),
        "device": q.body.get("device"),
        "queued": _when(q.created_at),
        "quarantined": _when(q.quarantined_at),
        "refusals": q.refusals,
        "reason": q.answer,
    }


def render(status: dict[str, Any]) -> str:
    """Human-readable lines for an installer."""
    if not status["created"]:
        return f"outbox: {status['outbox']} not created yet (the agent has not run)\n"
    lines = [
        f"outbox: {status['outbox']} (epoch {status['epoch']})",
        f"outbox depth: {status['depth']} waiting ({status['alarms_waiting']} alarm-class), "
        f"oldest {status['oldest_waiting'] or '-'}",
        f"last successful upload: {status['last_upload'] or 'never'}",
        f"last heartbeat: {status['last_heartbeat'] or 'never'}",
        f"uploaded: {status['uploaded']}  evicted: {status['evicted']}  malformed input: {status['malformed']}",
        f"BLE scanner watchdog restarts: {status['watchdog_restarts']}  MQTT messages: {status['mqtt_messages']}",
        "errors: " + (", ".join(f"{k} {v}" for k, v in sorted(status["errors"].items())) or "none"),
        "devices:" if status["devices"] else "devices: none seen yet",
    ]
    lines += [f"  {d['address']}: {d['metric']} = {d['value']} at {d['at']}" for d in status["devices"]]
    if status["device_health"]:
        lines.append("device health (errors since the outbox was made):")
    lines += [_health_line(h) for h in status["device_health"]]
    held = status["quarantined"]
    lines.append(f"quarantined on the gateway: {len(held)}" + (
        " (the cloud refused them; `tryggheim edge quarantine retry|discard`)" if held else ""))  # fmt: skip
    lines += [f"  seq {q['seq']}{' ALARM' if q['alarm'] else ''}: {q['metric']} from {q['device']}, queued "
              f"{q['queued']}, quarantined {q['quarantined']} after {q['refusals']} refusals: {q['reason']}"
              for q in held]  # fmt: skip
    lines.append(
        f"local alarm path: {status['local_alarms_raised']} raised, {status['local_alarm_failures']} "
        "failed attempts" + (", newest first:" if status["local_alarm"] else "")
    )
    lines += [f"  {e['at']} {e['kind']}: {e['detail']}" for e in status["local_alarm"]]
    return "\n".join(lines) + "\n"
