"""0x2A5E/0x2A5F pulse oximetry and 0x2AA7 CGM (several records, E2E-CRC): vectors from the spec."""

from __future__ import annotations

import pytest
from profile_helpers import decode, not_read, values
from profile_vectors import CGM, CONTINUOUS, SPOT, STAMP_OSLO

from device_profiles import DecodeError
from device_profiles.sig.cgm import crc16_mcrf4xx

SPOT_UUID, CONTINUOUS_UUID, CGM_UUID = 0x2A5E, 0x2A5F, 0x2AA7


def test_crc_matches_the_catalogue_check_value() -> None:
    assert crc16_mcrf4xx(b"123456789") == 0x6F91


def with_crc(record_hex: str) -> str:
    """Append a correct E2E-CRC to one CRC-less record, adjusting its size octet."""
    record = bytearray(bytes.fromhex(record_hex))
    record[0] += 2
    return (bytes(record) + crc16_mcrf4xx(bytes(record)).to_bytes(2, "little")).hex()


def test_spot_check_fields() -> None:
    assert values(decode(SPOT_UUID, SPOT["plain"])) == {"spo2": 97, "heart_rate": 72}
    stamped = decode(SPOT_UUID, SPOT["time_stamp"]).observations[0]
    assert stamped.measured_at is not None and stamped.measured_at.isoformat() == STAMP_OSLO
    assert decode(SPOT_UUID, SPOT["status"]).context["measurement_status"] == ["validated_data"]
    assert decode(SPOT_UUID, SPOT["device_status"]).context["device_sensor_status"] == ["low_perfusion"]
    assert decode(SPOT_UUID, SPOT["pai"]).context["pulse_amplitude_index"] == {"value": 2.5, "unit": "%"}


def test_spot_check_clock_not_set_drops_the_time() -> None:
    decoded = decode(SPOT_UUID, SPOT["clock_not_set"])
    assert decoded.context["device_clock_not_set"] is True
    assert all(o.measured_at is None for o in decoded.observations)


def test_spot_check_all_and_acquiring() -> None:
    everything = decode(SPOT_UUID, SPOT["all"])
    assert values(everything) == {"spo2": 97, "heart_rate": 72}
    assert everything.context["device_clock_not_set"] is True
    acquiring = decode(SPOT_UUID, SPOT["acquiring"])
    assert acquiring.observations == ()
    assert not_read(acquiring) == {"spo2": "NaN", "pulse_rate": "NaN"}


def test_spot_check_reserved_flags_and_trailing() -> None:
    assert decode(SPOT_UUID, SPOT["reserved_flags"]).context["reserved_flags"] == "0xE0"
    assert decode(SPOT_UUID, SPOT["trailing"]).context["trailing_octets"] == "01"


def test_continuous_fields() -> None:
    assert values(decode(CONTINUOUS_UUID, CONTINUOUS["plain"])) == {"spo2": 97, "heart_rate": 72}
    fast = decode(CONTINUOUS_UUID, CONTINUOUS["fast"]).context
    assert (fast["spo2_fast"], fast["pulse_rate_fast"]) == (
        {"value": 96, "unit": "%"},
        {"value": 74, "unit": "/min"},
    )
    slow = decode(CONTINUOUS_UUID, CONTINUOUS["slow"]).context
    assert (slow["spo2_slow"], slow["pulse_rate_slow"]) == (
        {"value": 98, "unit": "%"},
        {"value": 70, "unit": "/min"},
    )
    assert decode(CONTINUOUS_UUID, CONTINUOUS["status"]).context["measurement_status"] == ["measurement_ongoing"]
    device = decode(CONTINUOUS_UUID, CONTINUOUS["device_status"]).context["device_sensor_status"]
    assert device == ["sensor_unconnected", "reserved_bit_16"]
    assert decode(CONTINUOUS_UUID, CONTINUOUS["pai"]).context["pulse_amplitude_index"] == {
        "value": 2.5,
        "unit": "%",
    }
    everything = decode(CONTINUOUS_UUID, CONTINUOUS["all"])
    assert values(everything) == {"spo2": 97, "heart_rate": 72}
    assert everything.context["device_sensor_status"] == ["low_perfusion"]
    acquiring = decode(CONTINUOUS_UUID, CONTINUOUS["acquiring"])
    assert (acquiring.observations, not_read(acquiring)) == ((), {"spo2": "NaN", "pulse_rate": "NRes"})
    assert decode(CONTINUOUS_UUID, CONTINUOUS["reserved_flags"]).context["reserved_flags"] == "0xE0"
    assert decode(CONTINUOUS_UUID, CONTINUOUS["trailing"]).context["trailing_octets"] == "01"


