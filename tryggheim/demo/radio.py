"""The demo home with radio sources: replayed BLE devices and a private Mosquitto with Zigbee2MQTT-style
sensors, instead of the simulator source. Nothing here touches a broker or adapter already running: the
broker is started by the demo on a free port, with its own configuration, and stopped with the demo.

* BLE: a replay script (edge/sources/ble_replay.py, the replay bleak backend, not a radio) with an A&D
  blood-pressure monitor holding a measurement every few minutes (0x2A35 with a time stamp, indicated when the
  agent connects) and a Xiaomi body-composition scale weighed every few minutes (moving, then stabilised
  frames; only the stabilised weight becomes a reading).
* MQTT: a publisher process sends Zigbee2MQTT state messages (`zigbee2mqtt/<friendly name>`) for a door
  contact and a motion sensor, QoS 0 as Zigbee2MQTT does by default.
* A siren (`--siren NAME`): the same process answers a command on `zigbee2mqtt/<siren>/set` as Zigbee2MQTT
  does, with the siren's state on `zigbee2mqtt/<siren>`, and prints it; the gateway's local alarm path
  (edge/local_alarm.py) counts that answer as the siren sounding.

Run as `python -m tryggheim.demo.radio --port N --door NAME --motion NAME --seed S [--siren NAME]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from cloud.db.embedded import reachable_by
from common.children import die_with_parent, record, stop_recorded
from common.i18n import translations
from common.timefmt import OSLO
from edge.sources.ble_replay import Frame, Record, ReplayDevice, ReplayScript

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

READINGS = 12  # measurements of each BLE device per demo run
SPACING_S = 150.0  # one blood pressure and one weighing every two and a half minutes


def devices(seed: int) -> dict[str, str]:
    """address -> catalogue profile of the radio home's devices (stable per seed, so enrolment is kept)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not security
    mac = [":".join(f"{rng.getrandbits(8):02X}" for _ in range(6)) for _ in range(2)]
    return {
        mac[0]: "and-ua-651ble",
        mac[1]: "xiaomi-mi-body-composition-scale-2",
        f"demo-{seed}-hall-door": "aqara-door-window-mccgq11lm",
        f"demo-{seed}-living-motion": "aqara-motion-rtcgq11lm",
        button_name(seed): BUTTON_PROFILE,
    }


BUTTON_PROFILE = "aqara-wireless-mini-switch-wxkg11lm"


def button_name(seed: int) -> str:
    """The Zigbee2MQTT friendly name of the radio home's bedside alarm button (`tryggheim demo press`)."""
    return f"demo-{seed}-bedside-button"


def broker_port(home_dir: Path) -> int | None:
    """The port of the home's running broker, as `start_broker` recorded it; None when none was started."""
    try:
        return int((home_dir / "mosquitto" / "broker.port").read_text())
    except (OSError, ValueError):
        return None


def siren_name(seed: int) -> str:
    """The Zigbee2MQTT friendly name of the demo home's siren (configure it as the gateway's local alarm)."""
    return f"demo-{seed}-hall-siren"


