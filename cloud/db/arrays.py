"""One-dimensional arrays in PostgreSQL's binary format, dumped in a few calls instead of a Python loop per element.

The batched statements (cloud/db/batch.py) pass whole columns as array parameters and say each one's type in
their SQL (`%b::uuid[]`). psycopg dumps a list by first scanning it for the type of its elements, then calling
the element's dumper and packing its length one element at a time in Python: a 17-reading ingest group's
INSERT, 17 such parameters, took 84 µs to dump (docs/benchmarks.md, issue 25, seventh round). Here the element
type is the one the SQL names, its dumper is psycopg's own for that type, and the elements are joined by C
loops: for a fixed-width type without nulls the length prefix is the separator of one `bytes.join`. The bytes
are the same as psycopg's (tests/foundation/test_db_arrays.py). A list holding something the type's dumper does
not take (a string for a uuid) raises here, and the caller hands it to psycopg as it would without the cast.

Two shortcuts for what ingest sends most: a uuid array also takes its elements as their 16 raw bytes (what
`UUID.bytes` gives, as ingest keeps them for its binary COPY), joined without a call per element; and a text
array encodes each distinct string once (a group's readings repeat a few metric and unit names).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from operator import is_
from types import NoneType
from typing import Any

from psycopg import ProgrammingError, abc, postgres, pq

_HEAD = struct.Struct("!iiIii").pack  # dimensions, has nulls, element type, length, lower bound
_EMPTY = struct.Struct("!iiI").pack  # no dimensions, no nulls, element type
_LENGTH = struct.Struct("!i").pack
_NULL = b"\xff\xff\xff\xff"
_IS_NONE = partial(is_, None)


def _bool(value: object) -> bytes:
    """A bool's byte. psycopg's bool dumper writes any value's truth; a list of other things than bools must go
    as psycopg would send it (and be refused by the server)."""
    if value is True:
        return b"\x01"
    if value is False:
        return b"\x00"
    raise TypeError(f"not a bool: {value!r}")


# The element types dumped here, with the bytes of one element in the binary format (None: variable). Only types
# whose psycopg dumper refuses what it cannot write: the int2, int4 and float4 dumpers narrow a value silently
# (70,000 as an int2 is 4,464), where psycopg's dumping by value sends a wider type and the server refuses it.
_WIDTH = {"bool": 1, "int8": 8, "float8": 8, "timestamptz": 8, "uuid": 16, "text": None, "jsonb": None, "bytea": None}


@dataclass(frozen=True)
class ArrayType:
    """How to dump a list as an array of one element type: the array's oid and a function of the list."""

    oid: int
    dump: Callable[[Sequence[Any]], bytes]


def array_type(name: str, context: abc.AdaptContext) -> ArrayType | None:
    """The array of the element type `name` (as written in SQL before `[]`), or None when it is not one of
    `_WIDTH`'s or psycopg has no binary dumper for it (the parameter is then dumped by psycopg as usual)."""
    info = postgres.types.get(name)
    if info is None or not info.array_oid or info.name not in _WIDTH:
        return None
    try:
        dumper = context.adapters.get_dumper_by_oid(info.oid, pq.Format.BINARY)(NoneType, context)
    except ProgrammingError:  # no binary dumper for the type
        return None
    width = _WIDTH.get(info.name)
    element = _bool if info.name == "bool" else dumper.dump
    dump = {"uuid": _dump_uuid, "text": _dump_distinct}.get(info.name, _dump)
    return ArrayType(info.array_oid, partial(dump, element, info.oid, _LENGTH(width) if width else None))


def _dump(element: Callable[[Any], Any], oid: int, separator: bytes | None, values: Sequence[Any]) -> bytes:
    if not values:
        return _EMPTY(0, 0, oid)
    if separator is not None and not any(map(_IS_NONE, values)):
        return b"".join((_HEAD(1, 0, oid, len(values), 1), separator, separator.join(map(element, values))))
    parts = [_NULL if value is None else _LENGTH(len(data := element(value))) + data for value in values]
    return _HEAD(1, _NULL in parts, oid, len(values), 1) + b"".join(parts)


def _dump_uuid(element: Callable[[Any], Any], oid: int, separator: bytes | None, values: Sequence[Any]) -> bytes:
    """A uuid array whose elements may also be given as their 16 raw bytes: when all are, no call per element."""
    kinds = set(map(type, values))
    if separator is not None and kinds == {bytes} and set(map(len, values)) == {16}:
        return b"".join((_HEAD(1, 0, oid, len(values), 1), separator, separator.join(values)))
    return _dump(partial(_uuid_element, element) if bytes in kinds else element, oid, separator, values)


def _uuid_element(element: Callable[[Any], Any], value: Any) -> Any:
    return value if type(value) is bytes and len(value) == 16 else element(value)


def _dump_distinct(element: Callable[[Any], Any], oid: int, separator: bytes | None, values: Sequence[Any]) -> bytes:
    """A variable-width array whose elements are hashable and often repeated: each distinct one encoded once."""
    if not values:
        return _EMPTY(0, 0, oid)
    encoded = {value: _NULL if value is None else _LENGTH(len(data := element(value))) + data for value in set(values)}
    return _HEAD(1, None in encoded, oid, len(values), 1) + b"".join(map(encoded.__getitem__, values))
