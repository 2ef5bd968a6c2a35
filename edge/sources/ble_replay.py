"""A REPLAY bleak backend: scripted BLE devices for tests and the demo, where no radio exists.

This is not a radio. It plugs into the real `BleakScanner`, `BleakClient` and bleak-retry-connector's
`establish_connection` through their `backend=` argument (subclasses of bleak's `BaseBleakScanner` and
`BaseBleakClient`), so everything above it is the production code path. The devices and their byte payloads
come from a script (JSON, or built in Python by a test); the backend plays them:

* advertisements: each device advertises its name, service UUIDs and the latest due service-data frame
  every `interval_s`, each frame at most `repeat` times; a GATT device advertises while it holds a record
  not yet delivered (as a blood-pressure monitor does after a measurement), or always;
* GATT: connect builds the device's service table; `start_notify` on a characteristic delivers the due
  records queued for it, each once; the Record Access Control Point (0x2A52) serves the stored glucose
  records with the SIG request/response rules; writes, pairings and scanner starts are journaled so a test
  can check what the agent did (the Current Time write, the RACP operand).

Faults for tests: `silence()` stops all advertisements (a wedged adapter), `scanner_failures` makes the next
scanner starts raise `BleakError`, `connect_failures[address]` fails that many connection attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError

from device_profiles.sig import control

_BASE = "0000{:04x}-0000-1000-8000-00805f9b34fb"


def uuid128(uuid16: str | int) -> str:
    """The SIG-base 128-bit text form of a 16-bit UUID given as int or hex text (`1810`, `0x1810`)."""
    return _BASE.format(uuid16 if isinstance(uuid16, int) else int(uuid16, 16))


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """One advertisement payload: service data by 16-bit UUID (hex text), due `at_s` after the world starts."""

    at_s: float = 0.0
    service_data: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One stored measurement a GATT device sends on `characteristic` (hex payload), due `at_s`."""

    at_s: float = 0.0
    characteristic: str
    data: str


@dataclass(slots=True, kw_only=True)
class ReplayDevice:
    """A scripted device; a test may add records while the world runs."""

    address: str
    name: str | None = None
    service_uuids: list[str] = field(default_factory=list)
    manufacturer_data: Mapping[int, str] = field(default_factory=dict)
    rssi: int = -60
    """Signal strength the scanner reports"""
    interval_s: float = 0.2
    repeat: int = 3
    """How often each frame is advertised"""
    frames: list[Frame] = field(default_factory=list)
    gatt: Mapping[str, list[str]] = field(default_factory=dict)
    """service -> characteristics"""
    records: list[Record] = field(default_factory=list)
    glucose_records: list[str] = field(default_factory=list)
    """0x2A18 payloads served by RACP"""
    reads: Mapping[str, str] = field(default_factory=dict)
    """16-bit characteristic -> the payload (hex) a read returns, e.g. the Battery Level 2a19"""
    advertise: Literal["pending", "always"] = "pending"
    requires_pairing: bool = False

    def __post_init__(self) -> None:
        if self.rssi > 0 or self.interval_s <= 0 or self.repeat < 1:
            raise ValueError(f"{self.address}: rssi <= 0, interval_s > 0 and repeat >= 1 are required")
        if self.advertise not in ("pending", "always"):
            raise ValueError(f"{self.address}: advertise is pending or always, not {self.advertise!r}")

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> ReplayDevice:
        """A device from its JSON form (`ReplayScript.to_json`); an unknown key raises TypeError naming it."""
        return cls(**{
            **entry,
            "manufacturer_data": {int(key): value for key, value in entry.get("manufacturer_data", {}).items()},
            "frames": [Frame(**frame) for frame in entry.get("frames", ())],
            "records": [Record(**record) for record in entry.get("records", ())],
        })  # fmt: skip


