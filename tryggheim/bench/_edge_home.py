"""The edge benchmark's all-sources home: every kind of device a gateway reads, live while the agent is measured.

* BLE, replayed (edge/sources/ble_replay.py, the bleak backend for tests and the demo): a blood-pressure
  monitor read over GATT, a Xiaomi body-composition scale and a Shelly BLU button (BTHome), both advertising,
  so both advertisement parser libraries are loaded;
* MQTT: a private Mosquitto on a free port and a Zigbee2MQTT stand-in (this process) publishing a door contact
  and a motion sensor every half second;
* the heartbeat every 2 s and the uplink to the real cloud the benchmark started.

Every device is registered and assigned in the cloud, so the agent learns them from its configuration pull,
as in the field; `heard()` says which of them the agent stored a reading from.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cloud.db.pool import connect
from cloud.gateways import devices
from common.children import die_with_parent
from common.timefmt import OSLO
from device_profiles.sim import payloads
from edge.sources.ble_replay import Frame, Record, ReplayDevice, ReplayScript
from edge.status import read_status

MONITOR, SCALE, BUTTON = "A0:00:00:00:00:01", "A0:00:00:00:00:02", "A0:00:00:00:00:03"
DOOR, MOTION = "bench-hall-door", "bench-living-motion"
PROFILES = {
    MONITOR: "and-ua-651ble",
    SCALE: "xiaomi-mi-body-composition-scale-2",
    BUTTON: "shelly-blu-button1",
    DOOR: "aqara-door-window-mccgq11lm",
    MOTION: "aqara-motion-rtcgq11lm",
}


async def register_devices(runtime_url: str, gateway_id: uuid.UUID) -> None:
    """Register the home's devices on the gateway and assign them to the home's patient."""
    since = datetime(2020, 1, 1, tzinfo=UTC)
    async with await connect(runtime_url) as conn:
        row = await (await conn.execute("SELECT patient_id FROM device_assignments ORDER BY id LIMIT 1")).fetchone()
        assert row is not None
        for address, profile in PROFILES.items():
            device = await devices.register(
                conn, gateway_id=gateway_id, address=address, profile_id=profile, valid_from=since
            )
            await devices.assign(conn, device_id=device, patient_id=row[0], valid_from=since)


def _scale_frame(moment: datetime, kg: float, stabilised: bool, impedance: int = 0) -> bytes:
    """Xiaomi body-composition frame: control (kg; bit 5 of the second octet stabilised, bit 1 impedance
    stable), Date Time, impedance, weight in 1/200 kg."""
    control = (0x20 if stabilised else 0) | (0x02 if impedance else 0)
    weight = round(kg * 200).to_bytes(2, "little")
    return bytes([0x00, control]) + payloads.date_time(moment, OSLO) + impedance.to_bytes(2, "little") + weight


def replay_script(start: datetime, seconds: float) -> ReplayScript:
    """A measurement on the monitor and a weighing early on; a button press (new BTHome packet id) every 2 s."""
    reading = payloads.blood_pressure(138, 84, 71, start, OSLO)
    weighing = [
        Frame(at_s=1.5, service_data={"181b": _scale_frame(start, 79.0, False).hex()}),
        Frame(at_s=2.5, service_data={"181b": _scale_frame(start, 82.1, True).hex()}),
        Frame(at_s=3.5, service_data={"181b": _scale_frame(start, 82.1, True, 502).hex()}),
    ]
    presses = [
        Frame(at_s=1.0 + 2 * n, service_data={"fcd2": payloads.bthome_button(n + 1, 100).hex()})
        for n in range(int(seconds // 2))
    ]
    return ReplayScript(
        devices=[
            ReplayDevice(address=MONITOR, name="UA-651BLE", service_uuids=["1810"], interval_s=0.5,
                         records=[Record(at_s=1.0, characteristic="2a35", data=reading.hex())],
                         gatt={"1810": ["2a35", "2a49"], "1805": ["2a2b"]}),
            ReplayDevice(address=SCALE, name="MIBFS", frames=weighing, interval_s=0.5),
            ReplayDevice(address=BUTTON, name="SBBT-002C", frames=presses, interval_s=0.5),
        ]
    )  # fmt: skip


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start_broker(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    """A private Mosquitto on `port`, localhost only."""
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    return subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, preexec_fn=die_with_parent(signal.SIGTERM))  # fmt: skip


@contextmanager
def radio_home(workdir: Path, seconds: float) -> Iterator[dict[str, str]]:
    """Broker, publisher and replay script for one agent run; yields the agent's TRYGGHEIM_EDGE_* variables."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    port = free_port()
    broker = _start_broker(workdir / "mosquitto", port)
    script = workdir / "ble-replay.json"
    script.write_text(replay_script(datetime.now(UTC) - timedelta(minutes=1), seconds).to_json())
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-zigbee2mqtt")
    client.connect_async("127.0.0.1", port)
    client.loop_start()
    stop = threading.Event()

    def publish() -> None:
        battery = 90
        while not stop.wait(0.5):
            client.publish(f"zigbee2mqtt/{DOOR}", json.dumps({"contact": True, "battery": battery}), qos=0)
            client.publish(f"zigbee2mqtt/{MOTION}", json.dumps({"occupancy": True, "battery": battery}), qos=0)

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    try:
        yield {
            "TRYGGHEIM_EDGE_BLE__ENABLED": "true",
            "TRYGGHEIM_EDGE_BLE__REPLAY_SCRIPT": str(script),
            "TRYGGHEIM_EDGE_MQTT__ENABLED": "true",
            "TRYGGHEIM_EDGE_MQTT__PORT": str(port),
            "TRYGGHEIM_EDGE_HEARTBEAT_S": "2",
        }
    finally:
        stop.set()
        publisher.join()
        client.loop_stop()
        broker.terminate()
        broker.wait(10)


def heard(outbox_path: Path) -> list[str]:
    """The home's devices the agent stored a reading from (its outbox's device table)."""
    seen = {row["address"] for row in read_status(outbox_path).get("devices", [])}
    return sorted(address for address in PROFILES if address in seen)
