"""The device catalogue: one YAML file per device family under `device_profiles/devices/`.

An entry says who made the device (identity), how it talks (transport), how a gateway recognises it (match
rule), which codec reads it, how often it should be heard from (reporting, read by the liveness rules) and
where all of that comes from (source; `verified: false` when it could not be checked). An entry that differs
from a family entry only in identity names it in `extends` and inherits everything else.

`load_devices()` validates every file against the schema and resolves every `extends`; a broken entry raises
`CatalogueError` naming the file, the entry and the field. The entries are standard-library dataclasses that
pydantic validates, imported only while it validates: the gateway agent holds a catalogue validated in a
short-lived child process (`adopt_devices`) and never loads pydantic (about 10 MB resident on a small gateway).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from annotated_types import Ge, Gt, Le, MinLen

from device_profiles.constraints import FORBID_UNKNOWN_KEYS, Pattern
from device_profiles.errors import CatalogueError
from device_profiles.metrics import load_catalogue
from device_profiles.mqtt_mapping import JsonMapping
from device_profiles.prepared import prepared, yaml_document

if TYPE_CHECKING:
    from pydantic import TypeAdapter, ValidationError

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


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Who made the device and what it is called."""

    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    vendor: Annotated[str, MinLen(1)]
    model: Annotated[str, MinLen(1)]
    name: Annotated[str, MinLen(1)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Match:
    """How a gateway recognises the device; at least one rule is given."""

    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    service_uuids: tuple[Annotated[str, Pattern(_UUID16)], ...] = ()
    service_data_uuid: Annotated[str, Pattern(_UUID16)] | None = None
    local_name: str | None = None
    manufacturer_id: Annotated[int, Ge(0), Le(0xFFFF)] | None = None
    topic: Annotated[str, MinLen(1)] | None = None
    zigbee_model: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Checks across fields, after pydantic checked each field (it reports a ValueError at the rule).
        if self.local_name is not None:
            try:
                re.compile(self.local_name)
            except re.error as exc:  # not a ValueError, so pydantic would let it through unreported
                raise ValueError(f"local_name is not a regular expression: {exc}") from None
        if not (self.service_uuids or self.service_data_uuid or self.local_name or self.topic or self.zigbee_model):
            raise ValueError("a match rule needs at least one of service_uuids, service_data_uuid, local_name, topic")
        if self.manufacturer_id is not None and not (self.local_name or self.service_uuids):
            raise ValueError("manufacturer_id alone matches every product of a vendor")

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


@dataclass(frozen=True, slots=True, kw_only=True)
class Reporting:
    """What the liveness rules expect: a periodic report, or events only (then the device needs supervision
    by other means, e.g. its battery or link reports)."""

    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    mode: Literal["periodic", "event", "on_demand"]
    interval_s: Annotated[int, Gt(0)] | None = None
    battery_interval_s: Annotated[int, Gt(0)] | None = None
    supervision: str | None = None

    def __post_init__(self) -> None:
        if self.mode == "periodic" and self.interval_s is None:
            raise ValueError("a periodic device needs interval_s")
        if self.mode == "event" and self.supervision is None:
            raise ValueError("an event-only device needs `supervision`: how silence is noticed")


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Where identity and match rule come from."""

    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    kind: SourceKind
    ref: Annotated[str, MinLen(1)]
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceEntry:
    """One catalogue entry after `extends` is resolved: every field is present."""

    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    id: Annotated[str, Pattern(_ID)]
    family: str
    abstract: bool
    extends: str | None
    identity: Identity
    transport: Transport
    match: Match
    codec: Codec
    characteristics: tuple[Annotated[str, Pattern(_UUID16)], ...] = ()
    mapping: JsonMapping | None = None
    post: tuple[str, ...] = ()
    metrics: tuple[str, ...]
    reporting: Reporting
    source: Source
    verified: bool

    def __post_init__(self) -> None:
        # Checks across fields (and against the metric catalogue), after pydantic checked each field.
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

    @property
    def digital_supervision(self) -> bool:
        """True for a supervision sensor (digitalt tilsyn): it measures a metric that watches daily life at
        home, so it is activated only with a consent or documented assessment."""
        metrics = load_catalogue()
        return any(metrics[key].digital_supervision for key in self.metrics)


@dataclass(frozen=True, slots=True, kw_only=True)
class _FamilyFile:
    __pydantic_config__ = FORBID_UNKNOWN_KEYS

    family: Annotated[str, Pattern(r"^[a-z0-9_]+$")]
    description: Annotated[str, MinLen(1)]
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
    from pydantic import ValidationError  # validating loads pydantic; holding a catalogue does not (module doc)

    try:
        return _family_adapter().validate_python(document)
    except ValidationError as exc:
        raise CatalogueError(f"{name}: {_first_error(exc)}") from exc


def _resolve(entry_id: str, raw: Mapping[str, tuple[str, dict[str, Any]]], seen: tuple[str, ...]) -> DeviceEntry:
    """Merge an entry over the entry it extends (top-level fields replace, `identity` merges) and validate."""
    from pydantic import ValidationError

    name, entry = raw[entry_id]
    if entry_id in seen:
        raise CatalogueError(f"{name}: {entry_id}: extends: cycle {' -> '.join((*seen, entry_id))}")
    merged = {"abstract": False, "extends": None, **entry}
    parent_id = entry.get("extends")
    if parent_id is not None:
        if parent_id not in raw:
            raise CatalogueError(f"{name}: {entry_id}: extends: no entry {parent_id!r}")
        parent = asdict(_resolve(parent_id, raw, (*seen, entry_id)))
        inherited = {key: value for key, value in parent.items() if key not in {"id", "abstract", "extends"}}
        own = entry.get("identity", {})
        if not isinstance(own, dict):
            raise CatalogueError(f"{name}: {entry_id}: identity: a mapping of the fields it changes is required")
        identity = {**parent["identity"], **own}
        merged = {**inherited, **merged, "identity": identity}
    try:
        return _entry_adapter().validate_python(merged)
    except ValidationError as exc:
        raise CatalogueError(f"{name}: {entry_id}: {_first_error(exc)}") from exc


@cache
def _family_adapter() -> TypeAdapter[_FamilyFile]:
    from pydantic import TypeAdapter

    return TypeAdapter(_FamilyFile)


@cache
def _entry_adapter() -> TypeAdapter[DeviceEntry]:
    from pydantic import TypeAdapter

    return TypeAdapter(DeviceEntry)


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(entry)"
    return f"{where}: {first['msg']}"


# The catalogue `load_devices` returns once it has one: validated on first use, or adopted (`adopt_devices`).
# A holder rather than `functools.cache`, so the gateway agent can be given one validated elsewhere.
_held: dict[str, DeviceCatalogue] = {}


def load_devices() -> DeviceCatalogue:
    """The catalogue shipped with the package (prepared as JSON from devices/*.yaml), validated on first use and
    kept; or the one given to `adopt_devices`."""
    held = _held.get("devices")
    if held is None:
        held = _held.setdefault("devices", catalogue_from_documents(sorted(prepared()["devices"].items())))
    return held


def adopt_devices(devices: DeviceCatalogue) -> None:
    """Make `devices` the catalogue `load_devices` returns, without validating it again. For the gateway agent:
    edge/run.py validates the packaged catalogues in a short-lived child process (validation loads pydantic,
    about 10 MB the agent would keep for its whole life) and passes the results to the agent by pickle. Adopt
    the metric catalogue first (`device_profiles.metrics.adopt_catalogue`): entries read it."""
    _held["devices"] = devices
