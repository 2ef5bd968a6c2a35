"""The local alarm path against bad input, with a real Mosquitto and real HTTP servers: a siren that does not
answer, an SMS gateway that refuses, a route that is down, a clock that jumps. Each attempt is recorded with
its reason and retried within bounds; the alarm stays in the outbox; nothing raises."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from common.ports import free_port
from device_profiles import Observation
from edge.config import GatewayConfig, config_from
from edge.local_alarm import LocalAlarm
from edge.outbox import Outbox
from edge.status import read_status, render
from tests.edge.sms_standin import SmsStandIn
from tests.support.services import Mosquitto, private_mosquitto
from tryggheim.demo.radio import SirenStandIn


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with private_mosquitto(tmp_path / "mosquitto") as started:
        yield started


def _config(tmp_path: Path, broker: Mosquitto, **local: Any) -> GatewayConfig:
    (tmp_path / "credential").write_text("unused")
    return config_from({
        "cloud_url": "http://127.0.0.1:9", "gateway_id": str(uuid.uuid4()), "credential_file": tmp_path / "credential",
        "outbox_path": tmp_path / "outbox.db", "insecure_dev": True, "alarm_overdue_s": 0.3,
        "local_alarm": {"enabled": True, "broker_host": broker.host, "broker_port": broker.port, "answer_s": 0.5,
                        "retry_s": 0.2, **local},
    })  # fmt: skip


def _press(outbox: Outbox) -> int:
    now = datetime.now(UTC)
    [seq] = outbox.append([Observation("button-1", "alarm.button", 1, "1", now, now)])
    return seq


def test_silent_siren_refusing_sms_gateway_and_dead_route_are_recorded_retried_within_bounds(
    tmp_path: Path, broker: Mosquitto
) -> None:
    with SmsStandIn([503, 200]) as sms:
        (tmp_path / "sms-token").write_text("sms-secret\n")
        config = _config(
            tmp_path, broker, sirens=["silent-siren"], max_attempts=2,
            sms={"base_urls": [f"http://127.0.0.1:{free_port()}", sms.url], "recipients": ["+4790000001"],
                 "credential_file": str(tmp_path / "sms-token")},
        )  # fmt: skip
        outbox = Outbox(config.outbox_path)
        seq = _press(outbox)
        local = LocalAlarm(config, outbox)
        asyncio.run(local.tick())
        assert outbox.events("local_alarm_failed") == [], "not overdue yet: nothing is raised"
        time.sleep(0.35)
        for _ in range(4):
            asyncio.run(local.tick())
            time.sleep(0.25)
        attempts = outbox.local_attempts([seq])[seq]
        siren = [a for a in attempts if a["path"] == "siren"]
        texts = [a for a in attempts if a["path"] == "sms"]
    # The siren never answered: two attempts (the bound), each with its reason, then given up.
    assert [a["ok"] for a in siren] == [False, False]
    assert all("no answer from Zigbee2MQTT within 0.5 s" in a["detail"] for a in siren)
    assert len(outbox.events("local_alarm_gave_up")) == 1
    # The SMS: route 1 down and route 2 refusing (503) on the first attempt, route 2 taking it on the second;
    # no third message once one went through.
    assert [a["ok"] for a in texts] == [False, True]
    assert "route 1: unreachable" in texts[0]["detail"] and "route 2: refused (503)" in texts[0]["detail"]
    assert texts[1]["detail"] == "SMS to 1 recipient(s) via route 2"
    assert len(sms.received) == 2
    assert {(m["to"], m["auth"], m["path"]) for m in sms.received} == {("+4790000001", "Bearer sms-secret", "/sms")}
    assert sms.received[0]["ref"] == sms.received[1]["ref"], "a retry keeps its reference"
    assert "skyen svarer ikke" in sms.received[0]["text"]
    # The alarm is still waiting for the cloud; status shows every attempt.
    assert [p.seq for p in outbox.waiting_alarms()] == [seq]
    status = read_status(config.outbox_path)
    assert (status["local_alarms_raised"], status["local_alarm_failures"]) == (1, 3)
    text = render(status)
    assert "local alarm path: 1 raised, 3 failed attempts" in text
    assert "no answer from Zigbee2MQTT" in text and "local_alarm_gave_up" in text
    outbox.acknowledge([seq])
    assert outbox.local_attempts([seq]) == {}, "the history leaves with the acknowledged reading"


def test_a_clock_jumping_back_does_not_hold_the_local_alarm_back_and_a_light_answers(
    tmp_path: Path, broker: Mosquitto
) -> None:
    config = _config(tmp_path, broker, sirens=["hall-siren"], lights=["hall-light"])
    outbox = Outbox(config.outbox_path)
    stand_in, light = SirenStandIn("hall-siren"), SirenStandIn("hall-light")
    z2m = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="z2m-stand-in")

    def on_connect(client: mqtt.Client, *_: object) -> None:
        stand_in.attach(client)
        light.attach(client)

    z2m.on_connect = on_connect
    z2m.connect(broker.host, broker.port)
    z2m.loop_start()
    try:
        time.sleep(0.2)  # subscribed
        skew = [0.0]
        local = LocalAlarm(config, outbox, wall=lambda: time.time() + skew[0])
        seq = _press(outbox)
        asyncio.run(local.tick())
        skew[0] = -3600.0  # the wall clock is set back an hour (NTP after a bad RTC, a hand-set clock)
        time.sleep(0.35)
        asyncio.run(local.tick())
    finally:
        z2m.loop_stop()
        z2m.disconnect()
    attempts = outbox.local_attempts([seq])[seq]
    assert {(a["path"], a["ok"]) for a in attempts} == {("siren", True), ("light", True)}
    assert stand_in.commands == [{"warning": {"mode": "emergency", "level": "very_high", "strobe": True,
                                              "duration": 300}}]  # fmt: skip
    assert light.commands == [{"state": "ON"}]
    [(_, _, jump)] = outbox.events("clock_jump")
    assert "jumped -3600 s" in jump