def test_cgm_record_fields() -> None:
    plain = decode(CGM_UUID, CGM["plain"])
    assert values(plain) == {"blood.glucose": 5.551}  # 100 mg/dL
    assert plain.observations[0].measured_at is None
    assert plain.context["records"] == [{"index": 0, "size": 6, "e2e_crc": "absent", "time_offset_min": 10}]

    def record(case: str) -> dict[str, object]:
        records = decode(CGM_UUID, CGM[case]).context["records"]
        assert isinstance(records, list) and isinstance(records[0], dict)
        return records[0]

    assert record("trend")["trend"] == {"value": 2.0, "unit": "mg/dL/min"}
    assert record("quality")["quality"] == {"value": 95, "unit": "%"}
    assert record("warning")["warning"] == ["below_patient_low"]
    assert record("cal_temp")["cal_temp"] == ["calibration_recommended"]
    assert record("status")["status"] == ["device_battery_low"]
    everything = record("all")
    assert (everything["status"], everything["cal_temp"], everything["warning"]) == (
        ["device_battery_low"],
        ["calibration_recommended"],
        ["below_patient_low"],
    )
    assert everything["annunciation_raw"] == "020401"
    assert decode(CGM_UUID, CGM["reserved_flags"]).context["records"] == [
        {"index": 0, "size": 6, "reserved_flags": "0x1C", "e2e_crc": "absent", "time_offset_min": 10}
    ]


def test_cgm_several_records() -> None:
    decoded = decode(CGM_UUID, CGM["two_records"])
    assert [o.value for o in decoded.observations] == [5.551, 6.106]  # 100 and 110 mg/dL
    assert [o.context["cgm_record"]["time_offset_min"] for o in decoded.observations] == [10, 15]  # type: ignore[index]


def test_cgm_crc_checked_when_present() -> None:
    good = decode(CGM_UUID, with_crc(CGM["all"]))
    assert values(good) == {"blood.glucose": 5.551}
    records = good.context["records"]
    assert isinstance(records, list) and isinstance(records[0], dict)
    assert records[0]["e2e_crc"] == "ok"
    corrupted = bytearray(bytes.fromhex(with_crc(CGM["plain"])))
    corrupted[2] ^= 0x01  # 101 mg/dL on the air, CRC for 100: not a reading
    bad = decode(CGM_UUID, corrupted.hex())
    assert bad.observations == ()
    assert not_read(bad) == {"records[0].glucose": "e2e_crc_mismatch"}


def test_cgm_failed_record_does_not_hide_the_good_one() -> None:
    corrupted = bytearray(bytes.fromhex(with_crc(CGM["plain"])))
    corrupted[-1] ^= 0xFF
    decoded = decode(CGM_UUID, corrupted.hex() + with_crc(CGM["trend"]))
    assert values(decoded) == {"blood.glucose": 5.551}
    assert not_read(decoded) == {"records[0].glucose": "e2e_crc_mismatch"}


def test_cgm_special_value() -> None:
    decoded = decode(CGM_UUID, CGM["nan"])
    assert (decoded.observations, not_read(decoded)) == ((), {"records[0].glucose": "NaN"})


@pytest.mark.parametrize(
    ("hex_text", "needle"),
    [
        ("", "empty notification"),
        ("05 00 6400 0A", "size 5"),  # below the minimum record size
        ("07 00 6400 0A00 00", "fits no layout"),  # one octet too many for the flags, one too few for a CRC
        ("0A 00 6400 0A00", "announces 10"),  # size beyond the payload
        ("06 00 6400 0A00 06", "announces 6"),  # a second record cut short
        ("06 E3 6400 0A00", "announce more"),  # flags announce fields the size leaves no room for
    ],
)
def test_cgm_structural_errors(hex_text: str, needle: str) -> None:
    with pytest.raises(DecodeError, match=needle):
        decode(CGM_UUID, hex_text)
