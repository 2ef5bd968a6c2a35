"""The BLE source on its own (replay backend, real outbox, no cloud): protocol state survives a restart, and a
device that sends what cannot be decoded is counted, not fatal."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

from edge.config import BleConfig
from edge.outbox import Outbox
from edge.sink import Sink
from edge.sources.ble import BleSource
from edge.sources.ble_replay import Frame, ReplayDevice, ReplayScript, ReplayWorld
from edge.sources.radio import Radio
from tests.edge import ble_vectors as v
from tests.edge.radio_support import until

BUTTON = "A4:C1:38:0B:1E:01"
STRANGER = "A4:C1:38:0B:1E:02"


def _world(frames: list[bytes]) -> ReplayWorld:
    return ReplayWorld(ReplayScript(devices=[
        ReplayDevice(address=BUTTON, name="SBBT-002C", repeat=2,
                     frames=[Frame(at_s=0.6 * i, service_data={"fcd2": f.hex()}) for i, f in enumerate(frames)]),
        # A neighbour's sensor: matched by the catalogue, but not served by this gateway.
        ReplayDevice(address=STRANGER, name="SBBT-002C", repeat=2, frames=[Frame(service_data={"fcd2": "4000010164"})]),
    ]))  # fmt: skip


async def _play(outbox: Outbox, world: ReplayWorld, bind_key: str | None) -> None:
    config = BleConfig(enabled=True, bind_keys={BUTTON: bind_key} if bind_key else {})
    source = BleSource(config, Sink(outbox, None, None, 0.0), lambda: {BUTTON: "shelly-blu-button1"},
                       Radio(world.scanner_backend(), world.client_backend()))  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(stop))
    sent = sum(1 for d in world.devices.values() for _ in d.spec.frames) * 2
    await until(lambda: sum(s for d in world.devices.values() for s in d.sent.values()) >= sent)
    await asyncio.sleep(0.2)
    stop.set()
    await task


def _bodies(outbox: Outbox) -> list[dict[str, Any]]:
    """Every waiting reading (next_batch would hand out an alarm alone)."""
    with sqlite3.connect(outbox.path) as db:
        return [json.loads(row[0]) for row in db.execute("SELECT body FROM outbox ORDER BY seq")]


def _metrics(outbox: Outbox) -> list[tuple[str, str]]:
    return [(body["device"], body["metric"]) for body in _bodies(outbox) if body["metric"]]


def test_a_press_replayed_after_a_restart_is_not_a_second_alarm(tmp_path: Path) -> None:
    press = v.bthome_encrypted(BUTTON, 5, v.BUTTON_PRESS)
    outbox = Outbox(tmp_path / "outbox.db")
    asyncio.run(_play(outbox, _world([press]), v.BIND_KEY.hex()))
    assert sorted(_metrics(outbox)) == [(BUTTON, "alarm.button"), (BUTTON, "device.battery")]
    outbox.close()

    outbox = Outbox(tmp_path / "outbox.db")  # the agent restarted; the beacon re-sends its last press
    older = v.bthome_encrypted(BUTTON, 4, v.BUTTON_PRESS)  # and an attacker replays an older packet
    asyncio.run(_play(outbox, _world([press, v.bthome_encrypted(BUTTON, 6, v.BUTTON_PRESS), older]), v.BIND_KEY.hex()))
    assert sorted(_metrics(outbox)) == [(BUTTON, "alarm.button"), (BUTTON, "device.battery")]
    assert outbox.counters()["malformed"] == 2  # the replayed packet, counted each time it is heard (twice)
    assert outbox.get_state(f"ble.adv:{BUTTON}") == '{"packet_id": 7, "counter": 6, "encrypted": true}'
    outbox.close()


def test_undecodable_advertisements_are_counted_and_the_source_keeps_running(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    encrypted = v.bthome_encrypted(BUTTON, 1, v.BUTTON_PRESS)
    # No bind key configured: the encrypted press cannot be read (both repeats); a later plain frame still is.
    asyncio.run(_play(outbox, _world([encrypted, bytes.fromhex("4000020164")]), None))
    assert outbox.counters()["malformed"] == 2
    bodies = _bodies(outbox)
    forwarded = [b for b in bodies if b["metric"] is None]
    assert len(forwarded) == 2 and all(b["device"] == BUTTON for b in forwarded)
    assert "bind key" in forwarded[0]["context"]["malformed"] and forwarded[0]["context"]["raw_hex"] == encrypted.hex()
    assert [(b["device"], b["metric"], b["value"]) for b in bodies if b["metric"]] == [(BUTTON, "device.battery", 100)]
    outbox.close()


def test_a_home_with_only_health_devices_is_quiet_without_watchdog_restarts(tmp_path: Path) -> None:
    monitor = "A4:C1:38:0B:1E:03"
    world = ReplayWorld(ReplayScript(devices=[
        ReplayDevice(address=monitor, name="UA-651", service_uuids=["1810"], gatt={"1810": ["2a35"]}),
    ]))  # fmt: skip
    outbox = Outbox(tmp_path / "outbox.db")
    config = BleConfig(enabled=True, watchdog_s=0.2)
    source = BleSource(config, Sink(outbox, None, None), lambda: {monitor: "and-ua-651ble"},
                       Radio(world.scanner_backend(), world.client_backend()))  # fmt: skip

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(source.run(stop))
        await asyncio.sleep(1.2)  # six watchdog periods without a single advertisement: nothing was expected
        stop.set()
        await task

    asyncio.run(run())
    assert len(world.entries("scanner_start")) == 1
    assert "watchdog_restarts" not in outbox.counters()
    outbox.close()
