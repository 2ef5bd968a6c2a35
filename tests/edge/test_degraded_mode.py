"""Done when of degraded mode (issue 26): the real cloud process is stopped (SIGSTOP: its port still takes
connections and nothing answers, like a mobile link gone dead), the simulated resident presses the alarm
button, and within the configured overdue time the real agent process sounds the siren through the real
Mosquitto and sends an SMS to a real HTTP stand-in, over the second route because the first one is down too.
When the cloud continues (SIGCONT) it also works through the uploads that timed out meanwhile, the first of
them without the local history; it holds the alarm once, with every local attempt, and the alert's detail
shows them. (Stopping rather than killing keeps this within its time budget: a second start of the cloud
process costs 10-20 s on a busy machine; tests/edge/test_chaos.py kills and restarts it.)"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from psycopg.rows import dict_row

from alerts.wording import Reader
from cloud.db.pool import connect
from cloud.worklist.models import LocalAttemptOut
from cloud.worklist.triage import alert_detail
from common.i18n import translations
from common.ports import free_port
from device_profiles.sim import default_devices
from edge.status import read_status, render
from tests.edge.cloud import new_code, register_devices
from tests.edge.sms_standin import SmsStandIn
from tests.edge.test_chaos import Cloud
from tests.support.proc import TRYGGHEIM, env_with, run_cli
from tests.support.services import TestDatabase, private_mosquitto
from tests.support.tenants import Tenants
from tryggheim.demo.radio import SirenStandIn

pytestmark = pytest.mark.slow

SEED = 2626
OVERDUE_S = 2.0
PRESS_AFTER_S = 3.0  # after the agent's simulator starts: time to see it talk to the cloud, then cut the cloud
SIREN = "hall-siren"
T = TypeVar("T")


def _until(what: Callable[[], T | None], seconds: float, why: str) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out: {why}")


def _outbox(path: Path, sql: str) -> list[tuple[Any, ...]]:
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def _status_once(outbox: Path, showing: str) -> str | None:
    text = render(read_status(outbox))
    return text if showing in text else None


def _configure(config: Path, broker_port: int, sms_url: str, began: float) -> None:
    press = datetime.fromtimestamp(began, UTC) + timedelta(seconds=PRESS_AFTER_S)
    with config.open("a") as handle:
        handle.write(
            f"batch_age_s = 0.3\nbackoff_base_s = 0.2\nbackoff_max_s = 300\nheartbeat_s = 1\nrequest_timeout_s = 1\n"
            f"alarm_overdue_s = {OVERDUE_S}\nalarm_retry_s = 1\n"
            f'[simulator]\nenabled = true\nseed = {SEED}\nstart = "{datetime.fromtimestamp(began, UTC).isoformat()}"\n'
            f'alarm_presses = ["{press.isoformat()}"]\n'
            f'[local_alarm]\nenabled = true\nbroker_port = {broker_port}\nsirens = ["{SIREN}"]\nanswer_s = 2\n'
            f'[local_alarm.sms]\nbase_urls = ["http://127.0.0.1:{free_port()}", "{sms_url}"]\n'
            'recipients = ["+4790000002"]\ntimeout_s = 2\n'
        )  # fmt: skip


def test_alarm_during_an_outage_sounds_the_siren_texts_and_reaches_the_cloud_once_with_its_history(
    edge_db: TestDatabase, edge_tenants: Tenants, tmp_path: Path
) -> None:
    cloud = Cloud(edge_db.runtime_url, tmp_path)
    cloud.start()
    config = tmp_path / "gw" / "gateway.toml"
    config.parent.mkdir()
    enrolled = run_cli("edge", "enrol", "--cloud", cloud.url, "--code",
                       new_code(edge_db.runtime_url, edge_tenants.a.municipality_id), "--insecure-dev",
                       "--config", str(config))  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    gateway_id = UUID(config.read_text().split('gateway_id = "')[1].split('"')[0])
    patient = edge_tenants.a.patients["nord"]
    register_devices(edge_db.runtime_url, gateway_id, patient, {d.address: d.profile_id for d in default_devices(SEED)})
    outbox = config.parent / "outbox.db"
    commands: list[tuple[float, dict[str, Any]]] = []
    siren = SirenStandIn(SIREN)
    z2m = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="z2m-stand-in")
    z2m.on_connect = lambda client, *_: siren.attach(client)
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-watcher")
    watcher.on_message = lambda _c, _u, message: commands.append((time.time(), json.loads(message.payload)))
    watcher.on_connect = lambda client, *_: client.subscribe(f"zigbee2mqtt/{SIREN}/set", qos=1)
    agent: subprocess.Popen[bytes] | None = None
    with private_mosquitto(tmp_path / "mosquitto") as broker, SmsStandIn([200]) as sms:
        for client in (z2m, watcher):
            client.connect(broker.host, broker.port)
            client.loop_start()
        try:
            began = time.time()
            _configure(config, broker.port, sms.url, began)
            agent = subprocess.Popen([TRYGGHEIM, "edge", "run", "--config", str(config)], env=env_with(),
                                     stdout=(tmp_path / "agent.log").open("ab"), stderr=subprocess.STDOUT)  # fmt: skip
            _until(lambda: _outbox(outbox, "SELECT 1 FROM state WHERE key = 'last_heartbeat_at'"), 6,
                   "the agent's first heartbeat reached the cloud")  # fmt: skip
            assert cloud.process is not None
            cloud.process.send_signal(signal.SIGSTOP)
            pressed = "SELECT 1 FROM devices WHERE metric = 'alarm.button'"
            assert not _outbox(outbox, pressed), "the cloud was cut after the press; slow the test down"
            [(seq, queued_at)] = _until(lambda: _outbox(outbox, "SELECT seq, created_at FROM outbox WHERE alarm = 1"),
                                        PRESS_AFTER_S + 5, "the alarm was pressed")  # fmt: skip
            _until(lambda: commands and sms.received, OVERDUE_S + 6, "the siren command and the SMS")
            # What `tryggheim edge status` prints, once the agent has recorded both answers.
            status = _until(lambda: _status_once(outbox, "2 raised"), 5, "both local attempts recorded")
            cloud.process.send_signal(signal.SIGCONT)  # the agent's next alarm retry (1 s) delivers it
            _until(lambda: not _outbox(outbox, "SELECT 1 FROM outbox WHERE alarm = 1"), 15, "the alarm delivered")
        finally:
            if agent is not None:
                agent.send_signal(signal.SIGTERM)
                agent.wait(15)
            for client in (z2m, watcher):
                client.loop_stop()
                client.disconnect()
    try:
        stored, detail = _cloud_side(edge_db.runtime_url, gateway_id, patient)
    finally:
        assert cloud.process is not None
        cloud.process.send_signal(signal.SIGCONT)
        cloud.process.terminate()
        cloud.process.wait(15)
    # Raised locally after the overdue time, within it plus the check period and one answer's wait.
    siren_at, command = commands[0]
    assert command == {"warning": {"mode": "emergency", "level": "very_high", "strobe": True, "duration": 300}}
    assert OVERDUE_S <= siren_at - queued_at <= OVERDUE_S + 3.5, siren_at - queued_at
    assert OVERDUE_S <= sms.received[0]["at"] - queued_at <= OVERDUE_S + 5, sms.received[0]["at"] - queued_at
    assert len(commands) == 1 and len(sms.received) == 1, "raised once per path"
    assert siren.commands == [command], "the siren stand-in answered it as Zigbee2MQTT does"
    assert sms.received[0]["to"] == "+4790000002"
    assert "local alarm path: 2 raised, 0 failed attempts" in status and "via route 2" in status, status
    # The cloud holds the alarm once, under the outbox's sequence, with every local attempt on its alert.
    assert stored == [seq]
    assert sorted((a.path, a.ok) for a in detail) == [("siren", True), ("sms", True)]
    assert any("route 2" in a.detail for a in detail if a.path == "sms")
    assert all(a.reading_at <= a.at for a in detail)


def _cloud_side(runtime_url: str, gateway_id: UUID, patient: UUID) -> tuple[list[int], list[LocalAttemptOut]]:
    """The stored alarm readings of the gateway, and the local attempts on the alert's detail (once the
    cloud's evaluation has opened the alert)."""

    async def read() -> tuple[list[int], list[LocalAttemptOut]]:
        async with await connect(runtime_url) as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT seq FROM observations WHERE gateway_id = %s AND metric = 'alarm.button'", (gateway_id,)
            )
            stored = [row["seq"] for row in await cur.fetchall()]
            deadline = time.monotonic() + 10
            while True:
                await cur.execute("SELECT id FROM alerts WHERE patient_id = %s AND rule LIKE %s ORDER BY id DESC",
                                  (patient, "%alarm%"))  # fmt: skip
                alert = await cur.fetchone()
                if alert or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert alert is not None, "the cloud opened no alarm alert"
            detail = await alert_detail(conn, alert["id"], patient, Reader("en", translations("en")))
            return stored, detail.raised_locally

    return asyncio.run(read())
