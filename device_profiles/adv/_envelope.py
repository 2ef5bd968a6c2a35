"""Wrapping raw service data in the envelope the parser libraries read (a habluetooth service info)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import TYPE_CHECKING

from bleak.backends.device import BLEDevice

from device_profiles.adv._deferred import service_info_class

if TYPE_CHECKING:
    from habluetooth import BluetoothServiceInfoBleak
else:  # the data class alone, not habluetooth's scanner manager (_deferred says why)
    BluetoothServiceInfoBleak = service_info_class()

# An address for decoders that do not need one (only BTHome encryption uses the address, in its nonce).
UNKNOWN_ADDRESS = "00:00:00:00:00:00"


def uuid128(uuid16: int) -> str:
    """The 128-bit text form of a 16-bit Bluetooth UUID, as service-data keys are spelled."""
    return f"0000{uuid16:04x}-0000-1000-8000-00805f9b34fb"


def service_info(uuid16: int, data: bytes, *, address: str, name: str = "") -> BluetoothServiceInfoBleak:
    """One advertisement carrying `data` as the service data of `uuid16`; no radio objects are attached."""
    return BluetoothServiceInfoBleak(
        name=name or address,
        address=address,
        rssi=0,
        manufacturer_data={},
        service_data={uuid128(uuid16): bytes(data)},
        service_uuids=[uuid128(uuid16)],
        source="device_profiles",
        device=BLEDevice(address, name or None, None),
        advertisement=None,
        connectable=False,
        # The libraries compare times only between advertisements of one parser object; each call here uses a
        # fresh object, so any constant works.
        time=0.0,
        tx_power=None,
    )


def submodule_alone(package: str, name: str) -> ModuleType:
    """`package.name` imported without running `package/__init__.py` when nothing has imported the package yet.

    xiaomi-ble's `__init__` imports its Xiaomi-cloud token client (aiohttp, yarl, orjson, pycryptodome's ARC4:
    about 9 MB resident) beside the advertisement parser; a gateway only parses. A bare package object stands
    in while the submodules load; then it and they leave `sys.modules` (the caller keeps the module it got), so
    a later `import xiaomi_ble` runs the package as usual, with its own fresh submodules."""
    if package in sys.modules:
        return importlib.import_module(f"{package}.{name}")
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise ModuleNotFoundError(package, name=package)
    sys.modules[package] = importlib.util.module_from_spec(spec)
    try:
        return importlib.import_module(f"{package}.{name}")
    finally:
        for loaded in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
            del sys.modules[loaded]