@dataclass(slots=True, kw_only=True)
class ReplayScript:
    """The devices of one replay world; a test script, so it is read with the standard library alone (the agent
    that replays it is measured as a gateway with a radio would be)."""

    devices: list[ReplayDevice]

    def to_json(self, indent: int | None = None) -> str:
        """The script as the JSON `ReplayWorld.from_file` reads."""
        return json.dumps(dataclasses.asdict(self), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> ReplayScript:
        """The script from its JSON text."""
        document = json.loads(text)
        return cls(devices=[ReplayDevice.from_json(entry) for entry in document["devices"]])


class _DeviceState:
    def __init__(self, spec: ReplayDevice) -> None:
        self.spec = spec
        self.delivered: set[int] = set()  # indices of records already sent
        self.sent: dict[int, int] = {}  # frame index -> times advertised
        self.last_advert = 0.0
        self.paired = False


class ReplayWorld:
    """Scripted devices shared by the scanner and client backends it hands out; thread-safe journal."""

    def __init__(self, script: ReplayScript, journal: Path | None = None) -> None:
        self.devices = {d.address: _DeviceState(d) for d in script.devices}
        self.started: float | None = None  # the script's clock starts with the first scan
        self.silenced = False
        self.scanner_failures = 0
        self.connect_failures: dict[str, int] = {}
        self.log: list[dict[str, Any]] = []
        self._journal = journal
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: Path) -> ReplayWorld:
        """A world from a JSON script; its journal is written next to it (`<script>.journal.jsonl`)."""
        script = ReplayScript.from_json(path.read_text(encoding="utf-8"))
        return cls(script, journal=path.with_suffix(".journal.jsonl"))

    def record(self, kind: str, **details: Any) -> None:
        """Journal one thing the agent did to the world."""
        entry = {"kind": kind, "at": time.time(), **details}
        with self._lock:
            self.log.append(entry)
            if self._journal is not None:
                with self._journal.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(entry) + "\n")

    def entries(self, kind: str) -> list[dict[str, Any]]:
        """Journal entries of one kind, oldest first."""
        with self._lock:
            return [e for e in self.log if e["kind"] == kind]

    def silence(self, silent: bool = True) -> None:
        """Stop (or resume) every advertisement, as a wedged adapter does."""
        self.silenced = silent

    def add_record(self, address: str, record: Record) -> None:
        """A new measurement on a device (taken while the agent watches)."""
        self.devices[address].spec.records.append(record)

    def add_glucose_record(self, address: str, data: bytes) -> None:
        """A new stored glucose record on a meter."""
        self.devices[address].spec.glucose_records.append(data.hex())

    def elapsed(self) -> float:
        """Seconds since the first scan started (0 before)."""
        return 0.0 if self.started is None else time.monotonic() - self.started

    def pending(self, device: _DeviceState, characteristic: str | None = None) -> list[tuple[int, Record]]:
        """Due records not yet delivered (optionally for one characteristic)."""
        now = self.elapsed()
        return [
            (index, r)
            for index, r in enumerate(device.spec.records)
            if index not in device.delivered
            and r.at_s <= now
            and (characteristic is None or int(r.characteristic, 16) == int(characteristic, 16))
        ]

    def adverts_due(self) -> list[tuple[ReplayDevice, AdvertisementData]]:
        """The advertisements to emit now."""
        if self.silenced:
            return []
        now, out = self.elapsed(), []
        for state in self.devices.values():
            spec = state.spec
            if now - state.last_advert < spec.interval_s:
                continue
            service_data: dict[str, bytes] = {}
            due = [i for i, f in enumerate(spec.frames) if f.at_s <= now]
            if due and state.sent.get(due[-1], 0) < spec.repeat:
                state.sent[due[-1]] = state.sent.get(due[-1], 0) + 1
                service_data = {uuid128(k): bytes.fromhex(v) for k, v in spec.frames[due[-1]].service_data.items()}
            elif not (spec.gatt and (spec.advertise == "always" or self.pending(state))):
                continue
            state.last_advert = now
            advert = AdvertisementData(
                local_name=spec.name,
                manufacturer_data={k: bytes.fromhex(v) for k, v in spec.manufacturer_data.items()},
                service_data=service_data,
                service_uuids=[uuid128(u) for u in spec.service_uuids],
                tx_power=None,
                rssi=spec.rssi,
                platform_data=(),
            )
            out.append((spec, advert))
        return out

    def scanner_backend(self) -> type[BaseBleakScanner]:
        """A `BaseBleakScanner` class bound to this world, for `BleakScanner(backend=...)`."""
        return type("ReplayScanner", (ReplayScanner,), {"world": self})

    def client_backend(self) -> type[BaseBleakClient]:
        """A `BaseBleakClient` class bound to this world, for `BleakClient(backend=...)`."""
        return type("ReplayClient", (ReplayClient,), {"world": self})


