"""IEEE 11073-20601 SFLOAT (16 bit) and FLOAT (32 bit): a signed base-10 exponent over a signed mantissa.

Values are kept as `Decimal` so that 36.4 stays 36.4 and the exponent keeps telling how precise the device
claims to be (2 and 2.0 are different readings). The special values exist only with exponent 0; they are
reported by name and never turn into numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from device_profiles.errors import DecodeError

Special = str  # one of "NaN", "NRes", "+INF", "-INF", "reserved"

# Raw word -> name. All five have exponent 0, so 0x7FFFFFFF (exponent +127) is an ordinary FLOAT.
SFLOAT_SPECIALS: Final[dict[int, Special]] = {
    0x07FF: "NaN",
    0x0800: "NRes",
    0x07FE: "+INF",
    0x0802: "-INF",
    0x0801: "reserved",
}
FLOAT_SPECIALS: Final[dict[int, Special]] = {
    0x007FFFFF: "NaN",
    0x00800000: "NRes",
    0x007FFFFE: "+INF",
    0x00800002: "-INF",
    0x00800001: "reserved",
}


@dataclass(frozen=True, slots=True)
class MedFloat:
    """One decoded SFLOAT or FLOAT: either a number (`special` is None) or a named special value."""

    raw: int
    mantissa: int
    exponent: int
    special: Special | None

    @property
    def value(self) -> Decimal | None:
        """The number, exact in base 10; None for a special value."""
        if self.special is not None:
            return None
        return Decimal(self.mantissa).scaleb(self.exponent)

    @property
    def digits(self) -> int:
        """Significant digits the device sent (the mantissa's decimal digits)."""
        return len(str(abs(self.mantissa)))


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _split(raw: int, mantissa_bits: int, exponent_bits: int, specials: dict[int, Special]) -> MedFloat:
    mantissa = _signed(raw & ((1 << mantissa_bits) - 1), mantissa_bits)
    exponent = _signed(raw >> mantissa_bits, exponent_bits)
    return MedFloat(raw=raw, mantissa=mantissa, exponent=exponent, special=specials.get(raw))


def sfloat_from_int(raw: int) -> MedFloat:
    """Decode a 16-bit SFLOAT word (already assembled from its little-endian octets)."""
    return _split(raw, 12, 4, SFLOAT_SPECIALS)


def float_from_int(raw: int) -> MedFloat:
    """Decode a 32-bit FLOAT word (already assembled from its little-endian octets)."""
    return _split(raw, 24, 8, FLOAT_SPECIALS)


def decode_sfloat(data: bytes) -> MedFloat:
    """Decode exactly two octets, as sent on the air, to an SFLOAT; other lengths raise `DecodeError`."""
    if len(data) != 2:
        raise DecodeError("SFLOAT", data, 2, "wrong length")
    return sfloat_from_int(int.from_bytes(data, "little"))


def decode_float(data: bytes) -> MedFloat:
    """Decode exactly four octets, as sent on the air, to a FLOAT; other lengths raise `DecodeError`."""
    if len(data) != 4:
        raise DecodeError("FLOAT", data, 4, "wrong length")
    return float_from_int(int.from_bytes(data, "little"))
