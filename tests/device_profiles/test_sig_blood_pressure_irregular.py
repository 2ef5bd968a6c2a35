"""0x2A35 `pulse.irregular`: bytes built by hand from the Bluetooth SIG Blood Pressure Service 1.1 (GATT
characteristic 0x2A35): a flags octet (bit 0 kPa, bit 1 time stamp, bit 2 pulse rate, bit 3 user id, bit 4
measurement status), three SFLOAT pressures, then the fields the flags announce in that order; the status is
a uint16 whose bit 2 is "irregular pulse detected" (bit 0 body movement, bit 1 cuff too loose, bits 3-4 the
pulse-rate range, bit 5 improper measurement position)."""

from __future__ import annotations

import struct

import pytest
from profile_helpers import decode, values

from device_profiles.quality import IRREGULAR_PULSE_METRIC, irregular_pulse

BPM, ICP = 0x2A35, 0x2A36
TIME_STAMP, PULSE_RATE, STATUS = 0x02, 0x04, 0x10
IRREGULAR_BIT = 1 << 2


def sfloat(mantissa: int, exponent: int = 0) -> bytes:
    """An IEEE 11073 16-bit SFLOAT: a 4-bit exponent above a 12-bit mantissa, little-endian."""
    return struct.pack("<H", ((exponent & 0xF) << 12) | (mantissa & 0x0FFF))


def measurement(status: int | None, *, stamped: bool = True) -> bytes:
    """A finished measurement of 142/88 mmHg (mean 106), pulse 77, with the status field when given."""
    flags = PULSE_RATE | (TIME_STAMP if stamped else 0) | (STATUS if status is not None else 0)
    body = bytes([flags]) + sfloat(142) + sfloat(88) + sfloat(106)
    if stamped:
        body += struct.pack("<HBBBBB", 2026, 11, 3, 7, 45, 10)  # 2026-11-03 07:45:10 device time
    body += sfloat(77)
    if status is not None:
        body += struct.pack("<H", status)
    return body


def _irregular(data: bytes, uuid: int = BPM) -> list[tuple[float | str, str]]:
    decoded = decode(uuid, data.hex())
    return [(o.value, o.unit) for o in decoded.observations if o.metric == IRREGULAR_PULSE_METRIC]


def test_the_irregular_pulse_bit_becomes_a_reading_at_the_measurements_time() -> None:
    decoded = decode(BPM, measurement(IRREGULAR_BIT).hex())
    assert values(decoded) == {
        "bp.systolic": 142,
        "bp.diastolic": 88,
        "bp.mean": 106,
        "heart_rate": 77,
        IRREGULAR_PULSE_METRIC: 1,
    }
    times = {o.metric: o.measured_at for o in decoded.observations}
    assert times[IRREGULAR_PULSE_METRIC] is not None
    assert times[IRREGULAR_PULSE_METRIC].isoformat() == "2026-11-03T07:45:10+01:00"
    assert set(times.values()) == {times["bp.systolic"]}  # the same measurement, the same time
    assert _irregular(measurement(IRREGULAR_BIT)) == [(1, "1")]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (0x0000, 0),  # checked, nothing found
        (0x0023, 0),  # movement, loose cuff, improper position: doubtful, yet the pulse was regular
        (0x0018, 0),  # pulse rate "reserved" range only
        (0x0004, 1),
        (0x003F, 1),  # every defined bit at once
        (0xFFC4, 1),  # reserved high bits set as well
    ],
)
def test_the_reading_follows_bit_2_alone(status: int, expected: int) -> None:
    assert _irregular(measurement(status)) == [(expected, "1")]
    assert _irregular(measurement(status, stamped=False)) == [(expected, "1")]


def test_no_status_field_means_no_reading_not_a_regular_pulse() -> None:
    assert _irregular(measurement(None)) == []


def test_the_intermediate_cuff_pressure_never_reports_it() -> None:
    # 0x2A36 has the 0x2A35 layout; its status belongs to the measurement still in progress.
    cuff = bytes([STATUS]) + sfloat(150) + sfloat(0x07FF) + sfloat(0x07FF) + struct.pack("<H", IRREGULAR_BIT)
    assert values(decode(ICP, cuff.hex())) == {"bp.cuff_pressure": 150}


def test_the_reading_agrees_with_the_quality_table_for_every_status() -> None:
    for status in [*range(0x40), 0x0100, 0x8004, 0xFFFF]:
        decoded = decode(BPM, measurement(status).hex())
        [reading] = [o for o in decoded.observations if o.metric == IRREGULAR_PULSE_METRIC]
        assert reading.value == int(bool(irregular_pulse(reading.context))), hex(status)
