"""How the MQTT source tells a broker's redelivery from a new message (real outbox, no broker: the messages
are what paho hands over), and what it keeps of each device's health."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from edge.config import MqttConfig, config_from
from edge.outbox import Delivery, Outbox
from edge.sink import Sink
from edge.sources.mqtt import MqttSource, _Message

DOOR = "hall-door"
TOPIC = f"zigbee2mqtt/{DOOR}"


@pytest.fixture
def source(tmp_path: Path) -> MqttSource:
    outbox = Outbox(tmp_path / "outbox.db")
    mqtt = MqttSource(MqttConfig(enabled=True), Sink(outbox, None, None, 0.0),
                      lambda: {DOOR: "aqara-door-window-mccgq11lm"}, client_id="gw-1")  # fmt: skip
    mqtt._refresh_routes()
    return mqtt


def _message(body: object, mid: int, *, dup: bool = False, qos: int = 1) -> _Message:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return _Message(TOPIC, payload, mid, qos, dup, connection=1)


def _doors(source: MqttSource) -> list[float]:
    return [p.body["value"] for p in source.sink.outbox.next_batch(100) if p.body["metric"] == "door.open"]


def test_only_a_dup_of_the_stored_message_under_its_packet_id_is_a_repeat(source: MqttSource) -> None:
    opened, closed = {"contact": False}, {"contact": True}
    assert source._handle(_message(opened, 7))
    assert not source._handle(_message(opened, 7, dup=True))  # resent after a crash before the PUBACK
    assert source._handle(_message(closed, 7, dup=True))  # another message under that packet id
    assert source._handle(_message(closed, 8, dup=True))  # resent, but never stored here
    assert source._handle(_message(closed, 7))  # the packet id used again for a new event (no DUP)
    assert source._handle(_message(opened, 0, dup=True, qos=0))  # QoS 0 is never resent: no packet id
    assert _doors(source) == [1.0, 0.0, 0.0, 0.0, 1.0]
    assert source.sink.outbox.counters()["mqtt_redelivered"] == 1


def test_a_new_session_forgets_the_deliveries_and_garbage_counts_once(source: MqttSource) -> None:
    outbox = source.sink.outbox
    assert source._handle(_message({"contact": False}, 3))
    assert source._handle(_message(b"\x00not json", 4))
    assert not source._handle(_message(b"\x00not json", 4, dup=True))  # the garbage was stored with its delivery
    health = {h.address: h for h in outbox.device_health()}
    assert health[DOOR].decode_errors == 1 and outbox.counters()["malformed"] == 1
    assert outbox.forget_deliveries("gw-1") == 2  # session present: false
    assert source._handle(_message({"contact": False}, 3, dup=True))  # no longer known: stored


def test_battery_and_link_quality_reach_the_heartbeat(source: MqttSource, tmp_path: Path) -> None:
    from edge.cloudlink import CloudLink

    config = config_from({"gateway_id": "gw-1", "cloud_url": "http://127.0.0.1:9", "credential_file": tmp_path / "c",
                          "outbox_path": tmp_path / "outbox.db"})  # fmt: skip
    cloud = CloudLink(config, source.sink.outbox, None)  # type: ignore[arg-type] - no request is made
    source.sink.cloud = cloud
    assert source._handle(_message({"contact": True, "battery": 120, "linkquality": 300}, 1))  # both out of range
    assert source._handle(_message({"contact": False, "battery": 64, "linkquality": 87}, 2))
    source.sink.outbox.device_error(DOOR, "connection_errors")
    [report] = cloud.device_reports()
    assert (report["address"], report["battery_pct"], report["link_quality"], report["rssi_dbm"]) == (
        DOOR, 64.0, 87, None)  # fmt: skip
    assert (report["decode_errors"], report["connection_errors"]) == (0, 1)
    assert report["last_reading_at"] is not None and report["signal_at"] is not None
    # What the installer sees on the gateway (`tryggheim edge status`), from the same outbox file.
    from edge.status import read_status, render

    shown = render(read_status(tmp_path / "outbox.db"))
    assert f"  {DOOR}: battery 64 % at " in shown and ", decode errors 0, connection errors 1" in shown, shown


def test_a_delivery_is_remembered_for_the_outbox_age_bound(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "aged.db", max_age_s=86400)
    outbox.append([], delivery=Delivery("gw-1", 9, "digest"))
    six_hours = time.time() + 6 * 3600  # a broker that resends after the agent was away for hours
    outbox.enforce_bounds(now=six_hours)
    assert outbox.delivered("gw-1", 9) == "digest" and outbox.delivered("gw-2", 9) is None
    outbox.enforce_bounds(now=time.time() + 86400 + 60)
    assert outbox.delivered("gw-1", 9) is None