class ReplayScanner(BaseBleakScanner):
    """Emits the world's due advertisements every 50 ms while started."""

    world: ReplayWorld
    TICK_S = 0.05

    def __init__(self, detection_callback: Any, service_uuids: list[str] | None, *args: Any, **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start emitting (or fail as a broken adapter does)."""
        self.world.record("scanner_start")
        if self.world.started is None:
            self.world.started = time.monotonic()
        if self.world.scanner_failures > 0:
            self.world.scanner_failures -= 1
            raise BleakError("org.bluez.Error.NotReady: replayed adapter failure")
        self.seen_devices = {}
        self._task = asyncio.create_task(self._emit())

    async def stop(self) -> None:
        """Stop emitting."""
        self.world.record("scanner_stop")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _emit(self) -> None:
        while True:
            for spec, advert in self.world.adverts_due():
                if self.is_allowed_uuid(advert.service_uuids):
                    device = self.create_or_update_device(spec.address, spec.address, spec.name, None, advert)
                    self.call_detection_callbacks(device, advert)
            await asyncio.sleep(self.TICK_S)


class ReplayClient(BaseBleakClient):
    """A GATT connection to a scripted device."""

    world: ReplayWorld

    def __init__(self, address_or_ble_device: Any, **kwargs: Any) -> None:
        super().__init__(
            address_or_ble_device,
            disconnected_callback=kwargs.get("disconnected_callback"),
            timeout=kwargs.get("timeout", 10.0),
        )
        self._connected = False
        self._callbacks: dict[int, NotifyCallback] = {}
        self._device = self.world.devices.get(self.address)

    @property
    def name(self) -> str:
        """The device's name."""
        return (self._device.spec.name if self._device else None) or self.address

    @property
    def mtu_size(self) -> int:
        """The ATT MTU (23, the default)."""
        return 23

    @property
    def is_connected(self) -> bool:
        """True while connected."""
        return self._connected

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Connect and discover the scripted services."""
        failures = self.world.connect_failures.get(self.address, 0)
        if self._device is None or failures > 0:
            self.world.connect_failures[self.address] = max(0, failures - 1)
            self.world.record("connect_failed", address=self.address)
            raise BleakError(f"replayed device {self.address} not reachable")
        self.services = self._services(self._device.spec)
        self._connected = True
        self.world.record("connect", address=self.address)
        if pair:
            await self.pair()

    @staticmethod
    def _services(spec: ReplayDevice) -> BleakGATTServiceCollection:
        collection, handle = BleakGATTServiceCollection(), 1
        for service_uuid, characteristics in spec.gatt.items():
            service = BleakGATTService(None, handle, uuid128(service_uuid))
            collection.add_service(service)
            for char_uuid in characteristics:
                handle += 2
                props: list[Any] = ["read", "write", "notify", "indicate"]
                char = BleakGATTCharacteristic(None, handle, uuid128(char_uuid), props, lambda: 20, service)
                collection.add_characteristic(char)
                collection.add_descriptor(BleakGATTDescriptor(None, handle + 1, uuid128(0x2902), char))
            handle += 1
        return collection

    async def disconnect(self) -> None:
        """Disconnect."""
        if self._connected:
            self._connected = False
            self._callbacks.clear()
            self.world.record("disconnect", address=self.address)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Bond with the device."""
        if self._device is not None:
            self._device.paired = True
        self.world.record("pair", address=self.address)

    async def unpair(self) -> None:
        """Remove the bond."""
        if self._device is not None:
            self._device.paired = False
        self.world.record("unpair", address=self.address)

    def _require(self) -> _DeviceState:
        if not self._connected or self._device is None:
            raise BleakError("Not connected")
        if self._device.spec.requires_pairing and not self._device.paired:
            raise BleakError("org.bluez.Error.AuthenticationRequired: replayed device needs a bond")
        return self._device

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, **kwargs: Any) -> bytearray:
        """The scripted value of the characteristic (`reads`), empty when the script gives none; journaled."""
        device = self._require()
        uuid = f"{int(characteristic.uuid[4:8], 16):04x}"
        self.world.record("read", address=self.address, characteristic=uuid.upper())
        return bytearray.fromhex(device.spec.reads.get(uuid, ""))

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, **kwargs: Any) -> bytearray:
        """Reads return nothing useful on a replayed device."""
        self._require()
        return bytearray()

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: Any, response: bool) -> None:
        """Journal the write; serve RACP requests."""
        device = self._require()
        uuid = int(characteristic.uuid[4:8], 16)
        self.world.record("write", address=self.address, characteristic=f"{uuid:04X}", data=bytes(data).hex())
        if uuid == control.RACP:
            asyncio.get_running_loop().call_soon(self._serve_racp, device, bytes(data))

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        """Journal the write."""
        self._require()
        self.world.record("write_descriptor", address=self.address, data=bytes(data).hex())

    async def start_notify(self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback,
                           **kwargs: Any) -> None:  # fmt: skip
        """Subscribe; the due records of this characteristic follow as indications, each once."""
        device = self._require()
        uuid = int(characteristic.uuid[4:8], 16)
        self._callbacks[uuid] = callback
        self.world.record("subscribe", address=self.address, characteristic=f"{uuid:04X}")
        loop = asyncio.get_running_loop()
        for step, (index, record) in enumerate(self.world.pending(device, f"{uuid:04x}")):
            device.delivered.add(index)
            loop.call_later(0.02 * (step + 1), self._send, uuid, bytes.fromhex(record.data))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Unsubscribe."""
        self._callbacks.pop(int(characteristic.uuid[4:8], 16), None)

    def _send(self, uuid: int, data: bytes) -> None:
        callback: Callable[[bytearray], None] | None = self._callbacks.get(uuid)
        if self._connected and callback is not None:
            callback(bytearray(data))

    def _serve_racp(self, device: _DeviceState, data: bytes) -> None:
        try:
            request = control.parse_request(data)
        except ValueError:
            self._send(control.RACP, control.response(data[0] if data else 0, 0x05))
            return
        if request.op_code != control.OP_REPORT_RECORDS or request.operator not in (
            control.OPERATOR_ALL,
            control.OPERATOR_AT_LEAST,
        ):
            self._send(control.RACP, control.response(request.op_code, 0x02))
            return
        records = [bytes.fromhex(r) for r in device.spec.glucose_records]
        floor = request.at_least or 0
        chosen = [r for r in records if int.from_bytes(r[1:3], "little") >= floor]
        for record in chosen:
            self._send(0x2A18, record)
        self._send(control.RACP, control.response(request.op_code, control.SUCCESS if chosen else control.NO_RECORDS))


__all__ = ["Frame", "Record", "ReplayDevice", "ReplayScript", "ReplayWorld", "uuid128"]
