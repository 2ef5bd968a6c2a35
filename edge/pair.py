"""`tryggheim edge pair`: find nearby devices the catalogue knows, pair the chosen one, propose it to the cloud.

Pairing here means what the device needs: a GATT health device is connected and bonded (BlueZ keeps the bond,
so the agent's later sessions are encrypted and accepted); an encrypted BTHome device gets its bind key
stored; an advertisement-only device needs nothing. In every case the device is remembered as paired on this
gateway (the agent reads it at once) and proposed to the cloud, where an installer or nurse confirms it and
assigns it to the resident.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak_retry_connector import establish_connection

from device_profiles.device_catalogue import DeviceEntry
from device_profiles.matching import Advert, match_advert
from edge.cloudlink import PAIRED_PREFIX, CloudLink
from edge.config import GatewayConfig
from edge.outbox import Outbox
from edge.sources.ble import BIND_KEY
from edge.sources.radio import Radio


class PairingError(Exception):
    """Pairing could not be completed; the message says why and what to try."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A nearby device the catalogue recognises."""

    device: BLEDevice
    name: str | None
    rssi: int
    entry: DeviceEntry


async def scan(radio: Radio, seconds: float) -> list[Candidate]:
    """Scan actively (names often come in scan responses) and keep the devices the catalogue matches,
    strongest signal first: the device in the installer's hand is usually the nearest."""
    found = await BleakScanner.discover(timeout=seconds, return_adv=True, **radio.scanner_kwargs())
    candidates = []
    for device, advert in found.values():
        name = advert.local_name or device.name
        entry = match_advert(
            Advert.from_bleak_fields(name, advert.service_uuids, advert.service_data, advert.manufacturer_data)
        )
        if entry is not None:
            candidates.append(Candidate(device, name, advert.rssi, entry))
    return sorted(candidates, key=lambda c: -c.rssi)


def check_bind_key(entry: DeviceEntry, bind_key: str | None) -> bytes | None:
    """The BTHome bind key as bytes (32 hex digits), None when not given; refuses a key for another codec."""
    if bind_key is None:
        return None
    if entry.codec != "bthome_v2":
        raise PairingError(f"{entry.id} does not use a bind key")
    try:
        key = bytes.fromhex(bind_key)
    except ValueError:
        key = b""
    if len(key) != 16:
        raise PairingError("a BTHome bind key is 32 hexadecimal digits (16 bytes)")
    return key


async def pair(candidate: Candidate, config: GatewayConfig, radio: Radio, outbox: Outbox,
               client: httpx.AsyncClient, bind_key: str | None = None) -> bool:  # fmt: skip
    """Pair and propose; True when the proposal was sent now (False: already assigned or proposed)."""
    address, entry = candidate.device.address, candidate.entry
    key = check_bind_key(entry, bind_key)
    if entry.transport == "ble_gatt":
        try:
            connection = await establish_connection(BleakClient, candidate.device, address,
                                                    max_attempts=config.ble.connect_attempts,
                                                    **radio.client_kwargs())  # fmt: skip
        except Exception as exc:
            raise PairingError(f"could not connect to {address}: {exc}. Wake the device and try again.") from exc
        try:
            await connection.pair()
        except Exception as exc:
            raise PairingError(f"{address} refused to pair: {exc}. Put it in pairing mode and try again.") from exc
        finally:
            await connection.disconnect()
    if key is not None:
        outbox.set_state(BIND_KEY + address, key.hex())
    outbox.set_state(PAIRED_PREFIX + address, entry.id)
    details: dict[str, object] = {"name": candidate.name, "rssi": candidate.rssi, "paired_on_site": True}
    try:
        return await CloudLink(config, outbox, client).propose(address, entry.id, details)
    except httpx.HTTPError as exc:
        raise PairingError(f"paired, but the cloud did not take the proposal ({exc}); run pair again") from exc
