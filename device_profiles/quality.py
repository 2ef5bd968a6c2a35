"""Which device status flags make a reading doubtful, and which one is a finding in its own right.

A blood-pressure monitor (GATT 0x2A35 measurement status) says when the person moved, the cuff sat too
loose or the body was badly placed; a pulse oximeter (0x2A5E measurement and device/sensor status) says
when perfusion was low, the signal poor or the sensor displaced. Measuring technique causes about half of
the false alerts in home telemonitoring (Radhakrishnan 2013), so detection asks for a new measurement
before it alerts on such a reading. An irregular pulse is the opposite: it may be atrial fibrillation, so it
is reported as its own observation (`pulse.irregular`) and never treated as noise.

The decoders store the flags in the reading's context under the status field's name, either as a list of
flag names (oximeter) or as `{"flags": [...]}` (blood pressure); both shapes are read here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

IRREGULAR_PULSE: Final = "irregular_pulse"
IRREGULAR_PULSE_METRIC: Final = "pulse.irregular"

# Per context field, the flags that make the reading's value doubtful (bit names of the decoders' tables).
DOUBTFUL_FLAGS: Final[Mapping[str, frozenset[str]]] = {
    "measurement_status": frozenset(
        {
            "body_movement",
            "cuff_too_loose",
            "improper_position",
            "calibration_ongoing",
            "measurement_unavailable",
            "questionable_measurement",
            "invalid_measurement",
        }
    ),
    "device_sensor_status": frozenset(
        {
            "equipment_malfunction",
            "signal_processing_irregularity",
            "inadequate_signal",
            "poor_signal",
            "low_perfusion",
            "erratic_signal",
            "nonpulsatile_signal",
            "questionable_pulse",
            "sensor_interference",
            "sensor_unconnected",
            "unknown_sensor_connected",
            "sensor_displaced",
            "sensor_malfunctioning",
            "sensor_disconnected",
        }
    ),
}


def _flags(field: object) -> frozenset[str]:
    if isinstance(field, Mapping):
        field = field.get("flags")
    if isinstance(field, list | tuple):
        return frozenset(str(flag) for flag in field)
    return frozenset()


def doubtful_reasons(context: Mapping[str, object] | None) -> tuple[str, ...]:
    """The flags in a reading's context that make its value doubtful, sorted; empty for a trusted reading."""
    if not context:
        return ()
    found: set[str] = set()
    for field, doubtful in DOUBTFUL_FLAGS.items():
        found |= _flags(context.get(field)) & doubtful
    return tuple(sorted(found))


def irregular_pulse(context: Mapping[str, object] | None) -> bool | None:
    """Whether the blood-pressure monitor flagged an irregular pulse; None when it sent no status field."""
    if not context or "measurement_status" not in context:
        return None
    status = context["measurement_status"]
    return IRREGULAR_PULSE in _flags(status) if isinstance(status, Mapping) else None
