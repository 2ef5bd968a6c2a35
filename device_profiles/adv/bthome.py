"""BTHome v2 advertisements through bthome-ble, with the per-device state the protocol needs held outside.

bthome-ble keeps its memory (last packet id, encryption counter) inside a parser object and judges
duplicates by a 4-second window. Here every call builds a fresh parser, so the library never filters, and
the rules are applied to an explicit `BTHomeState` instead:

* a packet id equal to the last accepted one is the same packet again: no readings (a button press is
  reported once, however often the device repeats it, and a beacon re-sending its last press is ignored);
* an encrypted counter lower than the last accepted one is a replay and raises `ReplayError`; an equal
  counter is the same packet again; bthome-ble's allowance for counters below 100 is deliberately not copied;
* a plain advertisement from a device known to encrypt (or while a bind key is given) is a downgrade and
  is rejected.

Malformed input raises `DecodeError`: an unknown version, a truncated object, a wrong or missing bind key.
An unknown object id stops decoding there, as in bthome-ble; what came before is kept and the id is noted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final

from device_profiles.adv._deferred import import_parser
from device_profiles.adv._envelope import UNKNOWN_ADDRESS, service_info
from device_profiles.adv._readings import SensorValue, base_key, observations, sensor_readings
from device_profiles.errors import DecodeError, ReplayError
from device_profiles.numbers import JSONValue
from device_profiles.sig import Decoded

if TYPE_CHECKING:
    from bthome_ble import BTHomeBluetoothDeviceData
    from bthome_ble.const import MEAS_TYPES
else:  # cryptography only with the first encrypted advertisement (_deferred says why)
    BTHomeBluetoothDeviceData = import_parser("bthome_ble", "parser").BTHomeBluetoothDeviceData
    from bthome_ble.const import MEAS_TYPES

SOURCE: Final = "bthome v2"
SERVICE_UUID: Final = 0xFCD2

_ENCRYPTED = 0x01
_MAC_INCLUDED = 0x02
_VERSION_SHIFT = 5
_MAC_LENGTH = 6
_COUNTER_AND_MIC = 8
_KEY_LENGTH = 16
# Objects whose length octet follows the id (bthome-ble data formats); a command's length is 1 + args.
_VARIABLE_LENGTH = frozenset({"raw", "string", "command"})

_SENSOR_METRICS: Final = {
    "battery": "device.battery",
    "temperature": "ambient.temperature",
    "humidity": "ambient.humidity",
    "mass": "body.weight",
}
_BINARY_METRICS: Final = {
    "door": "door.open",
    "opening": "door.open",
    "window": "door.open",
    "motion": "motion",
    "occupancy": "motion",
    "moisture": "water.leak",
    "power": "power.on",
}
# Every kind of press is an alarm; `hold_release` only ends a `hold_press` already reported.
_ALARM_PRESSES: Final = frozenset(
    {"press", "double_press", "triple_press", "long_press", "long_double_press", "long_triple_press", "hold_press"}
)
_CONTEXT_ONLY: Final = frozenset({"packet_id", "signal_strength"})


@dataclass(frozen=True, slots=True)
class BTHomeState:
    """What a receiver must remember about one BTHome device between advertisements."""

    packet_id: int | None = None
    counter: int | None = None
    encrypted: bool = False


class _CapturingParser(BTHomeBluetoothDeviceData):
    """bthome-ble's parser, keeping the (decrypted) object payload it parses so its layout can be checked."""

    plain_payload: bytes | None = None

    def _parse_payload(self, payload: bytes, adv_time: float) -> bool:
        self.plain_payload = bytes(payload)
        return bool(super()._parse_payload(payload, adv_time))


