"""Blood Pressure Measurement (0x2A35) and Intermediate Cuff Pressure (0x2A36).

A finished measurement that carries the measurement-status field also yields `pulse.irregular` (1 when the
monitor flagged an irregular pulse, 0 when it checked and found none): a possible atrial fibrillation is a
finding of its own for the nurse (device_profiles.quality), not a remark on the pressure readings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from device_profiles.numbers import JSONValue
from device_profiles.quality import IRREGULAR_PULSE, IRREGULAR_PULSE_METRIC
from device_profiles.sig._collect import Collector
from device_profiles.sig._common import read_noted, time_stamp, user_id
from device_profiles.sig._layout import DATE_TIME, SFLOAT, U8, U16, Field, Layout, bit_names

_FIELDS: Final = (
    Field("compound_1", SFLOAT),
    Field("compound_2", SFLOAT),
    Field("compound_3", SFLOAT),
    Field("time_stamp", DATE_TIME, when=0x02),
    Field("pulse_rate", SFLOAT, when=0x04),
    Field("user_id", U8, when=0x08),
    Field("measurement_status", U16, when=0x10),
)
BLOOD_PRESSURE = Layout("Blood Pressure Measurement (0x2A35)", U8, 0x1F, _FIELDS)
CUFF_PRESSURE = Layout("Intermediate Cuff Pressure (0x2A36)", U8, 0x1F, _FIELDS)

_UNITS: Final = {0: "mm[Hg]", 1: "kPa"}
_IRREGULAR_PULSE_BIT: Final = 2
_STATUS_BITS: Final = {
    0: "body_movement",
    1: "cuff_too_loose",
    _IRREGULAR_PULSE_BIT: IRREGULAR_PULSE,
    5: "improper_position",
}
_PULSE_RANGE: Final = {0: "within_range", 1: "above_upper_limit", 2: "below_lower_limit", 3: "reserved"}
_PULSE_RANGE_SHIFT: Final = 3  # bits 3-4 are a two-bit number, not flags
_PULSE_RANGE_MASK: Final = 0x03 << _PULSE_RANGE_SHIFT

# Which compound value is which metric. The intermediate cuff pressure fills only the first slot; devices put
# NaN or zeros in the other two, so they are not read.
_BP_VALUES: Final = (("compound_1", "bp.systolic"), ("compound_2", "bp.diastolic"), ("compound_3", "bp.mean"))
_CUFF_VALUES: Final = (("compound_1", "bp.cuff_pressure"),)


def _decode(layout: Layout, values: tuple[tuple[str, str], ...], data: bytes, out: Collector, *, final: bool) -> None:
    packet = read_noted(layout, data, out)
    unit = _UNITS[packet.flags & 0x01]
    out.context["unit_sent"] = unit
    measured_at = time_stamp(packet, out)
    user_id(packet, out)
    status = packet.uint("measurement_status")
    if status is not None:
        out.context["measurement_status"] = _status(status)
    for source, metric in values:
        out.medfloat(metric, packet.medfloat(source), unit, source=source, measured_at=measured_at)
    out.medfloat("heart_rate", packet.medfloat("pulse_rate"), "/min", source="pulse_rate", measured_at=measured_at)
    if final and status is not None:
        # Only the finished measurement: the intermediate cuff pressures of the same measurement carry the
        # same status, and counting them would report one irregular pulse several times.
        irregular = (status >> _IRREGULAR_PULSE_BIT) & 1
        out.fixed(
            IRREGULAR_PULSE_METRIC, irregular, Decimal(1), "1", source="measurement_status", measured_at=measured_at
        )


def _status(status: int) -> dict[str, JSONValue]:
    flags: list[JSONValue] = list(bit_names(status & ~_PULSE_RANGE_MASK, _STATUS_BITS))
    return {
        "raw": f"0x{status:04X}",
        "flags": flags,
        "pulse_rate_range": _PULSE_RANGE[(status & _PULSE_RANGE_MASK) >> _PULSE_RANGE_SHIFT],
    }


def decode_blood_pressure(data: bytes, out: Collector) -> None:
    """0x2A35: systolic, diastolic and mean pressure, optional time stamp, pulse rate, user and status (with the
    status, `pulse.irregular` 0 or 1)."""
    _decode(BLOOD_PRESSURE, _BP_VALUES, data, out, final=True)


def decode_cuff_pressure(data: bytes, out: Collector) -> None:
    """0x2A36: the current cuff pressure (`bp.cuff_pressure`, shown live, never a clinical reading)."""
    _decode(CUFF_PRESSURE, _CUFF_VALUES, data, out, final=False)
