"""Which catalogue entry a device is, from what it advertises or from where it publishes. Pure.

An entry matches an advertisement when every rule it gives holds (all listed service UUIDs advertised, its
service-data UUID present, its local-name pattern found, its manufacturer id present). Among matching entries
the one with the most rules wins, so a Shelly BLU Button1 (service data 0xFCD2 and name SBBT-002C) beats the
generic BTHome entry. Entries tied on rules cannot be told apart by radio; the family's abstract entry is
then the honest answer (any SIG blood-pressure monitor), else the first entry in catalogue order.

MQTT devices are named by the `+` level of their entry's topic pattern: the address of a Zigbee2MQTT device
is its friendly name, so `zigbee2mqtt/+` and address `hall-door` subscribe to `zigbee2mqtt/hall-door`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from device_profiles.device_catalogue import DeviceCatalogue, DeviceEntry, Match, load_devices

_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"
_BLE_TRANSPORTS = frozenset({"ble_gatt", "ble_adv"})


def uuid16(text: str) -> int | None:
    """The 16-bit form of a Bluetooth UUID written as `0x1810`, `1810` or the 128-bit SIG base form; None for
    a vendor UUID outside the SIG base."""
    value = text.strip().lower()
    if value.startswith("0x"):
        value = value[2:]
    if len(value) == 36 and value.endswith(_BASE_SUFFIX) and value.startswith("0000"):
        value = value[4:8]
    if len(value) == 4 and all(c in "0123456789abcdef" for c in value):
        return int(value, 16)
    return None


@dataclass(frozen=True, slots=True)
class Advert:
    """What matching needs from one advertisement (UUIDs in 16-bit form)."""

    local_name: str | None = None
    service_uuids: frozenset[int] = frozenset()
    service_data: Mapping[int, bytes] = field(default_factory=dict)
    manufacturer_ids: frozenset[int] = frozenset()

    @classmethod
    def from_bleak_fields(
        cls,
        local_name: str | None,
        service_uuids: Iterable[str],
        service_data: Mapping[str, bytes],
        manufacturer_ids: Iterable[int],
    ) -> Advert:
        """Build from the text UUIDs a BLE stack reports; vendor (non-SIG) UUIDs are left out."""
        uuids = {u for u in (uuid16(text) for text in service_uuids) if u is not None}
        data = {u: bytes(v) for text, v in service_data.items() if (u := uuid16(text)) is not None}
        return cls(local_name, frozenset(uuids), data, frozenset(manufacturer_ids))


def _rules(match: Match) -> int:
    given = (match.service_uuids, match.service_data_uuid, match.local_name, match.manufacturer_id is not None)
    return sum(1 for rule in given if rule)


def advert_matches(match: Match, advert: Advert) -> bool:
    """True when every advertisement rule of `match` holds for `advert` (and it has at least one)."""
    if _rules(match) == 0:
        return False
    if any(int(u, 16) not in advert.service_uuids for u in match.service_uuids):
        return False
    if match.service_data_uuid is not None and int(match.service_data_uuid, 16) not in advert.service_data:
        return False
    if match.local_name is not None and not re.search(match.local_name, advert.local_name or ""):
        return False
    return match.manufacturer_id is None or match.manufacturer_id in advert.manufacturer_ids


def match_advert(advert: Advert, catalogue: DeviceCatalogue | None = None) -> DeviceEntry | None:
    """The catalogue entry for a BLE advertisement, or None when no entry recognises it."""
    entries = (catalogue or load_devices()).entries.values()
    found = [e for e in entries if e.transport in _BLE_TRANSPORTS and advert_matches(e.match, advert)]
    if not found:
        return None
    best = max(_rules(e.match) for e in found)
    tied = [e for e in found if _rules(e.match) == best]
    return next((e for e in tied if e.abstract), tied[0])


def match_zigbee_model(model_id: str, catalogue: DeviceCatalogue | None = None) -> DeviceEntry | None:
    """The MQTT entry whose `zigbee_model` list names this Zigbee model identifier (as Zigbee2MQTT reports
    it in `bridge/devices`), or None."""
    entries = (catalogue or load_devices()).entries.values()
    return next((e for e in entries if e.transport == "mqtt" and model_id in e.match.zigbee_model), None)


def topic_for(entry: DeviceEntry, address: str) -> str:
    """The topic a device with this address publishes on: the first `+` of the pattern is the address."""
    if entry.match.topic is None:
        raise ValueError(f"{entry.id} has no topic pattern")
    if "+" not in entry.match.topic.split("/"):
        return entry.match.topic
    if not address or any(c in address for c in "+#/"):
        raise ValueError(f"{address!r} cannot be an MQTT topic level")
    levels = entry.match.topic.split("/")
    first = levels.index("+")
    return "/".join([*levels[:first], address, *levels[first + 1 :]])


def address_of(entry: DeviceEntry, topic: str) -> str | None:
    """The device address in a topic matched by the entry's pattern (the first `+` level), or None."""
    if not entry.match.topic_matches(topic):
        return None
    levels = entry.match.topic.split("/") if entry.match.topic else []
    return topic.split("/")[levels.index("+")] if "+" in levels else topic


__all__ = ["Advert", "address_of", "advert_matches", "match_advert", "match_zigbee_model", "topic_for", "uuid16"]
