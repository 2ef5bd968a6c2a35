"""Across all characteristics: truncation at every field boundary, device time handling, random bytes."""

from __future__ import annotations

import json
import math

import profile_vectors as v
import pytest
from hypothesis import given
from hypothesis import strategies as st
from profile_helpers import PROPERTY, RECEIVED, decode
from typer.testing import CliRunner

from device_profiles import CHARACTERISTICS, DecodeError, decode_characteristic, load_catalogue
from tryggheim.commands.profiles import app

TABLES = {
    0x2A35: v.BP,
    0x2A36: v.CUFF,
    0x2A1C: v.TEMPERATURE,
    0x2A9D: v.WEIGHT,
    0x2A9C: v.COMPOSITION,
    0x2A37: v.HEART_RATE,
    0x2A18: v.GLUCOSE,
    0x2A34: v.GLUCOSE_CONTEXT,
    0x2A5E: v.SPOT,
    0x2A5F: v.CONTINUOUS,
    0x2AA7: v.CGM,
    0x2A19: v.BATTERY,
}
# Vectors whose shorter prefixes are themselves complete payloads (more RR intervals, a second record).
OPEN_ENDED = {(0x2A37, "rr_three"), (0x2A37, "all"), (0x2AA7, "two_records")}
EXACT = [
    (uuid, name, hex_text)
    for uuid, table in TABLES.items()
    for name, hex_text in table.items()
    if not name.startswith("trailing") and (uuid, name) not in OPEN_ENDED
]


def test_every_characteristic_has_vectors() -> None:
    assert set(TABLES) == set(CHARACTERISTICS)


@pytest.mark.parametrize(("uuid", "name", "hex_text"), EXACT, ids=[f"{u:04X}-{n}" for u, n, _ in EXACT])
def test_every_truncation_is_a_structural_error(uuid: int, name: str, hex_text: str) -> None:
    data = bytes.fromhex(hex_text)
    decode(uuid, data.hex())  # the full vector decodes
    for cut in range(len(data)):
        with pytest.raises(DecodeError) as caught:
            decode(uuid, data[:cut].hex())
        message = str(caught.value)
        assert f"received {cut} octets" in message
        assert "required" in message


def test_truncation_exits_2_on_the_command_line() -> None:
    runner = CliRunner()
    for uuid, _, hex_text in EXACT:
        data = bytes.fromhex(hex_text)
        for cut in range(len(data)):
            result = runner.invoke(app, ["decode", "--format", f"0x{uuid:04X}", "--hex", data[:cut].hex()])
            assert result.exit_code == 2, (uuid, hex_text, cut)
            assert result.stderr.count("\n") == 1


def stamped_bp(stamp: str) -> tuple[str | None, object]:
    decoded = decode(0x2A35, f"02 {v.SF_120} {v.SF_80} {v.SF_93} {stamp}")
    moment = decoded.observations[0].measured_at
    return (None if moment is None else moment.isoformat()), decoded.context["time_stamp"]


@pytest.mark.parametrize(
    ("stamp", "status"),
    [
        ("0000 0A 1B 0C1E05", "unknown"),  # year 0 with a valid month and day
        ("E807 00 1B 0C1E05", "unknown"),  # month 0
        ("E807 0A 00 0C1E05", "unknown"),  # day 0
        ("0000 00 00 000000", "unknown"),  # all zero
        ("E807 0D 01 000000", "invalid"),  # month 13
        ("E807 02 1E 000000", "invalid"),  # 30 February
        ("E807 01 01 180000", "invalid"),  # hour 24
        ("E807 01 01 003C00", "invalid"),  # minute 60
        ("E807 01 01 00003C", "invalid"),  # second 60
        ("2D06 01 01 000000", "invalid"),  # year 1581, before the Gregorian calendar
        ("FFFF 01 01 000000", "invalid"),  # year 65535
    ],
)
def test_unknown_or_impossible_device_time_gives_no_measured_at(stamp: str, status: str) -> None:
    moment, context = stamped_bp(stamp)
    assert moment is None
    assert isinstance(context, dict) and context["status"] == status


def test_daylight_saving_edges_are_flagged() -> None:
    ambiguous, context = stamped_bp("E807 0A 1B 021E00")  # 2024-10-27 02:30 happens twice in Oslo
    assert ambiguous == "2024-10-27T02:30:00+02:00"
    assert isinstance(context, dict) and context["status"] == "dst_ambiguous"
    missing, context = stamped_bp("E807 03 1F 021E00")  # 2024-03-31 02:30 never happens in Oslo
    assert missing is not None and missing.startswith("2024-03-31T02:30:00")
    assert isinstance(context, dict) and context["status"] == "dst_nonexistent"
    summer, context = stamped_bp("E807 07 01 0C0000")
    assert summer == "2024-07-01T12:00:00+02:00"
    assert isinstance(context, dict) and context["status"] == "ok"


