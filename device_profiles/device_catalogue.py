"""The device catalogue: one YAML file per device family under `device_profiles/devices/`.

An entry says who made the device (identity), how it talks (transport), how a gateway recognises it (match
rule), which codec reads it, how often it should be heard from (reporting, read by the liveness rules) and
where all of that comes from (source; `verified: false` when it could not be checked). An entry that differs
from a family entry only in identity names it in `extends` and inherits everything else.

`load_devices()` validates every file against the schema and resolves every `extends`; a broken entry raises
`CatalogueError` naming the file, the entry and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from device_profiles.errors import CatalogueError
from device_profiles.metrics import load_catalogue
from device_profiles.mqtt_mapping import JsonMapping
from device_profiles.prepared import prepared, yaml_document

Transport = Literal["ble_gatt", "ble_adv", "mqtt"]
Codec = Literal["sig_gatt", "bthome_v2", "xiaomi_miscale_v1", "xiaomi_miscale_v2", "z2m_json"]
SourceKind = Literal["manual", "bluetooth_sig", "zigbee2mqtt", "home_assistant", "vendor", "library"]

# Which codecs a transport can carry: a catalogue entry cannot pair, say, an MQTT topic with a GATT codec.
CODECS_BY_TRANSPORT: Mapping[str, frozenset[str]] = {
    "ble_gatt": frozenset({"sig_gatt"}),
    "ble_adv": frozenset({"bthome_v2", "xiaomi_miscale_v1", "xiaomi_miscale_v2"}),
    "mqtt": frozenset({"z2m_json"}),
}

# Post-processing steps each codec performs; an entry lists those it relies on (shown in docs/devices.md),
# and may not claim one its codec does not do.
POST_STEPS: Mapping[str, frozenset[str]] = {
    "sig_gatt": frozenset(),
    "bthome_v2": frozenset({"drop_repeated_packet_id", "reject_counter_replay", "reject_downgrade"}),
    "xiaomi_miscale_v1": frozenset({"stabilised_weight_only", "once_per_weighing"}),
    "xiaomi_miscale_v2": frozenset({"stabilised_weight_only", "once_per_weighing", "impedance_when_stable"}),
    "z2m_json": frozenset({"threshold"}),
}

_ID = r"^[a-z0-9][a-z0-9-]*$"
_UUID16 = r"^0x[0-9A-F]{4}$"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Identity(_Strict):
    """Who made the device and what it is called."""

    vendor: Annotated[str, Field(min_length=1)]
    model: Annotated[str, Field(min_length=1)]
    name: Annotated[str, Field(min_length=1)]


class Match(_Strict):
    """How a gateway recognises the device; at least one rule is given."""

    service_uuids: tuple[Annotated[str, Field(pattern=_UUID16)], ...] = ()
    service_data_uuid: Annotated[str, Field(pattern=_UUID16)] | None = None
    local_name: str | None = None
    manufacturer_id: Annotated[int, Field(ge=0, le=0xFFFF)] | None = None
    topic: Annotated[str, Field(min_length=1)] | None = None
    zigbee_model: tuple[str, ...] = ()

    @field_validator("local_name")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            re.compile(pattern)
        return pattern

    @model_validator(mode="after")
    def _not_empty(self) -> Match:
        if not (self.service_uuids or self.service_data_uuid or self.local_name or self.topic or self.zigbee_model):
            raise ValueError("a match rule needs at least one of service_uuids, service_data_uuid, local_name, topic")
        if self.manufacturer_id is not None and not (self.local_name or self.service_uuids):
            raise ValueError("manufacturer_id alone matches every product of a vendor")
        return self

    def topic_matches(self, topic: str) -> bool:
        """True when an MQTT topic matches the `topic` pattern (MQTT wildcards `+` and a final `#`)."""
        if self.topic is None:
            return False
        pattern, levels = self.topic.split("/"), topic.split("/")
        for index, part in enumerate(pattern):
            if part == "#":
                return True
            if index >= len(levels) or (part != "+" and part != levels[index]):
                return False
        return len(levels) == len(pattern)


class Reporting(_Strict):
    """What the liveness rules expect: a periodic report, or events only (then the device needs supervision
    by other means, e.g. its battery or link reports)."""

    mode: Literal["periodic", "event", "on_demand"]
    interval_s: Annotated[int, Field(gt=0)] | None = None
    battery_interval_s: Annotated[int, Field(gt=0)] | None = None
    supervision: str | None = None

    @model_validator(mode="after")
    def _mode_fields(self) -> Reporting:
        if self.mode == "periodic" and self.interval_s is None:
            raise ValueError("a periodic device needs interval_s")
        if self.mode == "event" and self.supervision is None:
            raise ValueError("an event-only device needs `supervision`: how silence is noticed")
        return self


class Source(_Strict):
    """Where identity and match rule come from."""

    kind: SourceKind
    ref: Annotated[str, Field(min_length=1)]
    note: str | None = None


class DeviceEntry(_Strict):
    """One catalogue entry after `extends` is resolved: every field is present."""

    id: Annotated[str, Field(pattern=_ID)]
    family: str
    abstract: bool
    extends: str | None
    identity: Identity
    transport: Transport
    match: Match
    codec: Codec
    characteristics: tuple[Annotated[str, Field(pattern=_UUID16)], ...] = ()
    mapping: JsonMapping | None = None
    post: tuple[str, ...] = ()
    metrics: tuple[str, ...]
    reporting: Reporting
    source: Source
    verified: bool

    @model_validator(mode="after")
    def _consistent(self) -> DeviceEntry:
        if self.codec not in CODECS_BY_TRANSPORT[self.transport]:
            raise ValueError(f"codec {self.codec} cannot be carried by transport {self.transport}")
        if (self.codec == "z2m_json") != (self.mapping is not None):
            raise ValueError("a mapping is given exactly when the codec is z2m_json")
        if self.codec == "sig_gatt" and not self.characteristics:
            raise ValueError("a sig_gatt entry lists its characteristics")
        foreign = set(self.post) - POST_STEPS[self.codec]
        if foreign:
            raise ValueError(f"post steps {sorted(foreign)} are not performed by codec {self.codec}")
        if self.transport == "mqtt" and self.match.topic is None:
            raise ValueError("an mqtt entry needs match.topic")
        metrics = load_catalogue()
        unknown = [key for key in self.metrics if key not in metrics]
        if self.mapping is not None:
            unknown += [rule.metric for rule in self.mapping.fields.values() if rule.metric not in metrics]
        if unknown:
            raise ValueError(f"unknown metrics {sorted(set(unknown))}")
        return self

    @property
    def digital_supervision(self) -> bool:
        """True for a supervision sensor (digitalt tilsyn): it measures a metric that watches daily life at
        home, so it is activated only with a consent or documented assessment."""
        metrics = load_catalogue()
        return any(metrics[key].digital_supervision for key in self.metrics)


class _FamilyFile(_Strict):
    family: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]
    description: Annotated[str, Field(min_length=1)]
    entries: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class DeviceCatalogue:
    """All entries by id, in file order; `products` leaves out the abstract family entries."""

    entries: Mapping[str, DeviceEntry]
    families: Mapping[str, str]

    def __getitem__(self, entry_id: str) -> DeviceEntry:
        return self.entries[entry_id]

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self.entries

    @property
    def products(self) -> tuple[DeviceEntry, ...]:
        """The concrete products (entries that are not abstract)."""
        return tuple(entry for entry in self.entries.values() if not entry.abstract)


def parse_devices(documents: Iterable[tuple[str, str]]) -> DeviceCatalogue:
    """Validate (file name, YAML text) pairs into one catalogue; raises `CatalogueError` naming file and field."""
    return catalogue_from_documents((name, yaml_document(name, text)) for name, text in documents)


def catalogue_from_documents(documents: Iterable[tuple[str, object]]) -> DeviceCatalogue:
    """Validate (file name, parsed family document) pairs into one catalogue, as `parse_devices`."""
    raw: dict[str, tuple[str, dict[str, Any]]] = {}
    families: dict[str, str] = {}
    for name, document in documents:
        family = _family_file(name, document)
        families[family.family] = family.description
        for index, entry in enumerate(family.entries):
            entry_id = entry.get("id")
            if not isinstance(entry_id, str):
                raise CatalogueError(f"{name}: entries.{index}.id: missing or not text")
            if entry_id in raw:
                raise CatalogueError(f"{name}: {entry_id}: id also used in {raw[entry_id][0]}")
            raw[entry_id] = (name, {**entry, "family": family.family})
    resolved = {entry_id: _resolve(entry_id, raw, ()) for entry_id in raw}
    return DeviceCatalogue(entries=resolved, families=families)


def _family_file(name: str, document: object) -> _FamilyFile:
    try:
        return _FamilyFile.model_validate(document)
    except ValidationError as exc:
        raise CatalogueError(f"{name}: {_first_error(exc)}") from exc


def _resolve(entry_id: str, raw: Mapping[str, tuple[str, dict[str, Any]]], seen: tuple[str, ...]) -> DeviceEntry:
    """Merge an entry over the entry it extends (top-level fields replace, `identity` merges) and validate."""
    name, entry = raw[entry_id]
    if entry_id in seen:
        raise CatalogueError(f"{name}: {entry_id}: extends: cycle {' -> '.join((*seen, entry_id))}")
    merged = {"abstract": False, "extends": None, **entry}
    parent_id = entry.get("extends")
    if parent_id is not None:
        if parent_id not in raw:
            raise CatalogueError(f"{name}: {entry_id}: extends: no entry {parent_id!r}")
        parent = _resolve(parent_id, raw, (*seen, entry_id)).model_dump(mode="python", by_alias=True)
        inherited = {key: value for key, value in parent.items() if key not in {"id", "abstract", "extends"}}
        identity = {**parent["identity"], **entry.get("identity", {})}
        merged = {**inherited, **merged, "identity": identity}
    try:
        return DeviceEntry.model_validate(merged)
    except ValidationError as exc:
        raise CatalogueError(f"{name}: {entry_id}: {_first_error(exc)}") from exc


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(entry)"
    return f"{where}: {first['msg']}"


@cache
def load_devices() -> DeviceCatalogue:
    """The catalogue shipped with the package (prepared as JSON from devices/*.yaml), validated on first use and
    cached."""
    return catalogue_from_documents(sorted(prepared()["devices"].items()))
