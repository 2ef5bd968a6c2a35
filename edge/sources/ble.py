"""The BLE source: one scanner, a watchdog over it, advertisement decoding and GATT sessions.

Only devices this gateway serves (assigned by the cloud, or paired on site) are read; a neighbour's sensor
is ignored. What happens to an advertisement depends on the device's catalogue entry:

* `ble_adv` (BTHome, Xiaomi scales): the service data is decoded with the device's protocol state (BTHome
  packet id and encryption counter, the scale's last weighing). The state is kept in the outbox and written
  in the same transaction as the readings, so a repeated packet gives one observation even across a restart
  (the phantom second press of the field reports) and a scale gives one weight per stabilised weighing.
* `ble_gatt` (SIG health devices): the advertisement starts a `GattSession`, at most one per device at a
  time and then not again for `connect_cooldown_s`.

BlueZ stacks wedge: scanning stops silently after hours or days (field reports: theengs/gateway#99,
hbldh/bleak#887). A watchdog restarts the scanner when no advertisement arrived for `watchdog_s`; every
restart is counted (`watchdog_restarts`, shown by `tryggheim edge status` and sent in the heartbeat).
Adapter errors (start failing, adapter gone) are retried with exponential backoff and never end the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from device_profiles import DecodeError
from device_profiles.adv import ADVERTISEMENT_CODECS, AdvState, Heard, state_text
from device_profiles.device_catalogue import DeviceEntry, load_devices
from edge.config import BleConfig
from edge.sink import Sink
from edge.sources.radio import Radio

log = logging.getLogger("tryggheim.edge.ble")
ADV_STATE = "ble.adv:"
BIND_KEY = "ble.bind_key:"
DEVICES_REFRESH_S = 1.0


def or_patterns() -> list[tuple[int, int, bytes]]:
    """BlueZ advertisement-monitor patterns for passive scanning: every 16-bit service-data and service
    UUID the catalogue matches on (BlueZ needs at least one pattern to scan passively)."""
    from bleak.assigned_numbers import AdvertisementDataType as Ad

    patterns: set[tuple[int, int, bytes]] = set()
    for entry in load_devices().entries.values():
        if entry.match.service_data_uuid:
            patterns.add((0, Ad.SERVICE_DATA_UUID16, int(entry.match.service_data_uuid, 16).to_bytes(2, "little")))
        for uuid in entry.match.service_uuids:
            for kind in (Ad.COMPLETE_LIST_SERVICE_UUID16, Ad.INCOMPLETE_LIST_SERVICE_UUID16):
                patterns.add((0, kind, int(uuid, 16).to_bytes(2, "little")))
    return sorted(patterns)


class BleSource:
    """Scanner, watchdog, advertisement decoding and GATT sessions for the devices `served()` names."""

    def __init__(self, config: BleConfig, sink: Sink, served: Callable[[], Mapping[str, str]], radio: Radio) -> None:
        self.config = config
        self.sink = sink
        self.served = served
        self.radio = radio
        self.catalogue = load_devices()
        self.last_advert = time.monotonic()
        self._devices: Mapping[str, str] = {}
        self._devices_at = 0.0
        self._states: dict[str, AdvState] = {}
        self._sessions: dict[str, asyncio.Task[None]] = {}
        self._next_session: dict[str, float] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Scan until `stop`, restarting on silence and on adapter errors."""
        failures = 0
        while not self.devices() and not stop.is_set():
            # Nothing to serve yet (first start, before the cloud's configuration or a pairing): keep the radio
            # idle rather than decode a neighbour's sensors.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=DEVICES_REFRESH_S)
        while not stop.is_set():
            scanner = BleakScanner(self.on_advert, scanning_mode="passive", **self._scanner_kwargs())
            started = False
            try:
                await scanner.start()
                started, failures = True, 0
                self.last_advert = time.monotonic()
                if await self._watch(stop):
                    self.sink.outbox.count("watchdog_restarts")
                    self.sink.outbox.event("ble_watchdog", f"no advertisement for {self.config.watchdog_s:.0f} s")
                    log.warning("no BLE advertisement for %.0f s: restarting the scanner", self.config.watchdog_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an adapter error must never end the agent: count, back off, retry
                failures += 1
                self.sink.outbox.count("ble_adapter_errors")
                delay = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** (failures - 1))
                delay *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not cryptography
                log.warning("BLE adapter error (%s); retrying in %.1f s", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
            finally:
                if started:
                    with contextlib.suppress(Exception):
                        await scanner.stop()
        for task in list(self._sessions.values()):
            task.cancel()
        await asyncio.gather(*self._sessions.values(), return_exceptions=True)

    def _scanner_kwargs(self) -> dict[str, Any]:
        kwargs = self.radio.scanner_kwargs()
        if self.radio.scanner is None:
            kwargs["bluez"] = {**kwargs.get("bluez", {}), "or_patterns": or_patterns()}
        return kwargs

    def expects_adverts(self) -> bool:
        """True when a served device advertises on its own (a BTHome sensor's periodic or event beacons):
        only then is silence a stalled scanner. Health devices advertise only after a measurement, so a home
        with only those is legitimately quiet for hours (and passive scanning hears nothing else)."""
        entries = (self.catalogue.entries.get(profile) for profile in self.devices().values())
        return any(e is not None and e.transport == "ble_adv" and e.reporting.mode != "on_demand" for e in entries)

    async def _watch(self, stop: asyncio.Event) -> bool:
        """Wait while advertisements keep coming; True when they stopped for `watchdog_s` (restart)."""
        while not stop.is_set():
            silent = time.monotonic() - self.last_advert
            if silent >= self.config.watchdog_s and self.expects_adverts():
                return True
            if silent >= self.config.watchdog_s:
                self.last_advert = time.monotonic()  # nothing is expected: look again a period later
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=min(1.0, self.config.watchdog_s - silent + 0.01))
        return False

    def devices(self) -> Mapping[str, str]:
        """The served devices (address -> profile id), re-read every few seconds."""
        if not self._devices or time.monotonic() - self._devices_at > DEVICES_REFRESH_S:
            self._devices, self._devices_at = dict(self.served()), time.monotonic()
        return self._devices

    def on_advert(self, device: BLEDevice, advert: AdvertisementData) -> None:
        """The scanner's detection callback (runs in the event loop)."""
        self.last_advert = time.monotonic()
        profile = self.devices().get(device.address)
        entry = self.catalogue.entries.get(profile) if profile else None
        if entry is None:
            return
        self.sink.heard(device.address, rssi_dbm=advert.rssi)
        if entry.transport == "ble_adv":
            self._advertised_reading(device.address, entry, advert)
        elif entry.transport == "ble_gatt":
            self._maybe_connect(device, entry)

    def _advertised_reading(self, address: str, entry: DeviceEntry, advert: AdvertisementData) -> None:
        uuid = entry.match.service_data_uuid
        data = advert.service_data.get(f"0000{int(uuid, 16):04x}-0000-1000-8000-00805f9b34fb") if uuid else None
        if data is None:
            return
        key = ADV_STATE + address
        codec = ADVERTISEMENT_CODECS[entry.codec]
        # The device's protocol state: cached, else from the outbox (it survives restarts).
        old = self._states.get(address) or codec.read_state(self.sink.outbox.get_state(key))
        heard = Heard(
            bytes(data), address, datetime.now(UTC), address, self._bind_key(address) if codec.keyed else None
        )
        try:
            decoded, new = codec.decode(heard, old)
        except DecodeError as exc:
            self.sink.malformed(address, bytes(data), str(exc))
            return
        self._states[address] = new
        if new != old or decoded.observations:
            self.sink.observations(decoded.observations, state={key: state_text(new)})

    def _bind_key(self, address: str) -> bytes | None:
        key_text = self.config.bind_keys.get(address) or self.sink.outbox.get_state(BIND_KEY + address)
        return bytes.fromhex(key_text) if key_text else None

    def _maybe_connect(self, device: BLEDevice, entry: DeviceEntry) -> None:
        address = device.address
        if address in self._sessions or time.monotonic() < self._next_session.get(address, 0.0):
            return
        self._sessions[address] = asyncio.create_task(self._session(device, entry), name=f"gatt {address}")

    async def _session(self, device: BLEDevice, entry: DeviceEntry) -> None:
        # Loaded with the first session: bleak-retry-connector and the SIG decoders' callers are not needed by a
        # home that only has advertising devices (lean agent, edge/run.py).
        from edge.sources.gatt import GattSession

        try:
            received = await GattSession(device, entry, self.config, self.sink, self.radio).run()
            log.info("%s (%s): session ended, %d values", device.address, entry.id, received)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failed session is retried on a later advertisement, never fatal
            self.sink.outbox.count("ble_session_failures")
            self.sink.outbox.device_error(device.address, "connection_errors")
            log.warning("%s (%s): GATT session failed: %s", device.address, entry.id, exc)
        finally:
            self._next_session[device.address] = time.monotonic() + self.config.connect_cooldown_s
            self._sessions.pop(device.address, None)
