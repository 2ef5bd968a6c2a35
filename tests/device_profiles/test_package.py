"""The package's promises: pure (no radio stack, no I/O packages), an intended public surface."""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType

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


def test_public_surface_is_exactly_what_all_names() -> None:
    """`__all__` is the package's whole public surface: every name it lists exists, and every public object the
    package imports is listed (submodules aside), so nothing joins or leaves the surface unnoticed."""
    public = {
        name
        for name, value in vars(device_profiles).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert len(set(device_profiles.__all__)) == len(device_profiles.__all__)
    assert set(device_profiles.__all__) == public