@pytest.mark.parametrize(("name", "percent"), [("full", 100), ("three_quarters", 75), ("empty", 0)])
def test_battery_level_is_the_devices_battery_in_percent(name: str, percent: int) -> None:
    decoded = decode(0x2A19, v.BATTERY[name])
    assert [(o.metric, o.value, o.unit, o.measured_at) for o in decoded.observations] == [
        ("device.battery", percent, "%", None)
    ]


@pytest.mark.parametrize(("hex_text", "reason"), [("65", "101 % is above 100"), ("FF", "255 % is above 100"),
                                                  ("6400", "not one octet")])  # fmt: skip
def test_a_battery_level_the_service_prohibits_is_refused(hex_text: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(0x2A19, hex_text)


def test_glucose_offset_across_a_day_boundary() -> None:
    decoded = decode(0x2A18, "03 0100 E807011F173B00 0200 5AB0 11")  # 2024-01-31 23:59 + 2 min
    assert decoded.observations[0].measured_at is not None
    assert decoded.observations[0].measured_at.isoformat() == "2024-02-01T00:01:00+01:00"


CATALOGUE = load_catalogue()


@PROPERTY
@given(uuid=st.sampled_from(sorted(CHARACTERISTICS)), data=st.binary(max_size=40))
def test_random_bytes_give_a_result_or_the_documented_error(uuid: int, data: bytes) -> None:
    try:
        decoded = decode_characteristic(uuid, data, device_id="fuzz", received_at=RECEIVED)
    except DecodeError as exc:
        assert exc.source and str(exc).count("\n") == 0
        return
    json.dumps(decoded.context)  # the context is always JSON
    for reading in decoded.observations:
        assert reading.unit == CATALOGUE[reading.metric].unit
        assert isinstance(reading.value, int | float) and math.isfinite(reading.value)


def sfloat(mantissa: int, exponent: int) -> str:
    return ((exponent & 0xF) << 12 | (mantissa & 0xFFF)).to_bytes(2, "little").hex()


SPECIAL_MANTISSAS = {0x7FF, 0x800, 0x7FE, 0x802, 0x801}
numbers = st.tuples(st.integers(-2048, 2047), st.integers(-8, 7)).filter(
    lambda p: not (p[1] == 0 and p[0] & 0xFFF in SPECIAL_MANTISSAS)
)


@PROPERTY
@given(sys_=numbers, dia=numbers, mean=numbers, extras=st.integers(0, 0xFF))
def test_blood_pressure_values_round_trip(
    sys_: tuple[int, int], dia: tuple[int, int], mean: tuple[int, int], extras: int
) -> None:
    flags = extras & ~0x07  # mmHg, no time stamp, no pulse: only user id, status and reserved bits vary
    tail = ("01" if flags & 0x08 else "") + ("0000" if flags & 0x10 else "")
    decoded = decode(0x2A35, f"{flags:02X}" + sfloat(*sys_) + sfloat(*dia) + sfloat(*mean) + tail)
    got = {o.metric: o.value for o in decoded.observations}
    for metric, (mantissa, exponent) in (("bp.systolic", sys_), ("bp.diastolic", dia), ("bp.mean", mean)):
        assert math.isclose(got[metric], mantissa * 10.0**exponent, rel_tol=1e-12, abs_tol=1e-15)


@PROPERTY
@given(rate=st.integers(0, 0xFFFF), wide=st.booleans(), rr=st.lists(st.integers(0, 0xFFFF), max_size=8))
def test_heart_rate_round_trip(rate: int, wide: bool, rr: list[int]) -> None:
    if not wide:
        rate &= 0xFF
    flags = (0x01 if wide else 0) | (0x10 if rr else 0)
    payload = bytes([flags]) + rate.to_bytes(2 if wide else 1, "little") + b"".join(x.to_bytes(2, "little") for x in rr)
    decoded = decode(0x2A37, payload.hex())
    assert [o.value for o in decoded.observations] == [rate]
    assert decoded.context.get("rr_intervals_s", []) == [x / 1024 for x in rr]


@PROPERTY
@given(record=st.binary(min_size=5, max_size=5), flip=st.integers(0, 6 * 8 - 1))
def test_cgm_crc_catches_every_single_bit_error(record: bytes, flip: int) -> None:
    from device_profiles.sig.cgm import crc16_mcrf4xx

    body = bytes([8, record[0] & 0x1C]) + record[1:]  # size 8 = 6 + CRC; only reserved flag bits vary
    frame = bytearray(body + crc16_mcrf4xx(body).to_bytes(2, "little"))
    reasons = {entry["reason"] for entry in decode(0x2AA7, frame.hex()).context["not_readings"]}  # type: ignore[index, union-attr]
    assert "e2e_crc_mismatch" not in reasons
    # Neither the size nor the flags octet: with the CRC inferred from the size, a flipped flag bit can turn
    # the CRC into a trend or quality field. Only the CGM Feature's E2E bit could tell (see cgm.py).
    position = 2 + flip // 8
    if position >= len(frame):
        return
    frame[position] ^= 1 << (flip % 8)
    try:
        decoded = decode(0x2AA7, frame.hex())
    except DecodeError:
        return  # a flipped flag bit announced fields the size has no room for
    assert decoded.observations == ()
