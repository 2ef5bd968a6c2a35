"""Every catalogue entry decodes its vectors through the codec the catalogue names for it."""

from __future__ import annotations

import pytest
from device_vectors import VECTORS, Vector
from profile_helpers import RECEIVED

from device_profiles import Decoded, decode_characteristic
from device_profiles.adv import BTHomeState, ScaleState, decode_bthome, decode_xiaomi_scale
from device_profiles.device_catalogue import DeviceEntry, load_devices
from device_profiles.mqtt_mapping import map_payload


def decode_vector(entry: DeviceEntry, vector: Vector) -> Decoded:
    """Run one vector through the entry's codec, with a fresh device state."""
    match entry.codec:
        case "sig_gatt":
            assert vector.characteristic is not None
            assert f"0x{vector.characteristic:04X}" in entry.characteristics
            data = bytes.fromhex(vector.payload)
            return decode_characteristic(vector.characteristic, data, device_id="t", received_at=RECEIVED)
        case "bthome_v2":
            data = bytes.fromhex(vector.payload)
            return decode_bthome(data, BTHomeState(), device_id="t", received_at=RECEIVED)[0]
        case "xiaomi_miscale_v1" | "xiaomi_miscale_v2":
            version = 1 if entry.codec == "xiaomi_miscale_v1" else 2
            data = bytes.fromhex(vector.payload)
            return decode_xiaomi_scale(data, ScaleState(), version=version, device_id="t", received_at=RECEIVED)[0]
        case "z2m_json":
            assert entry.mapping is not None
            return map_payload(entry.mapping, vector.payload, device_id="t", received_at=RECEIVED)
    raise AssertionError(entry.codec)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.entry)
def test_vector_yields_its_readings(vector: Vector) -> None:
    entry = load_devices()[vector.entry]
    decoded = decode_vector(entry, vector)
    readings = {o.metric: o.value for o in decoded.observations}
    assert {metric: value for metric, value in readings.items() if metric in vector.readings} == vector.readings
    assert set(vector.readings) <= set(entry.metrics), "a vector reads a metric the entry does not declare"
