"""0x2A9D Weight Measurement and 0x2A9C Body Composition Measurement: vectors from the spec."""

from __future__ import annotations

from profile_helpers import decode, not_read, values
from profile_vectors import COMPOSITION, STAMP_OSLO, WEIGHT

WEIGHT_UUID, COMPOSITION_UUID = 0x2A9D, 0x2A9C


def test_weight_si_and_imperial_at_the_fixed_resolutions() -> None:
    assert values(decode(WEIGHT_UUID, WEIGHT["si"])) == {"body.weight": 80.0}
    assert values(decode(WEIGHT_UUID, WEIGHT["imperial"])) == {"body.weight": 18.144}  # 40 lb


def test_weight_optional_fields() -> None:
    stamped = decode(WEIGHT_UUID, WEIGHT["time_stamp"])
    assert stamped.observations[0].measured_at is not None
    assert stamped.observations[0].measured_at.isoformat() == STAMP_OSLO
    assert decode(WEIGHT_UUID, WEIGHT["user_id"]).context["user_id"] == 2
    assert values(decode(WEIGHT_UUID, WEIGHT["bmi_height"])) == {
        "body.weight": 80.0,
        "body.bmi": 24.5,
        "body.height": 1.75,
    }


def test_weight_all_fields_imperial() -> None:
    decoded = decode(WEIGHT_UUID, WEIGHT["all"])
    assert values(decoded) == {"body.weight": 18.144, "body.bmi": 24.5, "body.height": 1.824}  # 71.8 in
    assert decoded.context["user_id"] == "unknown"


def test_weight_unsuccessful_is_not_a_reading() -> None:
    decoded = decode(WEIGHT_UUID, WEIGHT["unsuccessful"])
    assert decoded.observations == ()
    assert not_read(decoded) == {"weight": "measurement_unsuccessful"}
    with_bmi = decode(WEIGHT_UUID, WEIGHT["unsuccessful_with_bmi"])
    assert values(with_bmi) == {"body.bmi": 24.5, "body.height": 1.75}


def test_weight_reserved_flags_and_trailing() -> None:
    reserved = decode(WEIGHT_UUID, WEIGHT["reserved_flags"])
    assert (values(reserved), reserved.context["reserved_flags"]) == ({"body.weight": 80.0}, "0xF0")
    assert decode(WEIGHT_UUID, WEIGHT["trailing"]).context["trailing_octets"] == "0102"


def test_composition_each_field() -> None:
    def context(case: str, key: str) -> object:
        return decode(COMPOSITION_UUID, COMPOSITION[case]).context[key]

    assert values(decode(COMPOSITION_UUID, COMPOSITION["fat"])) == {"body.fat": 25.0}
    assert decode(COMPOSITION_UUID, COMPOSITION["time_stamp"]).observations[0].measured_at is not None
    assert context("user_id", "user_id") == 1
    assert context("basal_metabolism", "basal_metabolism") == {"value": 7500, "unit": "kJ"}
    assert context("muscle_percentage", "muscle_percentage") == {"value": 45.0, "unit": "%"}
    assert context("muscle_mass", "muscle_mass") == {"value": 40.0, "unit": "kg"}
    assert context("fat_free_mass", "fat_free_mass") == {"value": 50.0, "unit": "kg"}
    assert context("soft_lean_mass", "soft_lean_mass") == {"value": 49.5, "unit": "kg"}
    assert context("body_water_mass", "body_water_mass") == {"value": 35.0, "unit": "kg"}
    assert values(decode(COMPOSITION_UUID, COMPOSITION["impedance"]))["body.impedance"] == 500.0
    assert values(decode(COMPOSITION_UUID, COMPOSITION["weight"]))["body.weight"] == 80.0
    assert values(decode(COMPOSITION_UUID, COMPOSITION["height"]))["body.height"] == 1.75
    assert context("multiple_packet", "multiple_packet") is True
    assert values(decode(COMPOSITION_UUID, COMPOSITION["imperial"]))["body.weight"] == 18.144


def test_composition_all_fields_imperial() -> None:
    decoded = decode(COMPOSITION_UUID, COMPOSITION["all"])
    assert values(decoded) == {
        "body.fat": 25.0,
        "body.impedance": 500.0,
        "body.weight": 72.5748,  # 160.00 lb
        "body.height": 4.445,  # 175.0 in: implausible, and still decoded faithfully
    }
    assert decoded.context["muscle_mass"] == {"value": 80.0, "unit": "[lb_av]"}
    assert decoded.context["multiple_packet"] is True


def test_composition_unsuccessful_stops_after_body_fat() -> None:
    for case in ("unsuccessful", "unsuccessful_flags_announce_more"):
        decoded = decode(COMPOSITION_UUID, COMPOSITION[case])
        assert decoded.observations == ()
        assert not_read(decoded) == {"body_fat": "measurement_unsuccessful"}


def test_composition_reserved_flags_and_trailing() -> None:
    reserved = decode(COMPOSITION_UUID, COMPOSITION["reserved_flags"])
    assert (values(reserved), reserved.context["reserved_flags"]) == ({"body.fat": 25.0}, "0xE000")
    assert decode(COMPOSITION_UUID, COMPOSITION["trailing"]).context["trailing_octets"] == "99"
