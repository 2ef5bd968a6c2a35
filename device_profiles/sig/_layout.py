"""Field tables: how every SIG characteristic here is laid out on the air.

A characteristic is a flags field followed by fields in a fixed order; each optional field is present when
its flag bits are set (or, for alternatives such as the 8/16-bit heart rate, when they are clear). All
multi-octet fields are little-endian. From a `Layout` and the flags the exact length the payload must have is
known before any field is read, so a short payload fails with one `DecodeError` naming both lengths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from device_profiles.errors import DecodeError
from device_profiles.medfloat import MedFloat, float_from_int, sfloat_from_int


@dataclass(frozen=True, slots=True)
class Wire:
    """A field encoding: its size in octets and whether the integer is two's complement."""

    name: str
    size: int
    signed: bool = False


U8 = Wire("uint8", 1)
U16 = Wire("uint16", 2)
S16 = Wire("sint16", 2, signed=True)
U24 = Wire("uint24", 3)
SFLOAT = Wire("SFLOAT", 2)
FLOAT = Wire("FLOAT", 4)
DATE_TIME = Wire("Date Time", 7)


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a layout. `when` are the flag bits that announce it (0 = always present); with
    `when_clear` the field is present when those bits are clear instead."""

    name: str
    wire: Wire
    when: int = 0
    when_clear: bool = False

    def present(self, flags: int) -> bool:
        """Whether the flags announce this field."""
        if self.when == 0:
            return True
        announced = flags & self.when == self.when
        return not announced if self.when_clear else announced


@dataclass(frozen=True, slots=True)
class Layout:
    """A characteristic (or CGM record) layout: flags encoding, the defined flag bits, the field table."""

    source: str
    flags: Wire
    defined_flags: int
    fields: tuple[Field, ...]

    def required(self, flags: int) -> int:
        """Octets the payload must hold for these flags."""
        return self.flags.size + sum(f.wire.size for f in self.fields if f.present(flags))


@dataclass(frozen=True, slots=True)
class Packet:
    """The raw octets of each announced field, with typed accessors."""

    flags: int
    reserved_flags: int
    raw: Mapping[str, bytes]
    end: int

    def has(self, name: str) -> bool:
        """Whether the field was announced."""
        return name in self.raw

    def uint(self, name: str) -> int | None:
        """An unsigned integer field, None when absent."""
        octets = self.raw.get(name)
        return None if octets is None else int.from_bytes(octets, "little")

    def sint(self, name: str) -> int | None:
        """A two's-complement integer field, None when absent."""
        octets = self.raw.get(name)
        return None if octets is None else int.from_bytes(octets, "little", signed=True)

    def medfloat(self, name: str) -> MedFloat | None:
        """An SFLOAT (2 octets) or FLOAT (4 octets) field, None when absent."""
        raw = self.uint(name)
        if raw is None:
            return None
        return sfloat_from_int(raw) if len(self.raw[name]) == 2 else float_from_int(raw)


def read(layout: Layout, data: bytes, start: int = 0, length: int | None = None) -> Packet:
    """Split `data[start:start+length]` into the fields its flags announce.

    Raises `DecodeError` when the flags or any announced field do not fit. Octets after the announced fields
    are left alone: `Packet.end` says where the layout stopped.
    """
    stop = len(data) if length is None else start + length
    available = stop - start
    if available < layout.flags.size:
        raise DecodeError(layout.source, data[start:stop], layout.flags.size, "no flags field")
    flags = int.from_bytes(data[start : start + layout.flags.size], "little")
    required = layout.required(flags)
    if available < required:
        width = layout.flags.size * 2
        raise DecodeError(layout.source, data[start:stop], required, f"flags 0x{flags:0{width}X} announce more octets")
    raw: dict[str, bytes] = {}
    offset = start + layout.flags.size
    for field in layout.fields:
        if field.present(flags):
            raw[field.name] = bytes(data[offset : offset + field.wire.size])
            offset += field.wire.size
    return Packet(flags=flags, reserved_flags=flags & ~layout.defined_flags, raw=raw, end=offset)


def bit_names(value: int, names: Mapping[int, str]) -> list[str]:
    """The names of the set bits of a status field, in bit order; undefined bits are reported by number."""
    return [names.get(bit, f"reserved_bit_{bit}") for bit in range(value.bit_length()) if value >> bit & 1]


def code_name(code: int, names: Mapping[int, str]) -> str:
    """The name of an enumerated value; a value the specification leaves undefined is `reserved_<code>`."""
    return names.get(code, f"reserved_{code}")