class SirenStandIn:
    """Answers Zigbee2MQTT `/set` commands for one siren on a connected paho client, as Zigbee2MQTT does:
    the device's new state on its state topic. `commands` keeps what was asked, for tests and the demo log."""

    def __init__(self, name: str, base_topic: str = "zigbee2mqtt") -> None:
        self.state_topic = f"{base_topic}/{name}"
        self.commands: list[dict[str, object]] = []

    def attach(self, client: mqtt.Client) -> None:
        """Subscribe on `client` (call again after a reconnect) and answer every command."""
        client.message_callback_add(f"{self.state_topic}/set", self._on_set)
        client.subscribe(f"{self.state_topic}/set", qos=1)

    def _on_set(self, client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            command = json.loads(message.payload)
        except ValueError:
            return  # Zigbee2MQTT logs and ignores a payload that is not JSON; so does the stand-in
        if not isinstance(command, dict):
            return
        self.commands.append(command)
        warning = command.get("warning")
        sounding = isinstance(warning, dict) and warning.get("mode") != "stop"
        state = {"alarm": sounding, "battery": 97, "linkquality": 142}
        client.publish(self.state_topic, json.dumps(state), qos=0)
        print(f"siren {self.state_topic}: {json.dumps(command)}", flush=True)


def _date_time(moment: datetime) -> bytes:
    """SIG Date Time (7 octets) of the Oslo wall clock."""
    wall = moment.astimezone(OSLO)
    return bytes([*wall.year.to_bytes(2, "little"), wall.month, wall.day, wall.hour, wall.minute, wall.second])


def blood_pressure(moment: datetime, systolic: int, diastolic: int, pulse: int) -> bytes:
    """0x2A35: flags 0x06 (mmHg, time stamp, pulse rate), SFLOATs with exponent 0, MAP from the two."""
    mean = round(diastolic + (systolic - diastolic) / 3)
    values = b"".join(v.to_bytes(2, "little") for v in (systolic, diastolic, mean))
    return bytes([0x06]) + values + _date_time(moment) + pulse.to_bytes(2, "little")


def scale_frame(moment: datetime, kg: float, stabilised: bool, impedance: int = 0) -> bytes:
    """Xiaomi V2 frame: control0 0 (kg), control1 bit5 stabilised and bit1 impedance stable, Date Time,
    impedance uint16, weight uint16 (kg x 200)."""
    control1 = (0x20 if stabilised else 0) | (0x02 if impedance else 0)
    return (
        bytes([0x00, control1])
        + _date_time(moment)
        + impedance.to_bytes(2, "little")
        + round(kg * 200).to_bytes(2, "little")
    )


def replay_script(seed: int, start: datetime) -> ReplayScript:
    """The BLE devices of the radio home for a demo run starting at `start` (time stamps are real times)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not security
    monitor, scale = list(devices(seed))[:2]
    records, frames = [], []
    for index in range(READINGS):
        at = 5.0 + index * SPACING_S
        moment = start + timedelta(seconds=at)
        reading = blood_pressure(moment, rng.randint(125, 150), rng.randint(75, 92), rng.randint(60, 80))
        records.append(Record(at_s=at, characteristic="2a35", data=reading.hex()))
        kg = round(82.0 + rng.uniform(-0.6, 0.6), 1)
        step = start + timedelta(seconds=at + 20)
        weighing = (
            (0, scale_frame(step, kg - 3.1, False)),  # stepping on: moving, never a reading
            (3, scale_frame(step, kg, True)),
            (5, scale_frame(step + timedelta(seconds=5), kg, True, rng.randint(480, 520))),
        )
        for offset, frame in weighing:
            frames.append(Frame(at_s=at + 20 + offset, service_data={"181b": frame.hex()}))
    return ReplayScript(
        devices=[
            ReplayDevice(address=monitor, name="UA-651BLE", service_uuids=["1810"], records=records,
                         gatt={"1810": ["2a35", "2a49"], "1805": ["2a2b"]}, interval_s=1.0),
            ReplayDevice(address=scale, name="MIBFS", frames=frames, interval_s=0.5, repeat=3),
        ]
    )  # fmt: skip


def broker_binary() -> str | None:
    """Mosquitto's program, or None when it is not installed (the demo then runs without a broker)."""
    found = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    return found if Path(found).is_file() else None


def _broker_user() -> pwd.struct_passwd | None:
    """The user the broker runs as when we are root. Mosquitto started as root switches to its own user by
    itself, and that switch clears the parent-death signal (the broker outlived a killed demo): so the switch
    is made before the signal is armed, by starting it as that user."""
    if os.geteuid() != 0:
        return None
    for name in ("mosquitto", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    return None


def start_broker(workdir: Path, port: int, say: Callable[[str], None] | None = None) -> subprocess.Popen[bytes]:
    """A private Mosquitto on `port` (localhost, QoS 0 queued for offline clients, as deploy/gateway's). A broker
    a killed earlier run left behind (recorded in `workdir`) is stopped first, and `say` is told so."""
    binary = broker_binary() or "mosquitto"
    workdir.mkdir(parents=True, exist_ok=True)
    pid_file = workdir / "broker.pid"
    leftover = stop_recorded(pid_file)
    if leftover is not None and say is not None:
        say(translations("nb").gettext("Stopped a Mosquitto (pid {pid}) left running by an earlier demo run").format(
            pid=leftover))  # fmt: skip
    user = _broker_user()
    if user is not None and not reachable_by(workdir / "mosquitto.conf", user):
        # The broker reads its configuration as its own user: a private state directory moves it to /tmp.
        workdir = Path(tempfile.mkdtemp(prefix="tryggheim-mosquitto-"))
        workdir.chmod(0o755)
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nqueue_qos0_messages true\n")
    conf.chmod(0o644)
    broker = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        start_new_session=True, preexec_fn=die_with_parent(signal.SIGTERM),
        user=user.pw_uid if user else None, group=user.pw_gid if user else None, extra_groups=[] if user else None,
    )  # fmt: skip
    record(pid_file, broker.pid)
    (pid_file.parent / "broker.port").write_text(str(port))
    return broker


def start_publisher(port: int, seed: int, log: Path, *, siren: str | None = None) -> subprocess.Popen[bytes]:
    """The Zigbee2MQTT stand-in, as its own process (stopped with the agents); with `siren`, it also answers
    that siren's commands."""
    names = [f"demo-{seed}-hall-door", f"demo-{seed}-living-motion"]
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tryggheim.demo.radio", "--port", str(port), "--door", names[0],
             "--motion", names[1], "--seed", str(seed), *(["--siren", siren] if siren else [])],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )  # fmt: skip


def publish_forever(port: int, door: str, motion: str, seed: int, siren: str | None = None) -> None:
    """Door opened and closed now and then, motion in the living room more often; QoS 0 like Zigbee2MQTT.
    With `siren`, that siren's commands are answered."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not security
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"demo-zigbee2mqtt-{seed}")
    if siren:
        stand_in = SirenStandIn(siren)
        client.on_connect = lambda c, *_: stand_in.attach(c)
    client.connect_async("127.0.0.1", port)
    client.loop_start()
    battery = {door: 94, motion: 88}
    try:
        while True:
            time.sleep(rng.uniform(8, 25))
            if rng.random() < 0.3:
                body = {"contact": False, "battery": battery[door], "linkquality": rng.randint(90, 160)}
                client.publish(f"zigbee2mqtt/{door}", json.dumps(body), qos=0)
                time.sleep(rng.uniform(2, 6))
                client.publish(f"zigbee2mqtt/{door}", json.dumps({**body, "contact": True}), qos=0)
            else:
                body = {"occupancy": True, "battery": battery[motion], "illuminance": rng.randint(5, 300)}
                client.publish(f"zigbee2mqtt/{motion}", json.dumps(body), qos=0)
    finally:
        client.loop_stop()


def _main() -> None:
    parser = argparse.ArgumentParser(description="Zigbee2MQTT stand-in for the demo home")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--door", required=True)
    parser.add_argument("--motion", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--siren", default=None, help="friendly name of a siren to answer for")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    publish_forever(args.port, args.door, args.motion, args.seed, args.siren)


def script_for_run(seed: int, path: Path) -> Path:
    """Write this run's replay script (new times each run) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(replay_script(seed, datetime.now(UTC)).to_json(indent=1), encoding="utf-8")
    return path


if __name__ == "__main__":
    _main()
