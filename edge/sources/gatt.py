"""One GATT session with a SIG health device: connect, set its clock, collect its measurements, disconnect.

Long-lived GATT connections are not feasible on a home gateway (connection slots, devices that sleep), so a
session is short: the device advertises when it holds a measurement, the agent connects (bleak-retry-
connector's `establish_connection`, which retries the transient BlueZ errors), writes Current Time where the
device offers it, reads its Battery Level where it offers the Battery Service (so the fleet and the low-battery
rule see a health device's battery too), enables indications/notifications on the catalogue entry's
characteristics and stays until the device has been quiet for `idle_s`. A glucose meter is asked through the
Record Access Control Point for the records after the last sequence number stored for it; that number is
written in the same outbox transaction as the records, so a reconnect (or a crash between two records) imports
nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from device_profiles import DEFAULT_ZONE, DecodeError, decode_characteristic
from device_profiles.adv._deferred import retry_connector
from device_profiles.device_catalogue import DeviceEntry
from device_profiles.matching import uuid16
from device_profiles.sig import control
from device_profiles.sig.battery import BATTERY_LEVEL
from edge.config import BleConfig
from edge.sink import Sink
from edge.sources.radio import Radio

if TYPE_CHECKING:
    from bleak_retry_connector import establish_connection
else:  # without the rest of bluetooth-adapters (device_profiles.adv._deferred.retry_connector says why)
    establish_connection = retry_connector().establish_connection

log = logging.getLogger("tryggheim.edge.gatt")
GLUCOSE_MEASUREMENT = 0x2A18
GLUCOSE_SEQ = "ble.glucose_seq:"


class GattSession:
    """Reads one device once; `run()` returns the number of payloads received."""

    def __init__(self, device: BLEDevice, entry: DeviceEntry, config: BleConfig, sink: Sink, radio: Radio) -> None:
        self.device = device
        self.entry = entry
        self.config = config
        self.sink = sink
        self.radio = radio
        self.zone = ZoneInfo(DEFAULT_ZONE)
        self.received = 0
        self._arrived = asyncio.Event()
        self._racp_done = asyncio.Event()
        self._racp_result: str | None = None

    async def run(self) -> int:
        """Connect, collect, disconnect (always)."""
        client = await establish_connection(
            BleakClient,
            self.device,
            self.device.address,
            max_attempts=self.config.connect_attempts,
            **self.radio.client_kwargs(),
        )
        try:
            await self._collect(client)
        finally:
            with contextlib.suppress(Exception):
                await client.disconnect()
        return self.received

    async def _collect(self, client: BleakClient) -> None:
        chars: dict[int, BleakGATTCharacteristic] = {}
        for service in client.services:
            for char in service.characteristics:
                number = uuid16(char.uuid)
                if number is not None:
                    chars[number] = char
        clock = chars.get(control.CURRENT_TIME)
        if clock is not None and {"write", "write-without-response"} & set(clock.properties):
            await client.write_gatt_char(clock, control.current_time(datetime.now(UTC), self.zone), response=True)
        battery = chars.get(BATTERY_LEVEL)
        if battery is not None and "read" in battery.properties:
            await self._read_battery(client, battery)
        for text in self.entry.characteristics:
            number = int(text, 16)
            if number in chars:
                await client.start_notify(chars[number], self._on_value(number))
        racp = chars.get(control.RACP)
        if racp is not None and GLUCOSE_MEASUREMENT in chars:
            await client.start_notify(racp, self._on_racp)
            last = self.sink.outbox.get_state(GLUCOSE_SEQ + self.device.address)
            await client.write_gatt_char(racp, control.records_after(int(last) if last else None), response=True)
            await asyncio.wait_for(self._racp_done.wait(), self.config.session_timeout_s)
            log.info("%s: stored records transferred (%s)", self.device.address, self._racp_result)
            return
        deadline = time.monotonic() + self.config.session_timeout_s
        while time.monotonic() < deadline:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=self.config.idle_s)
            except TimeoutError:
                return  # quiet for idle_s: the device has sent what it had

    async def _read_battery(self, client: BleakClient, battery: BleakGATTCharacteristic) -> None:
        """The battery level, once per session and before the measurements' notifications: some devices
        disconnect as soon as they have sent their records. A refused read leaves the session as it was."""
        try:
            data = await client.read_gatt_char(battery)
        except BleakError as exc:
            log.info("%s: battery level not read: %s", self.device.address, exc)
            return
        self._store(BATTERY_LEVEL, bytes(data))

    def _on_value(self, number: int) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
        def handle(_: BleakGATTCharacteristic, data: bytearray) -> None:
            self._arrived.set()
            self.received += 1
            self._store(number, bytes(data))

        return handle

    def _store(self, number: int, data: bytes) -> None:
        address = self.device.address
        try:
            decoded = decode_characteristic(number, data, device_id=address, received_at=datetime.now(UTC))
        except DecodeError as exc:
            self.sink.malformed(address, data, str(exc))
            return
        state: dict[str, str] = {}
        sequence = decoded.context.get("sequence_number")
        if number == GLUCOSE_MEASUREMENT and isinstance(sequence, int):
            stored = self.sink.outbox.get_state(GLUCOSE_SEQ + address)
            state[GLUCOSE_SEQ + address] = str(max(sequence, int(stored) if stored else -1))
        self.sink.observations(decoded.observations, state=state)

    def _on_racp(self, _: BleakGATTCharacteristic, data: bytearray) -> None:
        reply = control.parse_response(bytes(data))
        if reply is not None:
            self._racp_result = reply[1]
            self._racp_done.set()
