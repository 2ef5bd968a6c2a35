"""Every catalogue entry decodes its vectors through the codec the catalogue names for it."""

from __future__ import annotations

import pytest
from device_vectors import VECTORS, Vector
from profile_helpers import RECEIVED

from device_profiles import Decoded, decode_characteristic
from device_profiles.adv import ADVERTISEMENT_CODECS, Heard
from device_profiles.device_catalogue import CODECS_BY_TRANSPORT, DeviceEntry, load_devices
from device_profiles.mqtt_mapping import map_payload


def decode_vector(entry: DeviceEntry, vector: Vector) -> Decoded:
    """Run one vector through the entry's codec, with a fresh device state: a GATT characteristic by its
    UUID, an advertisement by the codec's name, an MQTT payload by the entry's mapping."""
    match entry.transport:
        case "ble_gatt":
            assert vector.characteristic is not None
            assert f"0x{vector.characteristic:04X}" in entry.characteristics
            data = bytes.fromhex(vector.payload)
            return decode_characteristic(vector.characteristic, data, device_id="t", received_at=RECEIVED)
        case "ble_adv":
            heard = Heard(bytes.fromhex(vector.payload), "t", RECEIVED)
            return ADVERTISEMENT_CODECS[entry.codec].decode(heard, None)[0]
        case "mqtt":
            assert entry.mapping is not None
            return map_payload(entry.mapping, vector.payload, device_id="t", received_at=RECEIVED)
    raise AssertionError(entry.transport)


def test_every_advertisement_codec_the_catalogue_names_has_a_decoder() -> None:
    assert set(ADVERTISEMENT_CODECS) == CODECS_BY_TRANSPORT["ble_adv"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.entry)
def test_vector_yields_its_readings(vector: Vector) -> None:
    entry = load_devices()[vector.entry]
    decoded = decode_vector(entry, vector)
    readings = {o.metric: o.value for o in decoded.observations}
    assert {metric: value for metric, value in readings.items() if metric in vector.readings} == vector.readings
    assert set(vector.readings) <= set(entry.metrics), "a vector reads a metric the entry does not declare"
