"""Exactly once across a crash between the outbox commit and the broker's acknowledgement, and each device's
health from the heartbeat to the fleet API: a real agent process (`tryggheim edge run`), a private Mosquitto
with the shipped gateway configuration, and the real cloud over TLS.

The agent runs with the test-only fault `TRYGGHEIM_EDGE_FAULT=kill-after-commit`: it SIGKILLs itself right
after a Zigbee door event's readings are committed, before the PUBACK. The broker then resends the event
(DUP, same packet id) to the restarted agent, which must recognise it: the event has no device time, so a
second copy would be a second reading stamped with a later receipt time that the cloud cannot tell apart.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud.access.roles import Role
from edge.outbox import Outbox
from edge.sources.ble_replay import Frame, ReplayDevice, ReplayScript
from tests.edge.radio_support import address, enrolled, observations
from tests.edge.test_mqtt import _publish, _subscribed
from tests.edge.test_mqtt import broker as broker  # the shipped broker configuration, private
from tests.support.proc import TRYGGHEIM, env_with
from tests.support.services import Mosquitto, TestDatabase
from tests.support.tenants import Tenants

pytestmark = pytest.mark.slow
BUTTON_BATTERY_22 = "4000010116"  # BTHome v2: packet id 1, battery 22 %


def _agent(config: Path, log: Path, **env: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([TRYGGHEIM, "edge", "run", "--config", str(config)], env=env_with(**env),
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def _wait(condition: Callable[[], bool], what: str, limit_s: float = 20.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"not reached in time: {what}"
        time.sleep(0.1)


def _ready(outbox: Path) -> bool:
    """True once the agent's outbox exists with its tables and the broker acknowledged its subscriptions."""
    try:
        return outbox.exists() and _subscribed(outbox)
    except sqlite3.OperationalError:  # the file exists, its tables not yet
        return False


def _counter(outbox: Path, name: str) -> int:
    with sqlite3.connect(f"file:{outbox}?mode=ro", uri=True) as db:
        row = db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
    return 0 if row is None else int(row[0])


def test_a_sigkill_between_commit_and_ack_stores_one_reading_and_the_fleet_shows_device_health(
    tmp_path: Path,
    broker: Mosquitto,
    cloud: tuple[str, Path],
    edge_db: TestDatabase,
    edge_tenants: Tenants,
) -> None:
    door, button = f"hall-door-{uuid.uuid4().hex[:6]}", address()
    config = enrolled(tmp_path, cloud, edge_db, edge_tenants,
                      {door: "aqara-door-window-mccgq11lm", button: "shelly-blu-button1"})  # fmt: skip
    script = ReplayScript(devices=[ReplayDevice(address=button, name="SBBT-002C", rssi=-67, repeat=1000,
                                                frames=[Frame(service_data={"fcd2": BUTTON_BATTERY_22})])])  # fmt: skip
    (tmp_path / "replay.json").write_text(script.to_json(), encoding="utf-8")
    toml = tmp_path / "gateway.toml"
    toml.write_text(toml.read_text() + "batch_age_s = 0.2\nheartbeat_s = 0.5\n"
                    f'[mqtt]\nenabled = true\nhost = "{broker.host}"\nport = {broker.port}\nresubscribe_s = 0.3\n'
                    '[ble]\nenabled = true\nreplay_script = "replay.json"\n')  # fmt: skip
    log, outbox = tmp_path / "agent.log", config.outbox_path

    crashing = _agent(toml, log, TRYGGHEIM_EDGE_FAULT="kill-after-commit")
    try:
        _wait(lambda: _ready(outbox), "the agent subscribed")
        _publish(broker, (door, {"contact": False, "battery": 15, "linkquality": 87}, 1))
        assert crashing.wait(20) == -signal.SIGKILL, log.read_text()
    finally:
        crashing.kill()
    stored = Outbox(outbox)
    try:  # committed before the kill: the event's readings and its delivery, in one transaction
        assert sorted(p.body["metric"] for p in stored.next_batch(10) if p.body["device"] == door) == [
            "device.battery", "door.open"]  # fmt: skip
    finally:
        stored.close()

    agent = _agent(toml, log)
    try:
        fleet = _fleet_device_health(cloud, edge_tenants, config.gateway_id)
        _wait(lambda: _counter(outbox, "mqtt_redelivered") == 1, "the broker's redelivery recognised")
        _publish(broker, (door, {"contact": True, "linkquality": 90}, 1))  # the door closes: a new event
        _wait(lambda: len([r for r in observations(edge_db, config.gateway_id) if r["address"] == door]) >= 3,
              "the door's readings stored")  # fmt: skip
        health = _wait_for(fleet, lambda d: d[door]["link_quality"] == 90 and d[button]["rssi_dbm"] == -67)
        time.sleep(1.0)  # a further heartbeat and upload round: nothing arrives twice
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(20)
    door_readings = sorted((r["metric"], r["value"]) for r in observations(edge_db, config.gateway_id)
                           if r["address"] == door)  # fmt: skip
    assert door_readings == [("device.battery", 15.0), ("door.open", 0.0), ("door.open", 1.0)], log.read_text()
    assert _counter(outbox, "mqtt_messages") == 2  # the redelivery was acknowledged, not stored

    assert (health[door]["battery_pct"], health[door]["low_battery"], health[door]["rssi_dbm"]) == (15, True, None)
    assert (health[button]["battery_pct"], health[button]["low_battery"]) == (22, False)
    for device in (door, button):
        assert health[device]["last_reading_at"] is not None and health[device]["signal_at"] is not None
        assert (health[device]["decode_errors"], health[device]["connection_errors"]) == (0, 0)


def _fleet_device_health(cloud: tuple[str, Path], tenants: Tenants, gateway_id: str) -> Callable[[], dict[str, Any]]:
    """Reads the gateway's devices from the fleet API as an installer sees them, by address."""
    url, ca = cloud
    trusted = ssl.create_default_context(cafile=str(ca))

    def read() -> dict[str, Any]:
        response = httpx.get(f"{url}/api/v1/fleet/gateways/{gateway_id}", verify=trusted,
                             headers=tenants.a.auth(Role.INSTALLER), timeout=5)  # fmt: skip
        assert response.status_code == 200, response.text
        return {d["address"]: d for d in response.json()["devices"]}

    return read


def _wait_for(read: Callable[[], dict[str, Any]], ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while not ready(found := read()):
        assert time.monotonic() < deadline, f"the fleet API shows: {json.dumps(found, default=str)[:800]}"
        time.sleep(0.1)
    return found
