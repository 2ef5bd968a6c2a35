"""The agent stops promptly on SIGTERM or Ctrl-C (systemd's stop, the demo's Ctrl-C), with every source busy:
each loop notices `stop` by itself, however long its own period, and an upload the cloud never answers is
abandoned after the grace with its readings still in the outbox for the next start."""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from edge.agent import STOP_GRACE_S, open_outbox, run_agent
from edge.config import BleConfig, GatewayConfig, LocalAlarmConfig, SimulatorConfig, config_from
from edge.sources.ble_replay import Frame, ReplayDevice, ReplayScript, ReplayWorld
from edge.sources.radio import Radio
from tests.edge import ble_vectors as v
from tests.edge.radio_support import address, enrolled, in_thread, observations
from tests.support.services import Mosquitto, TestDatabase, private_mosquitto
from tests.support.tenants import Tenants

pytestmark = pytest.mark.slow
LONG_S = 600.0  # every period the agent has: a loop that waits one out instead of watching `stop` hangs the stop


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with private_mosquitto(tmp_path / "mosquitto") as started:
        yield started


def _every_source(config: GatewayConfig, broker: Mosquitto) -> GatewayConfig:
    local_alarm = LocalAlarmConfig(enabled=True, broker_host=broker.host, broker_port=broker.port, retry_s=LONG_S)
    return replace(
        config,
        heartbeat_s=LONG_S,
        simulator=SimulatorConfig(enabled=True, seed=11),
        ble=BleConfig(enabled=True, watchdog_s=LONG_S, idle_s=LONG_S, session_timeout_s=LONG_S),
        mqtt=replace(config.mqtt, enabled=True, host=broker.host, port=broker.port, resubscribe_s=LONG_S),
        local_alarm=local_alarm,
    )


async def _stopped_after(agent: asyncio.Task[None], stop: asyncio.Event) -> float:
    """Set `stop`; the seconds until the agent has ended (bounded well above the grace, so a hang fails)."""
    asked = time.monotonic()
    stop.set()
    await asyncio.wait_for(agent, STOP_GRACE_S + 10)
    return time.monotonic() - asked


def test_every_source_notices_stop_by_itself_whatever_its_period(
    tmp_path: Path, broker: Mosquitto, cloud: tuple[str, Path], edge_db: TestDatabase, edge_tenants: Tenants,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    button = address()
    config = _every_source(enrolled(tmp_path, cloud, edge_db, edge_tenants, {button: "shelly-blu-button1"}), broker)
    plain = bytes.fromhex("40") + v.BUTTON_PRESS  # BTHome v2, unencrypted
    world = ReplayWorld(ReplayScript(devices=[
        ReplayDevice(address=button, name="SBBT-002C", repeat=1000, frames=[Frame(service_data={"fcd2": plain.hex()})]),
    ]))  # fmt: skip

    def busy() -> bool:
        """The button's press reached the cloud and the MQTT source waits for its broker's next message."""
        if not any(row["address"] == button for row in observations(edge_db, config.gateway_id)):
            return False  # the outbox exists once something was uploaded from it
        with sqlite3.connect(f"file:{config.outbox_path}?mode=ro", uri=True) as db:
            return db.execute("SELECT 1 FROM events WHERE kind = 'mqtt_connected'").fetchone() is not None

    async def scenario() -> float:
        stop = asyncio.Event()
        agent = asyncio.create_task(run_agent(config, stop=stop, radio=Radio(world.scanner_backend(),
                                                                             world.client_backend())))  # fmt: skip
        deadline = time.monotonic() + 30
        while not await in_thread(busy):
            assert time.monotonic() < deadline and not agent.done(), "the agent did not get busy"
            await asyncio.sleep(0.2)
        return await _stopped_after(agent, stop)

    with caplog.at_level(logging.WARNING, logger="tryggheim.edge.agent"):
        took = asyncio.run(scenario())
    assert [r.getMessage() for r in caplog.records if "did not stop" in r.getMessage()] == []
    assert took < STOP_GRACE_S


class _SilentCloud:
    """A TCP server that takes connections and reads requests but never answers (a cloud hung mid-request)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.requests = 0
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self._held.append(connection)
            if connection.recv(65536):
                self.requests += 1

    def close(self) -> None:
        self._listener.close()
        for connection in self._held:
            connection.close()


def test_an_upload_the_cloud_never_answers_is_abandoned_after_the_grace_and_its_readings_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    silent = _SilentCloud()
    (tmp_path / "credential").write_text("unused")
    config = config_from({
        "cloud_url": silent.url, "gateway_id": str(uuid.uuid4()), "credential_file": tmp_path / "credential",
        "outbox_path": tmp_path / "outbox.db", "insecure_dev": True, "request_timeout_s": LONG_S,
        "batch_age_s": 0.1, "heartbeat_s": LONG_S,
        "simulator": {"enabled": True, "seed": 12, "start": "2026-03-02T06:00:00+00:00", "speed": 3600},
    })  # fmt: skip

    async def scenario() -> float:
        stop = asyncio.Event()
        agent = asyncio.create_task(run_agent(config, stop=stop))
        deadline = time.monotonic() + 20
        while silent.requests < 2:  # the heartbeat and an upload, both waiting for an answer
            assert time.monotonic() < deadline and not agent.done(), "the agent sent nothing"
            await asyncio.sleep(0.05)
        return await _stopped_after(agent, stop)

    try:
        with caplog.at_level(logging.WARNING, logger="tryggheim.edge.agent"):
            took = asyncio.run(scenario())
    finally:
        silent.close()
    assert STOP_GRACE_S <= took < STOP_GRACE_S + 1.5
    cancelled = sorted(r.getMessage().split()[0] for r in caplog.records if "did not stop" in r.getMessage())
    assert cancelled == ["cloudlink", "uplink"]
    outbox = open_outbox(config)
    try:
        assert outbox.depth().count > 0  # nothing was acknowledged, nothing is lost
    finally:
        outbox.close()
