"""Glucose: Glucose Measurement (0x2A18) and Glucose Measurement Context (0x2A34).

The measurement's concentration is an SFLOAT in kg/L or mol/L (flag bit 2). It becomes `blood.glucose` in
mmol/L; the value and unit as sent stay in the observation's context. A control-solution test is not a
reading of the patient and yields no observation.
"""

from __future__ import annotations

from typing import Final

from device_profiles.numbers import JSONValue
from device_profiles.sig._collect import Collector, json_number
from device_profiles.sig._common import code_context, flags_context, read_noted
from device_profiles.sig._datetime import localise, parse_date_time
from device_profiles.sig._layout import DATE_TIME, S16, SFLOAT, U8, U16, Field, Layout, code_name

GLUCOSE = Layout(
    "Glucose Measurement (0x2A18)",
    U8,
    0x1F,
    (
        Field("sequence_number", U16),
        Field("base_time", DATE_TIME),
        Field("time_offset", S16, when=0x01),
        Field("concentration", SFLOAT, when=0x02),
        Field("type_location", U8, when=0x02),
        Field("sensor_status", U16, when=0x08),
    ),
)
_CONCENTRATION_UNITS: Final = {0: "kg/L", 1: "mol/L"}
_UNIT_SHIFT: Final = 2
_CONTEXT_FOLLOWS: Final = 0x10
_SAMPLE_TYPES: Final = {
    1: "capillary_whole_blood",
    2: "capillary_plasma",
    3: "venous_whole_blood",
    4: "venous_plasma",
    5: "arterial_whole_blood",
    6: "arterial_plasma",
    7: "undetermined_whole_blood",
    8: "undetermined_plasma",
    9: "interstitial_fluid",
    10: "control_solution",
}
_SAMPLE_LOCATIONS: Final = {
    1: "finger",
    2: "alternate_site_test",
    3: "earlobe",
    4: "control_solution",
    15: "not_available",
}
_CONTROL_SOLUTION: Final = ("control_solution",)
_SENSOR_STATUS: Final = {
    0: "battery_low",
    1: "sensor_malfunction",
    2: "sample_size_insufficient",
    3: "strip_insertion_error",
    4: "strip_type_incorrect",
    5: "result_above_device_range",
    6: "result_below_device_range",
    7: "temperature_too_high",
    8: "temperature_too_low",
    9: "read_interrupted",
    10: "general_device_fault",
    11: "time_fault",
}


def decode_glucose(data: bytes, out: Collector) -> None:
    """0x2A18: sequence number, base time (+ offset), concentration with sample type and location, status."""
    packet = read_noted(GLUCOSE, data, out)
    out.context["sequence_number"] = packet.uint("sequence_number")
    wall = parse_date_time(packet.raw["base_time"])
    offset = packet.sint("time_offset")
    if offset is not None:
        out.context["time_offset_min"] = offset
        wall = wall.shifted(offset)
    measured_at, out.context["time_stamp"] = localise(wall, out.env.zone)
    out.context["context_follows"] = bool(packet.flags & _CONTEXT_FOLLOWS)
    flags_context(packet, out, "sensor_status", _SENSOR_STATUS)
    type_location = packet.uint("type_location")
    if type_location is None:
        return
    sample_type = code_name(type_location & 0x0F, _SAMPLE_TYPES)
    location = code_name(type_location >> 4, _SAMPLE_LOCATIONS)
    out.context["sample_type"] = sample_type
    out.context["sample_location"] = location
    unit_flag = (packet.flags >> _UNIT_SHIFT) & 0x01
    unit = _CONCENTRATION_UNITS[unit_flag]
    concentration = packet.medfloat("concentration")
    raw: dict[str, JSONValue] = {
        "raw_value": json_number(concentration),
        "raw_unit": unit,
        "unit_flag": unit_flag,
    }
    if sample_type in _CONTROL_SOLUTION or location in _CONTROL_SOLUTION:
        out.not_reading("concentration", "control_solution", "blood.glucose", raw)
        return
    out.medfloat("blood.glucose", concentration, unit, source="concentration", measured_at=measured_at, extra=raw)


_MEDICATION_UNITS_FLAG: Final = 0x20
GLUCOSE_CONTEXT = Layout(
    "Glucose Measurement Context (0x2A34)",
    U8,
    0xFF,
    (
        Field("sequence_number", U16),
        Field("extended_flags", U8, when=0x80),
        Field("carbohydrate_id", U8, when=0x01),
        Field("carbohydrate", SFLOAT, when=0x01),
        Field("meal", U8, when=0x02),
        Field("tester_health", U8, when=0x04),
        Field("exercise_duration", U16, when=0x08),
        Field("exercise_intensity", U8, when=0x08),
        Field("medication_id", U8, when=0x10),
        Field("medication", SFLOAT, when=0x10),
        Field("hba1c", SFLOAT, when=0x40),
    ),
)
_CARBOHYDRATES: Final = {
    1: "breakfast",
    2: "lunch",
    3: "dinner",
    4: "snack",
    5: "drink",
    6: "supper",
    7: "brunch",
}
_MEALS: Final = {1: "preprandial", 2: "postprandial", 3: "fasting", 4: "casual", 5: "bedtime"}
_TESTERS: Final = {1: "self", 2: "health_care_professional", 3: "lab_test", 15: "not_available"}
_HEALTH: Final = {
    1: "minor_health_issues",
    2: "major_health_issues",
    3: "during_menses",
    4: "under_stress",
    5: "no_health_issues",
    15: "not_available",
}
_MEDICATIONS: Final = {
    1: "rapid_acting_insulin",
    2: "short_acting_insulin",
    3: "intermediate_acting_insulin",
    4: "long_acting_insulin",
    5: "pre_mixed_insulin",
}
_EXERCISE_OVERRUN: Final = 0xFFFF


def decode_glucose_context(data: bytes, out: Collector) -> None:
    """0x2A34: what surrounded a glucose measurement (meal, exercise, medication, HbA1c); no observations."""
    packet = read_noted(GLUCOSE_CONTEXT, data, out)
    out.context["sequence_number"] = packet.uint("sequence_number")
    extended = packet.uint("extended_flags")
    if extended is not None:
        out.context["extended_flags"] = f"0x{extended:02X}"
    # The id and its value share a flag bit, so both are there or neither is (likewise for the medication).
    code_context(packet, out, "carbohydrate_id", _CARBOHYDRATES)
    out.medfloat_context("carbohydrate", packet.medfloat("carbohydrate"), unit="kg")
    code_context(packet, out, "meal", _MEALS)
    tester_health = packet.uint("tester_health")
    if tester_health is not None:
        out.context["tester"] = code_name(tester_health & 0x0F, _TESTERS)
        out.context["health"] = code_name(tester_health >> 4, _HEALTH)
    duration = packet.uint("exercise_duration")
    if duration is not None:
        out.context["exercise_duration_s"] = "overrun" if duration == _EXERCISE_OVERRUN else duration
        out.context["exercise_intensity_percent"] = packet.uint("exercise_intensity")
    code_context(packet, out, "medication_id", _MEDICATIONS)
    unit = "L" if packet.flags & _MEDICATION_UNITS_FLAG else "kg"
    out.medfloat_context("medication", packet.medfloat("medication"), unit=unit)
    out.medfloat_context("hba1c_percent", packet.medfloat("hba1c"))
