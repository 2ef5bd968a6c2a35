"""Pulse Oximeter: PLX Spot-Check Measurement (0x2A5E) and PLX Continuous Measurement (0x2A5F).

SpO2 and pulse rate of the spot check, and of the continuous "normal" averaging, become observations; the
fast and slow averages of the continuous measurement stay in context. NaN while the probe acquires is
normal and is a not-reading, not an error.
"""

from __future__ import annotations

from typing import Final

from device_profiles.sig._collect import Collector
from device_profiles.sig._common import flags_context, read_noted, time_stamp
from device_profiles.sig._layout import (
    DATE_TIME,
    SFLOAT,
    U8,
    U16,
    U24,
    Field,
    Layout,
    Packet,
)

SPOT_CHECK = Layout(
    "PLX Spot-Check Measurement (0x2A5E)",
    U8,
    0x1F,
    (
        Field("spo2", SFLOAT),
        Field("pulse_rate", SFLOAT),
        Field("time_stamp", DATE_TIME, when=0x01),
        Field("measurement_status", U16, when=0x02),
        Field("device_sensor_status", U24, when=0x04),
        Field("pulse_amplitude_index", SFLOAT, when=0x08),
    ),
)
_CLOCK_NOT_SET: Final = 0x10

CONTINUOUS = Layout(
    "PLX Continuous Measurement (0x2A5F)",
    U8,
    0x1F,
    (
        Field("spo2", SFLOAT),
        Field("pulse_rate", SFLOAT),
        Field("spo2_fast", SFLOAT, when=0x01),
        Field("pulse_rate_fast", SFLOAT, when=0x01),
        Field("spo2_slow", SFLOAT, when=0x02),
        Field("pulse_rate_slow", SFLOAT, when=0x02),
        Field("measurement_status", U16, when=0x04),
        Field("device_sensor_status", U24, when=0x08),
        Field("pulse_amplitude_index", SFLOAT, when=0x10),
    ),
)

_MEASUREMENT_STATUS: Final = {
    5: "measurement_ongoing",
    6: "early_estimated_data",
    7: "validated_data",
    8: "fully_qualified_data",
    9: "data_from_measurement_storage",
    10: "data_for_demonstration",
    11: "data_for_testing",
    12: "calibration_ongoing",
    13: "measurement_unavailable",
    14: "questionable_measurement",
    15: "invalid_measurement",
}
_DEVICE_SENSOR_STATUS: Final = {
    0: "extended_display_update_ongoing",
    1: "equipment_malfunction",
    2: "signal_processing_irregularity",
    3: "inadequate_signal",
    4: "poor_signal",
    5: "low_perfusion",
    6: "erratic_signal",
    7: "nonpulsatile_signal",
    8: "questionable_pulse",
    9: "signal_analysis_ongoing",
    10: "sensor_interference",
    11: "sensor_unconnected",
    12: "unknown_sensor_connected",
    13: "sensor_displaced",
    14: "sensor_malfunctioning",
    15: "sensor_disconnected",
}
_STATUS_FIELDS: Final = (
    ("measurement_status", _MEASUREMENT_STATUS),
    ("device_sensor_status", _DEVICE_SENSOR_STATUS),
)


def _statuses(packet: Packet, out: Collector) -> None:
    for name, table in _STATUS_FIELDS:
        flags_context(packet, out, name, table)
    out.medfloat_context("pulse_amplitude_index", packet.medfloat("pulse_amplitude_index"), unit="%")


def decode_spot_check(data: bytes, out: Collector) -> None:
    """0x2A5E: one SpO2 and pulse rate, optional time stamp, statuses and pulse amplitude index."""
    packet = read_noted(SPOT_CHECK, data, out)
    measured_at = time_stamp(packet, out)
    if packet.flags & _CLOCK_NOT_SET:
        # The device says its clock was never set: whatever time it sent is not a time.
        out.context["device_clock_not_set"] = True
        measured_at = None
    _statuses(packet, out)
    out.medfloat("spo2", packet.medfloat("spo2"), "%", source="spo2", measured_at=measured_at)
    out.medfloat("heart_rate", packet.medfloat("pulse_rate"), "/min", source="pulse_rate", measured_at=measured_at)


def decode_continuous(data: bytes, out: Collector) -> None:
    """0x2A5F: SpO2 and pulse rate (normal averaging), optional fast/slow averages, statuses, PAI."""
    packet = read_noted(CONTINUOUS, data, out)
    _statuses(packet, out)
    for name in ("spo2_fast", "pulse_rate_fast", "spo2_slow", "pulse_rate_slow"):
        out.medfloat_context(name, packet.medfloat(name), unit="%" if name.startswith("spo2") else "/min")
    out.medfloat("spo2", packet.medfloat("spo2"), "%", source="spo2", measured_at=None)
    out.medfloat("heart_rate", packet.medfloat("pulse_rate"), "/min", source="pulse_rate", measured_at=None)
