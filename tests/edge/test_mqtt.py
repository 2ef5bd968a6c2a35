"""The MQTT source against a private Mosquitto started with deploy/gateway/mosquitto.conf (only the port and
the persistence directory changed), the real agent and the real cloud."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import paho.mqtt.publish as publish
import pytest

from edge.outbox import Outbox
from tests.edge.radio_support import enrolled, in_thread, observations, quarantined, run_until, until
from tests.support.services import Mosquitto, TestDatabase, private_mosquitto
from tests.support.tenants import Tenants

pytestmark = pytest.mark.slow
SHIPPED = Path(__file__).parents[2] / "deploy" / "gateway" / "mosquitto.conf"


def gateway_broker_lines(persistence: Path) -> list[str]:
    """The shipped configuration minus the listener (the test's broker listens on a free port) and with its
    persistence in a directory of the test (writable by the broker's unprivileged user)."""
    persistence.mkdir(parents=True, exist_ok=True)
    persistence.chmod(0o777)
    lines = []
    for line in SHIPPED.read_text(encoding="utf-8").splitlines():
        key = line.split(" ", 1)[0]
        if key in {"listener", "allow_anonymous"}:
            continue
        lines.append(f"persistence_location {persistence}/" if key == "persistence_location" else line)
    return lines


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    # The broker drops root for the `mosquitto` user, which cannot enter pytest's private temporary directories:
    # its persistence goes to a directory of its own under /tmp.
    data = Path(tempfile.mkdtemp(prefix="trgt-mosquitto-", dir="/tmp"))
    data.chmod(0o755)
    try:
        with private_mosquitto(tmp_path / "mosquitto", gateway_broker_lines(data / "persist")) as started:
            yield started
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_shipped_broker_config_is_local_persistent_and_queues_qos0() -> None:
    settings = dict(line.split(" ", 1) for line in SHIPPED.read_text().splitlines() if line and line[0] != "#")
    assert settings["listener"] == "1883 127.0.0.1"
    assert settings["persistence"] == "true" and settings["queue_qos0_messages"] == "true"


def test_zigbee2mqtt_messages_published_while_the_agent_is_down_arrive_once_and_garbage_is_quarantined(
    tmp_path: Path, broker: Mosquitto, cloud: tuple[str, Path], edge_db: TestDatabase, edge_tenants: Tenants
) -> None:
    door, motion = f"hall-door-{uuid.uuid4().hex[:6]}", f"living-motion-{uuid.uuid4().hex[:6]}"
    config = enrolled(tmp_path, cloud, edge_db, edge_tenants,
                      {door: "aqara-door-window-mccgq11lm", motion: "aqara-motion-rtcgq11lm"},
                      malformed_forward_interval_s=0.0)  # fmt: skip
    config = replace(config, mqtt=replace(config.mqtt, enabled=True, host=broker.host, port=broker.port,
                                          resubscribe_s=0.3))  # fmt: skip

    def metrics() -> list[tuple[str, str, float]]:
        return [(r["address"], r["metric"], float(r["value"])) for r in observations(edge_db, config.gateway_id)]

    async def live_traffic() -> None:
        await until(lambda: config.outbox_path.exists() and _subscribed(config.outbox_path))
        await in_thread(lambda: _publish(broker,
            (door, {"contact": False, "battery": 97, "linkquality": 120}, 1),
            (door, b"\x00\xffnot json{", 1),  # a broken bridge or a stray publisher
            (motion, {"occupancy": "banana"}, 1),  # JSON, but nothing in it is a reading
            (motion, {"occupancy": True, "illuminance": 14}, 1),  # the agent kept running
        ))  # fmt: skip

    async def first_done() -> bool:
        seen = await in_thread(metrics)
        return (motion, "motion", 1.0) in seen and len(
            await in_thread(lambda: quarantined(edge_db, config.gateway_id))
        ) >= 2

    asyncio.run(run_until(config, first_done, during=live_traffic))
    assert sorted(metrics()) == sorted([(door, "door.open", 1.0), (door, "device.battery", 97.0),
                                        (motion, "motion", 1.0)])  # fmt: skip
    garbage = quarantined(edge_db, config.gateway_id)
    assert [reason for reason, _ in garbage] == ["malformed", "malformed"]
    assert {body["device"] for _, body in garbage} == {door, motion}
    first = garbage[0][1]["context"]
    assert "not JSON" in first["malformed"] and first["raw_hex"].startswith("00ff")

    # The agent is down (upgrade, crash): the bridge keeps publishing, QoS 1 and QoS 0 alike.
    _publish(broker, (door, {"contact": True}, 1), (motion, {"occupancy": False}, 0), (door, {"contact": False}, 1))

    async def second_done() -> bool:
        return len(await in_thread(metrics)) >= 6

    asyncio.run(run_until(config, second_done))

    async def broker_restart() -> None:
        # The broker restarts under the running agent (package upgrade): its persistence keeps the agent's
        # session, and the agent reconnects by itself.
        await until(lambda: _subscribed(config.outbox_path))
        await in_thread(lambda: _restart(broker, tmp_path / "mosquitto" / "mosquitto.conf"))
        await until(lambda: _port_open(broker.port))
        await in_thread(lambda: _publish(broker, (motion, {"occupancy": True}, 1)))

    async def third_done() -> bool:
        return len(await in_thread(metrics)) >= 7

    asyncio.run(run_until(config, third_done, during=broker_restart))
    asyncio.run(run_until(config, _settled))  # run once more: nothing is delivered a second time
    seen = metrics()
    assert [m for m in seen if m[1] == "door.open"] == [(door, "door.open", v) for v in (1.0, 0.0, 1.0)]
    assert [m for m in seen if m[1] == "motion"] == [(motion, "motion", v) for v in (1.0, 0.0, 1.0)]
    assert len(seen) == 7
    outbox = Outbox(config.outbox_path)
    try:
        counters = outbox.counters()
        assert counters["malformed"] == 2 and counters["mqtt_messages"] == 8 and counters["mqtt_disconnects"] >= 1
        # Every connection after the first found its session kept: across agent restarts and the broker's.
        sessions = [detail for _, _, detail in outbox.events("mqtt_connected")]
        assert sessions[0] == "session present: False" and set(sessions[1:]) == {"session present: True"}
    finally:
        outbox.close()


def _publish(broker: Mosquitto, *messages: tuple[str, object, int]) -> None:
    """Publish as Zigbee2MQTT does: (device name, body, QoS), bodies as JSON unless given as raw bytes."""
    payloads = [
        {"topic": f"zigbee2mqtt/{name}", "qos": qos, "payload": body if isinstance(body, bytes) else json.dumps(body)}
        for name, body, qos in messages
    ]
    publish.multiple(payloads, hostname=broker.host, port=broker.port, client_id=f"z2m-{uuid.uuid4().hex[:6]}")


def _subscribed(outbox: Path) -> bool:
    """True once the broker acknowledged the agent's subscriptions."""
    with sqlite3.connect(f"file:{outbox}?mode=ro", uri=True) as db:
        return db.execute("SELECT 1 FROM events WHERE kind = 'mqtt_subscribed'").fetchone() is not None


def _restart(broker: Mosquitto, conf: Path) -> None:
    """Stop the broker (it writes its persistence file) and start it again on the same port."""
    assert broker.process is not None
    broker.process.terminate()
    broker.process.wait(10)
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker.process = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def _settled() -> bool:
    await asyncio.sleep(1.5)
    return True
