"""The JSON mapping engine for MQTT payloads (Zigbee2MQTT style): one declarative table per device, no code.

A table maps a JSON field to a metric. A field is read in one of three ways, chosen by what the entry says:

* `values:` a value map (``contact: false -> door.open = 1``); a value outside the map is a not-reading;
* `above:` a numeric threshold (``power > 1000 W -> power.on = 1``), for a kettle on a smart plug;
* neither: the number is passed through (battery %).

Bad input never raises past `map_payload` except `DecodeError` for a payload that is not a JSON object: a
field of the wrong type, an empty or null value or an unmapped value is listed in `context["not_readings"]`;
fields the table does not know are listed in `context["unknown_fields"]`; fields named in `keep:` are
copied into the context of every observation (link quality, say).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from annotated_types import MinLen

from device_profiles.constraints import FORBID_UNKNOWN_KEYS
from device_profiles.errors import DecodeError
from device_profiles.metrics import load_catalogue
from device_profiles.numbers import JSONValue
from device_profiles.observation import Observation
from device_profiles.sig import Decoded

JSONType = Literal["boolean", "string", "number"]

# Which Python values count as which JSON type; bool is an int in Python, so it is excluded from numbers.
_TYPE_CHECKS = {
    "boolean": lambda value: isinstance(value, bool),
    "string": lambda value: isinstance(value, str),
    "number": lambda value: isinstance(value, int | float) and not isinstance(value, bool),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldMap:
    """How one JSON field becomes (at most) one observation."""

    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    metric: Annotated[str, MinLen(1)]
    type: JSONType
    # A value mapped to null is known and carries no reading (a button's `release` after `hold`).
    values: Mapping[str, float | None] | None = None
    above: float | None = None

    def __post_init__(self) -> None:
        # Checks across fields, after pydantic checked each field (it reports a ValueError at the field map).
        if self.values is not None and self.above is not None:
            raise ValueError("give `values` or `above`, not both")
        if self.above is not None and self.type != "number":
            raise ValueError("`above` compares numbers: type must be number")
        if self.values is None and self.above is None and self.type != "number":
            raise ValueError(f"a {self.type} field needs a `values` map")


@dataclass(frozen=True, slots=True, kw_only=True)
class JsonMapping:
    """The table of one device: mapped fields, fields kept as context, fields known and deliberately unused."""

    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    fields: Mapping[str, FieldMap]
    keep: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()


def _value_key(value: object) -> str:
    """The text a value-map key is written as in YAML: true/false for booleans, the string itself else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def map_payload(
    mapping: JsonMapping,
    text: str | bytes,
    *,
    device_id: str,
    received_at: datetime,
) -> Decoded:
    """Apply `mapping` to one JSON payload. Raises `DecodeError` only when the payload is not a JSON object."""
    raw = text.encode() if isinstance(text, str) else bytes(text)
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        reason = f"not JSON ({exc.__class__.__name__})"
        raise DecodeError("mqtt json", raw[:64], "a JSON object", reason=reason) from exc
    if not isinstance(document, dict):
        reason = f"JSON {type(document).__name__}, not an object"
        raise DecodeError("mqtt json", raw[:64], "a JSON object", reason=reason)

    catalogue = load_catalogue()
    not_readings: list[JSONValue] = []
    readings: list[tuple[str, float, str]] = []
    for name, rule in mapping.fields.items():
        if name not in document:
            continue
        reading = _read_field(rule, document[name])
        if isinstance(reading, str):
            not_readings.append({"field": name, "reason": reading, "metric": rule.metric})
            continue
        unit = catalogue[rule.metric].unit
        readings.append((rule.metric, reading, unit))

    known = set(mapping.fields) | set(mapping.keep) | set(mapping.ignore)
    kept = {name: _json_value(document[name]) for name in mapping.keep if name in document}
    context: dict[str, JSONValue] = {**kept, "not_readings": not_readings}
    unknown = sorted(str(name) for name in document if name not in known)
    if unknown:
        context["unknown_fields"] = list(unknown)
    observations = tuple(
        Observation(
            device_id=device_id,
            metric=metric,
            value=value,
            unit=unit,
            measured_at=None,
            received_at=received_at,
            context=kept,
        )
        for metric, value, unit in readings
    )
    return Decoded(observations=observations, context=context)


def _read_field(rule: FieldMap, value: object) -> float | str:
    """The reading of one field, or the reason it is none."""
    if value is None or value == "":
        return "empty"
    if not _TYPE_CHECKS[rule.type](value):
        return f"expected {rule.type}, got {_json_type(value)}"
    if rule.values is not None:
        key = _value_key(value)
        if key not in rule.values:
            return "unmapped_value"
        mapped = rule.values[key]
        return "no_reading_for_value" if mapped is None else _number(mapped)
    assert isinstance(value, int | float)  # checked by the type test above
    if not math.isfinite(value):
        return "not_finite"
    if rule.above is not None:
        return 1 if value > rule.above else 0
    return _number(value)


def _number(value: float) -> float:
    """Integers stay integers in JSON output (door.open = 1, not 1.0)."""
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def _json_type(value: object) -> str:
    names = {bool: "boolean", str: "string", int: "number", float: "number", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def _json_value(value: object) -> JSONValue:
    """A kept field, as JSON: scalars as they are, anything nested as its JSON text (context stays flat)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, sort_keys=True)
