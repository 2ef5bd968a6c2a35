"""0x2A35 Blood Pressure, 0x2A36 Intermediate Cuff Pressure, 0x2A1C Temperature: vectors from the spec."""

from __future__ import annotations

import pytest
from profile_helpers import decode, not_read, values
from profile_vectors import BP, CUFF, SF_NAN, SF_NINF, SF_NRES, SF_PINF, SF_RESERVED, STAMP_OSLO, TEMPERATURE

BPM, ICP, TEMP = 0x2A35, 0x2A36, 0x2A1C


def test_bp_mmhg() -> None:
    decoded = decode(BPM, BP["plain"])
    assert values(decoded) == {"bp.systolic": 120, "bp.diastolic": 80, "bp.mean": 93}
    assert {o.unit for o in decoded.observations} == {"mm[Hg]"}
    assert all(o.measured_at is None for o in decoded.observations)


def test_bp_kpa_is_converted() -> None:
    got = values(decode(BPM, BP["kpa"]))
    assert got == {"bp.systolic": 120.0, "bp.diastolic": 80.26, "bp.mean": 90.01}


def test_bp_time_stamp() -> None:
    decoded = decode(BPM, BP["time_stamp"])
    assert {o.measured_at.isoformat() for o in decoded.observations if o.measured_at} == {STAMP_OSLO}
    assert decoded.context["time_stamp"] == {
        "device_time": "2024-10-27T12:30:05",
        "zone": "Europe/Oslo",
        "status": "ok",
    }


def test_bp_pulse_rate_user_status() -> None:
    assert values(decode(BPM, BP["pulse_rate"]))["heart_rate"] == 72
    assert decode(BPM, BP["user_id"]).context["user_id"] == 3
    status = decode(BPM, BP["status"]).context["measurement_status"]
    assert status == {
        "raw": "0x0025",
        "flags": ["body_movement", "irregular_pulse", "improper_position"],
        "pulse_rate_range": "within_range",
    }


def test_bp_all_fields() -> None:
    decoded = decode(BPM, BP["all"])
    assert values(decoded) == {
        "bp.systolic": 120.0,
        "bp.diastolic": 80.26,
        "bp.mean": 90.01,
        "heart_rate": 72,
        "pulse.irregular": 0,  # the status field is present and the irregular-pulse bit clear
    }
    assert decoded.context["user_id"] == "unknown"
    assert decoded.context["measurement_status"] == {
        "raw": "0x0012",
        "flags": ["cuff_too_loose"],
        "pulse_rate_range": "below_lower_limit",
    }
    assert decoded.context["unit_sent"] == "kPa"
    assert all(o.measured_at is not None for o in decoded.observations)
    assert decoded.observations[0].context["user_id"] == "unknown"  # observations carry the shared context


def test_bp_reserved_flags_and_trailing_octets_are_noted_and_ignored() -> None:
    reserved = decode(BPM, BP["reserved_flags"])
    assert values(reserved) == values(decode(BPM, BP["plain"]))
    assert reserved.context["reserved_flags"] == "0xE0"
    trailing = decode(BPM, BP["trailing"])
    assert values(trailing) == values(decode(BPM, BP["plain"]))
    assert trailing.context["trailing_octets"] == "ABCD"


@pytest.mark.parametrize(
    ("special", "name"),
    [(SF_NAN, "NaN"), (SF_NRES, "NRes"), (SF_PINF, "+INF"), (SF_NINF, "-INF"), (SF_RESERVED, "reserved")],
)
def test_bp_special_values_are_not_readings(special: str, name: str) -> None:
    decoded = decode(BPM, f"04 {special} 5000 {special} {special}")
    assert values(decoded) == {"bp.diastolic": 80}
    assert not_read(decoded) == {"compound_1": name, "compound_3": name, "pulse_rate": name}


def test_cuff_pressure_reads_only_the_first_slot() -> None:
    for case in ("plain", "zeros"):
        decoded = decode(ICP, CUFF[case])
        assert values(decoded) == {"bp.cuff_pressure": 150}
        assert not_read(decoded) == {}
    assert values(decode(ICP, CUFF["kpa"])) == {"bp.cuff_pressure": 150.0}
    everything = decode(ICP, CUFF["all"])
    assert values(everything) == {"bp.cuff_pressure": 150.0, "heart_rate": 72}
    assert everything.context["user_id"] == 1
    assert decode(ICP, f"00 {SF_NAN} 0000 0000").observations == ()


def test_temperature_units_and_fields() -> None:
    assert values(decode(TEMP, TEMPERATURE["celsius"])) == {"body.temperature": 36.4}
    assert values(decode(TEMP, TEMPERATURE["fahrenheit"])) == {"body.temperature": 37.0}
    stamped = decode(TEMP, TEMPERATURE["time_stamp"])
    assert stamped.observations[0].measured_at is not None
    assert stamped.observations[0].measured_at.isoformat() == STAMP_OSLO
    assert decode(TEMP, TEMPERATURE["type"]).context["temperature_type"] == "tympanum"
    everything = decode(TEMP, TEMPERATURE["all"])
    assert values(everything) == {"body.temperature": 37.0}
    assert everything.context["temperature_type"] == "armpit"
    assert everything.context["unit_sent"] == "[degF]"


def test_temperature_reserved_values_flags_and_trailing() -> None:
    assert decode(TEMP, TEMPERATURE["reserved_type"]).context["temperature_type"] == "reserved_10"
    reserved = decode(TEMP, TEMPERATURE["reserved_flags"])
    assert reserved.context["reserved_flags"] == "0xF8"
    assert values(reserved) == {"body.temperature": 36.4}
    assert decode(TEMP, TEMPERATURE["trailing"]).context["trailing_octets"] == "00"


@pytest.mark.parametrize(
    ("special", "name"),
    [
        ("FFFF7F00", "NaN"),
        ("00008000", "NRes"),
        ("FEFF7F00", "+INF"),
        ("02008000", "-INF"),
        ("01008000", "reserved"),
    ],
)
def test_temperature_specials(special: str, name: str) -> None:
    decoded = decode(TEMP, "00" + special)
    assert decoded.observations == ()
    assert not_read(decoded) == {"temperature": name}
