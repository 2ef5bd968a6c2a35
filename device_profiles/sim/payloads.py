"""Raw payloads as real devices send them, built from readings: the inverse of the device_profiles codecs.

Only what the simulator needs: SIG Weight Measurement (0x2A9D), Blood Pressure Measurement (0x2A35) and PLX
Spot-Check (0x2A5E) with time stamps and optional status fields, a BTHome v2 button advertisement, and
zigbee2mqtt JSON messages.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

_WEIGHT_RESOLUTION_KG = 0.005


def sfloat(value: float, decimals: int = 0) -> bytes:
    """IEEE 11073 16-bit SFLOAT: 12-bit signed mantissa, 4-bit signed exponent (base 10), little-endian."""
    mantissa = round(value * 10**decimals)
    if not -2048 < mantissa < 2047:
        raise ValueError(f"{value} does not fit an SFLOAT with {decimals} decimals")
    raw: int = ((-decimals & 0x0F) << 12) | (mantissa & 0x0FFF)
    return raw.to_bytes(2, "little")


def date_time(moment: datetime, zone: ZoneInfo) -> bytes:
    """SIG Date Time (7 octets): the device shows local wall-clock time without a zone."""
    wall = moment.astimezone(zone)
    return wall.year.to_bytes(2, "little") + bytes([wall.month, wall.day, wall.hour, wall.minute, wall.second])


def weight(kg: float, at: datetime, zone: ZoneInfo) -> bytes:
    """0x2A9D in SI units with a time stamp (flags 0x02)."""
    return bytes([0x02]) + round(kg / _WEIGHT_RESOLUTION_KG).to_bytes(2, "little") + date_time(at, zone)


def blood_pressure(
    systolic: int, diastolic: int, pulse: int, at: datetime, zone: ZoneInfo, status: int | None = None
) -> bytes:
    """0x2A35 in mmHg with time stamp and pulse rate (flags 0x06), and the 16-bit Measurement Status when given
    (flag 0x10); the mean arterial pressure is computed."""
    mean = round(diastolic + (systolic - diastolic) / 3)
    flags = 0x06 | (0x10 if status is not None else 0)
    body = sfloat(systolic) + sfloat(diastolic) + sfloat(mean) + date_time(at, zone) + sfloat(pulse)
    return bytes([flags]) + body + (status.to_bytes(2, "little") if status is not None else b"")


def spot_check(spo2: int, pulse: int, at: datetime, zone: ZoneInfo, status: tuple[int, int] | None = None) -> bytes:
    """0x2A5E with a time stamp (flags 0x01), and when `status` is given its (16-bit Measurement Status,
    24-bit Device and Sensor Status) fields (flags 0x02 and 0x04)."""
    if status is None:
        return bytes([0x01]) + sfloat(spo2) + sfloat(pulse) + date_time(at, zone)
    measurement, sensor = status
    fields = measurement.to_bytes(2, "little") + sensor.to_bytes(3, "little")
    return bytes([0x07]) + sfloat(spo2) + sfloat(pulse) + date_time(at, zone) + fields


def bthome_button(packet_id: int, battery: int) -> bytes:
    """BTHome v2 service data (UUID 0xFCD2), unencrypted: packet id, battery %, button event "press"."""
    return bytes([0x40, 0x00, packet_id & 0xFF, 0x01, battery & 0xFF, 0x3A, 0x01])


def zigbee2mqtt(fields: dict[str, object]) -> bytes:
    """A zigbee2mqtt state message as published on `zigbee2mqtt/<name>`."""
    return json.dumps(fields, separators=(",", ":")).encode()