def decode_bthome(
    data: bytes,
    state: BTHomeState,
    *,
    device_id: str,
    received_at: datetime,
    address: str | None = None,
    bind_key: bytes | None = None,
) -> tuple[Decoded, BTHomeState]:
    """Decode the service data of UUID 0xFCD2 (the device-info octet first) and return the readings and the
    device's new state. `address` (AA:BB:...) is needed for encrypted payloads that do not carry the MAC."""
    data = bytes(data)
    info = _check_header(data)
    encrypted = bool(info & _ENCRYPTED)
    counter = _check_encryption(data, info, state, address, bind_key) if encrypted else None
    if not encrypted and (state.encrypted or bind_key is not None):
        reason = "plain advertisement from an encrypting device (downgrade)"
        raise DecodeError(SOURCE, data, "an encrypted advertisement", reason=reason)
    if counter is not None and counter == state.counter:
        return _repeat("counter", counter), state

    parser = _CapturingParser(bind_key)
    update = parser.update(service_info(SERVICE_UUID, data, address=address or UNKNOWN_ADDRESS))
    if parser.plain_payload is None:
        reason = "decryption failed: wrong bind key, wrong address or corrupted"
        raise DecodeError(SOURCE, data, "a payload the bind key authenticates", reason=reason)
    packet_id, stopped_at = _walk(parser.plain_payload, data)
    new_state = BTHomeState(
        packet_id=state.packet_id if packet_id is None else packet_id,
        counter=state.counter if counter is None else counter,
        encrypted=state.encrypted or encrypted,
    )
    if packet_id is not None and packet_id == state.packet_id:
        return _repeat("packet_id", packet_id), new_state

    readings, unmapped = sensor_readings(update, _SENSOR_METRICS, _CONTEXT_ONLY)
    for device_key, binary in update.binary_entity_values.items():
        metric = _BINARY_METRICS.get(base_key(device_key.key))
        if metric is None or binary.native_value is None:
            unmapped[device_key.key] = binary.native_value
        else:
            readings.append(SensorValue(metric, int(binary.native_value)))
    for device_key, event in update.events.items():
        if base_key(device_key.key) == "button" and event.event_type in _ALARM_PRESSES:
            readings.append(SensorValue("alarm.button", 1))
        unmapped[f"event.{device_key.key}"] = event.event_type

    context: dict[str, JSONValue] = {"packet_id": packet_id, "encrypted": encrypted}
    if stopped_at is not None:
        context["stopped_at_unknown_object"] = f"0x{stopped_at:02X}"
    shared = dict(context)
    context.update({"unmapped": unmapped, "not_readings": []})
    decoded = Decoded(observations(readings, device_id=device_id, received_at=received_at, context=shared), context)
    return decoded, new_state


def _check_header(data: bytes) -> int:
    if not data:
        raise DecodeError(SOURCE, data, 1, reason="no device-info octet")
    info = data[0]
    version = info >> _VERSION_SHIFT
    if version != 2:
        raise DecodeError(SOURCE, data, "version 2 in bits 5-7", reason=f"unknown BTHome version {version}")
    header = 1 + (_MAC_LENGTH if info & _MAC_INCLUDED else 0)
    minimum = header + (1 + _COUNTER_AND_MIC if info & _ENCRYPTED else 0)
    if len(data) < minimum:
        raise DecodeError(SOURCE, data, minimum)
    return info


def _check_encryption(data: bytes, info: int, state: BTHomeState, address: str | None, bind_key: bytes | None) -> int:
    """The advertisement's counter, after checking what decryption needs and that the counter is not old."""
    if bind_key is None or len(bind_key) != _KEY_LENGTH:
        reason = "encrypted advertisement without a usable bind key"
        raise DecodeError(SOURCE, data, "a 16-octet bind key", reason=reason)
    if address is None and not info & _MAC_INCLUDED:
        reason = "encrypted advertisement: the nonce needs the device address"
        raise DecodeError(SOURCE, data, "the device address", reason=reason)
    counter = int.from_bytes(data[-_COUNTER_AND_MIC:-4], "little")
    if state.counter is not None and counter < state.counter:
        raise ReplayError(SOURCE, data, f"counter >= {state.counter}", reason=f"replayed counter {counter}")
    return counter


def _walk(payload: bytes, data: bytes) -> tuple[int | None, int | None]:
    """Check the object layout: (packet id if present, unknown object id where decoding stopped)."""
    position, packet_id = 0, None
    while position < len(payload):
        object_id = payload[position]
        kind = MEAS_TYPES.get(object_id)
        if kind is None:
            return packet_id, object_id
        if kind.data_format in _VARIABLE_LENGTH:
            if position + 1 >= len(payload):
                raise DecodeError(SOURCE, data, "a length octet", reason=f"object 0x{object_id:02X} truncated")
            length = payload[position + 1]
            length = 1 + (length & 0x1F) if kind.data_format == "command" else length
            start = position + 2
        else:
            length, start = kind.data_length, position + 1
        if start + length > len(payload):
            needed = f"{start + length - len(payload)} more octets"
            raise DecodeError(SOURCE, data, needed, reason=f"object 0x{object_id:02X} truncated")
        if object_id == 0x00:
            packet_id = payload[start]
        position = start + length
    return packet_id, None


def _repeat(what: str, value: int) -> Decoded:
    """The result for an advertisement already decoded: no readings, and why."""
    return Decoded(observations=(), context={"repeat_of": what, what: value, "not_readings": []})


__all__ = ["BTHomeState", "decode_bthome"]
