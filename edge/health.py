"""Each device's health as the gateway knows it, for the heartbeat (edge/cloudlink.py) and `edge status`.

Durable, in the outbox file (the functions run inside a transaction the `Outbox` opens): the battery level of
the device's newest `device.battery` reading (BTHome and Xiaomi advertisements, Zigbee2MQTT messages), and
counts of its decode errors (input no codec could read) and connection errors (GATT sessions that failed),
since the outbox was created. Its last reading's time is the outbox's `devices` table. The signal (BLE RSSI
from every advertisement, Zigbee link quality from every message) changes with each message and is worth
nothing after a restart, so it stays in memory (`Signals`).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Literal

SCHEMA = """
CREATE TABLE IF NOT EXISTS device_health (
    address TEXT PRIMARY KEY, battery_pct REAL, battery_at REAL,
    decode_errors INTEGER NOT NULL DEFAULT 0, connection_errors INTEGER NOT NULL DEFAULT 0
);
"""
BATTERY_METRIC = "device.battery"
ErrorKind = Literal["decode_errors", "connection_errors"]
_UPSERT_ERROR = {
    kind: f"INSERT INTO device_health (address, {kind}) VALUES (?, ?) "  # noqa: S608 - one of two fixed names
    f"ON CONFLICT (address) DO UPDATE SET {kind} = {kind} + excluded.{kind}"
    for kind in ("decode_errors", "connection_errors")
}


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    """One device: its last reading's time, battery (and when it was read) and error counts (unix times)."""

    address: str
    last_reading_at: float | None
    battery_pct: float | None
    battery_at: float | None
    decode_errors: int
    connection_errors: int


@dataclass(frozen=True, slots=True)
class Signal:
    """The device's signal when last heard: BLE RSSI (dBm) or Zigbee link quality (0-255)."""

    rssi_dbm: int | None
    link_quality: int | None
    at: float


class Signals(dict[str, Signal]):
    """address -> the newest signal heard from a served device (in memory)."""

    def heard(self, address: str, *, rssi_dbm: object = None, link_quality: object = None) -> None:
        """Note a device's signal; values of the wrong type or out of range are left out, not guessed."""
        rssi = rssi_dbm if isinstance(rssi_dbm, int) and -127 <= rssi_dbm <= 20 else None
        quality = link_quality if isinstance(link_quality, int) and 0 <= link_quality <= 255 else None
        if rssi is not None or quality is not None:
            self[address] = Signal(rssi, quality, time.time())


def note_battery(db: sqlite3.Connection, address: str, value: object, at: float) -> None:
    """Remember a `device.battery` reading as the device's battery level (a percentage outside 0-100 is not)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 100:
        db.execute(
            "INSERT INTO device_health (address, battery_pct, battery_at) VALUES (?, ?, ?) ON CONFLICT (address) "
            "DO UPDATE SET battery_pct = excluded.battery_pct, battery_at = excluded.battery_at",
            (address, float(value), at),
        )


def count_error(db: sqlite3.Connection, address: str, kind: ErrorKind, by: int = 1) -> None:
    """Add to one of the device's error counts."""
    db.execute(_UPSERT_ERROR[kind], (address, by))


def rows(db: sqlite3.Connection, limit: int) -> list[DeviceHealth]:
    """Every device with a reading or a health entry, by address (at most `limit`)."""
    found = db.execute(
        "SELECT a.address, d.at, h.battery_pct, h.battery_at, coalesce(h.decode_errors, 0), "
        "coalesce(h.connection_errors, 0) FROM (SELECT address FROM devices UNION SELECT address FROM "
        "device_health) a LEFT JOIN devices d ON d.address = a.address "
        "LEFT JOIN device_health h ON h.address = a.address ORDER BY a.address LIMIT ?",
        (limit,),
    ).fetchall()
    return [DeviceHealth(*row) for row in found]
