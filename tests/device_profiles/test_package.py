"""The package's promises: pure (no radio stack, no I/O packages), an intended public surface."""

from __future__ import annotations

import subprocess
import sys

import device_profiles


def test_import_pulls_in_no_radio_or_service_stack() -> None:
    probe = (
        "import device_profiles, device_profiles.sig, device_profiles.device_catalogue, device_profiles.mqtt_mapping, "
        "device_profiles.device_docs, sys; "
        "device_profiles.device_catalogue.load_devices(); "
        "bad = [m for m in ('bleak', 'habluetooth', 'bthome_ble', 'xiaomi_ble', 'httpx', 'paho', 'psycopg', "
        "'fastapi', 'asyncio', 'logging.config') "
        "if m in sys.modules]; "
        "assert not bad, bad"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_public_surface_is_exactly_intended() -> None:
    assert set(device_profiles.__all__) == {
        "CHARACTERISTICS",
        "DEFAULT_ZONE",
        "Catalogue",
        "CatalogueError",
        "Characteristic",
        "DecodeError",
        "Decoded",
        "MedFloat",
        "Metric",
        "Observation",
        "UnitError",
        "decode_characteristic",
        "decode_float",
        "decode_sfloat",
        "load_catalogue",
        "parse_catalogue",
    }
    for name in device_profiles.__all__:
        assert hasattr(device_profiles, name)
