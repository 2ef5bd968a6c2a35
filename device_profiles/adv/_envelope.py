"""Wrapping raw service data in the envelope the parser libraries read (a habluetooth service info)."""

from __future__ import annotations

from bleak.backends.device import BLEDevice
from habluetooth import BluetoothServiceInfoBleak

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
