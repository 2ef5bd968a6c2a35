"""SFLOAT and FLOAT, vectors written from IEEE 11073-20601 and the PHD transcoding white paper."""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_profiles import DecodeError, decode_float, decode_sfloat
from device_profiles.medfloat import MedFloat


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("7200", Decimal("114")),  # 114 mmHg: exponent 0, mantissa 0x072
        ("14F0", Decimal("2.0")),  # 0xF014: exponent -1, mantissa 20
        ("2E0B", Decimal("-1234")),  # 0x0B2E: exponent 0, mantissa 0xB2E = -1234
        ("76B0", Decimal("0.00118")),  # 0xB076: exponent -5, mantissa 118
        ("0000", Decimal("0")),
        ("FF17", Decimal("2047E1")),  # 0x17FF: exponent 1, mantissa 2047 is a number, not NaN
        ("0018", Decimal("-2048E1")),  # 0x1800: exponent 1, mantissa -2048 is a number, not NRes
        ("FF8F", Decimal("-0.00000001")),  # 0x8FFF: exponent -8, mantissa -1
    ],
)
def test_sfloat_numbers(wire: str, expected: Decimal) -> None:
    decoded = decode_sfloat(bytes.fromhex(wire))
    assert decoded.special is None
    assert decoded.value == expected
    assert str(decoded.value) == str(expected)  # the exponent's precision survives


@pytest.mark.parametrize(
    ("wire", "special"),
    [("FF07", "NaN"), ("0008", "NRes"), ("FE07", "+INF"), ("0208", "-INF"), ("0108", "reserved")],
)
def test_sfloat_specials_never_become_numbers(wire: str, special: str) -> None:
    decoded = decode_sfloat(bytes.fromhex(wire))
    assert decoded.special == special
    assert decoded.value is None


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("6C0100FF", Decimal("36.4")),  # 0xFF00016C
        ("FFFFFF7F", Decimal("-1E127")),  # 0x7FFFFFFF: exponent +127, mantissa -1 — not a special value
        ("FFFF7F01", Decimal("83886070")),  # mantissa 0x7FFFFF with exponent 1 is a number
        ("000080FE", Decimal("-8388608E-2")),
    ],
)
def test_float_numbers(wire: str, expected: Decimal) -> None:
    decoded = decode_float(bytes.fromhex(wire))
    assert decoded.special is None
    assert decoded.value == expected


@pytest.mark.parametrize(
    ("wire", "special"),
    [
        ("FFFF7F00", "NaN"),
        ("00008000", "NRes"),
        ("FEFF7F00", "+INF"),
        ("02008000", "-INF"),
        ("01008000", "reserved"),
    ],
)
def test_float_specials_never_become_numbers(wire: str, special: str) -> None:
    decoded = decode_float(bytes.fromhex(wire))
    assert (decoded.special, decoded.value) == (special, None)


@pytest.mark.parametrize(("codec", "size"), [(decode_sfloat, 2), (decode_float, 4)])
def test_wrong_length_is_a_decode_error(codec: object, size: int) -> None:
    assert callable(codec)
    for length in (0, size - 1, size + 1):
        with pytest.raises(DecodeError, match=f"required {size}"):
            codec(bytes(length))


def _reference(raw: int, bits_mantissa: int) -> Decimal:
    # Independent formulation: arithmetic shifts on Python ints instead of the library's bit masks.
    mantissa = raw & ((1 << bits_mantissa) - 1)
    if mantissa >= 1 << (bits_mantissa - 1):
        mantissa -= 1 << bits_mantissa
    exponent = raw >> bits_mantissa
    width = 16 - bits_mantissa if bits_mantissa == 12 else 8
    if exponent >= 1 << (width - 1):
        exponent -= 1 << width
    return Decimal(mantissa) * Decimal(10) ** exponent


def _assert_matches_reference(decoded: MedFloat, data: bytes, bits_mantissa: int, specials: tuple[int, ...]) -> None:
    """The special values come back as specials and every other word as the reference's number."""
    raw = int.from_bytes(data, "little")
    if raw in specials:
        assert decoded.value is None and decoded.special is not None
    else:
        assert decoded.special is None
        assert decoded.value == _reference(raw, bits_mantissa)


@given(st.binary(min_size=2, max_size=2))
def test_sfloat_property(data: bytes) -> None:
    _assert_matches_reference(decode_sfloat(data), data, 12, (0x07FF, 0x0800, 0x07FE, 0x0802, 0x0801))


@given(st.binary(min_size=4, max_size=4))
def test_float_property(data: bytes) -> None:
    _assert_matches_reference(
        decode_float(data), data, 24, (0x007FFFFF, 0x00800000, 0x007FFFFE, 0x00800002, 0x00800001)
    )


@given(st.binary(max_size=6))
def test_any_length_gives_a_value_or_the_documented_error(data: bytes) -> None:
    for codec in (decode_sfloat, decode_float):
        with contextlib.suppress(DecodeError):
            codec(data)
