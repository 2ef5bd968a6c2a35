"""0x2A37 Heart Rate, 0x2A18 Glucose Measurement, 0x2A34 Glucose Context: vectors from the spec."""

from __future__ import annotations

import pytest
from profile_helpers import decode, not_read, values
from profile_vectors import GLUCOSE, GLUCOSE_CONTEXT, HEART_RATE, SF_NAN

from device_profiles import DecodeError

HRM, GLU, GLU_CONTEXT = 0x2A37, 0x2A18, 0x2A34


def test_heart_rate_formats_and_contact() -> None:
    assert values(decode(HRM, HEART_RATE["uint8"])) == {"heart_rate": 72}
    assert values(decode(HRM, HEART_RATE["uint16"])) == {"heart_rate": 300}
    assert decode(HRM, HEART_RATE["uint8"]).context["sensor_contact"] == "not_supported"
    assert decode(HRM, HEART_RATE["contact_not_detected"]).context["sensor_contact"] == "not_detected"
    assert decode(HRM, HEART_RATE["contact_detected"]).context["sensor_contact"] == "detected"
    assert decode(HRM, HEART_RATE["uint8"]).observations[0].measured_at is None


def test_heart_rate_energy_and_rr_intervals() -> None:
    assert decode(HRM, HEART_RATE["energy"]).context["energy_expended"] == {"value": 1000, "unit": "kJ"}
    assert decode(HRM, HEART_RATE["rr_one"]).context["rr_intervals_s"] == [1.0]
    assert decode(HRM, HEART_RATE["rr_three"]).context["rr_intervals_s"] == [1.0, 0.5, 2.0]
    everything = decode(HRM, HEART_RATE["all"])
    assert values(everything) == {"heart_rate": 300}
    assert everything.context["rr_intervals_s"] == [1.0, 0.5]
    assert everything.context["energy_expended"] == {"value": 1000, "unit": "kJ"}
    assert everything.context["sensor_contact"] == "detected"


def test_heart_rate_reserved_flags_and_trailing() -> None:
    assert decode(HRM, HEART_RATE["reserved_flags"]).context["reserved_flags"] == "0xE0"
    odd = decode(HRM, HEART_RATE["trailing_odd_octet"])
    assert odd.context["rr_intervals_s"] == [1.0]
    assert odd.context["trailing_octets"] == "77"
    assert decode(HRM, HEART_RATE["trailing"]).context["trailing_octets"] == "0102"


def test_heart_rate_rr_flag_without_interval_is_structural() -> None:
    with pytest.raises(DecodeError, match="required 4"):
        decode(HRM, "10 48")


def test_glucose_base_time_and_offset() -> None:
    base = decode(GLU, GLUCOSE["base_only"])
    assert base.observations == ()
    assert base.context["sequence_number"] == 1
    assert base.context["context_follows"] is False
    offset = decode(GLU, GLUCOSE["time_offset"])
    assert offset.context["time_offset_min"] == -5


def test_glucose_kg_per_litre() -> None:
    decoded = decode(GLU, GLUCOSE["kg_per_l"])
    assert values(decoded) == {"blood.glucose": 5.0}  # 90 mg/dL = 4.996 mmol/L, 3 significant digits sent
    reading = decoded.observations[0]
    assert reading.unit == "mmol/L"
    assert reading.measured_at is not None and reading.measured_at.isoformat() == "2024-01-21T08:00:00+01:00"
    assert reading.context["raw_value"] == 0.0009
    assert reading.context["raw_unit"] == "kg/L"
    assert reading.context["unit_flag"] == 0
    assert decoded.context["sample_type"] == "capillary_whole_blood"
    assert decoded.context["sample_location"] == "finger"


def test_glucose_mol_per_litre_and_status() -> None:
    decoded = decode(GLU, GLUCOSE["mol_per_l"])
    assert values(decoded) == {"blood.glucose": 5.0}
    assert decoded.observations[0].context["unit_flag"] == 1
    assert decode(GLU, GLUCOSE["status"]).context["sensor_status"] == ["battery_low", "sensor_malfunction"]
    assert decode(GLU, GLUCOSE["context_follows"]).context["context_follows"] is True


def test_glucose_all_fields() -> None:
    decoded = decode(GLU, GLUCOSE["all"])
    assert values(decoded) == {"blood.glucose": 5.0}
    assert decoded.observations[0].measured_at is not None
    assert decoded.observations[0].measured_at.isoformat() == "2024-01-21T08:15:00+01:00"
    assert decoded.context["sample_type"] == "capillary_plasma"
    assert decoded.context["sensor_status"] == ["battery_low", "time_fault"]
    assert decoded.context["context_follows"] is True


def test_glucose_control_solution_and_nan_are_not_readings() -> None:
    control = decode(GLU, GLUCOSE["control_solution"])
    assert control.observations == ()
    assert not_read(control) == {"concentration": "control_solution"}
    nan = decode(GLU, GLUCOSE["nan"])
    assert nan.observations == ()
    assert not_read(nan) == {"concentration": "NaN"}


def test_glucose_reserved_flags_and_trailing() -> None:
    assert decode(GLU, GLUCOSE["reserved_flags"]).context["reserved_flags"] == "0xE0"
    assert decode(GLU, GLUCOSE["trailing"]).context["trailing_octets"] == "00"


def test_glucose_context_fields() -> None:
    def context(case: str) -> dict[str, object]:
        decoded = decode(GLU_CONTEXT, GLUCOSE_CONTEXT[case])
        assert decoded.observations == ()
        return dict(decoded.context)

    assert context("sequence_only")["sequence_number"] == 1
    carbohydrate = context("carbohydrate")
    assert carbohydrate["carbohydrate_id"] == "breakfast"
    assert carbohydrate["carbohydrate"] == {"value": 0.05, "unit": "kg"}
    assert context("meal")["meal"] == "preprandial"
    assert (context("tester_health")["tester"], context("tester_health")["health"]) == (
        "self",
        "no_health_issues",
    )
    exercise = context("exercise")
    assert (exercise["exercise_duration_s"], exercise["exercise_intensity_percent"]) == (1800, 50)
    assert context("exercise_overrun")["exercise_duration_s"] == "overrun"
    assert context("medication_kg")["medication"] == {"value": 0.000005, "unit": "kg"}
    litres = context("medication_litres")
    assert (litres["medication_id"], litres["medication"]) == (
        "long_acting_insulin",
        {"value": 0.00001, "unit": "L"},
    )
    assert context("hba1c")["hba1c_percent"] == 6.5
    assert context("extended")["extended_flags"] == "0x00"
    everything = context("all")
    assert everything["meal"] == "preprandial"
    assert everything["hba1c_percent"] == 6.5
    assert everything["medication"] == {"value": 0.00001, "unit": "L"}
    assert context("trailing")["trailing_octets"] == "00"


def test_glucose_context_special_values() -> None:
    decoded = decode(GLU_CONTEXT, GLUCOSE_CONTEXT["nan_hba1c"])
    assert decoded.context["hba1c_percent"] == "NaN"
    assert not_read(decoded) == {"hba1c_percent": "NaN"}
    assert SF_NAN in GLUCOSE_CONTEXT["nan_hba1c"]
