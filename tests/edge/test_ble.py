"""The BLE source end to end: the replay backend (the only fake: there is no radio here) under the real
`BleakScanner`, `BleakClient` and `establish_connection`, the real agent, outbox and uplink, the real cloud over
TLS and PostgreSQL. Payloads from tests/edge/ble_vectors.py (written from the specifications)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from edge.outbox import Outbox
from edge.sources.ble_replay import Frame, Record, ReplayDevice, ReplayScript, ReplayWorld
from edge.sources.radio import Radio
from tests.edge import ble_vectors as v
from tests.edge.radio_support import address, enrolled, in_thread, observations, run_until, until
from tests.support.proc import run_cli
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

pytestmark = pytest.mark.slow


def _radio(world: ReplayWorld) -> Radio:
    return Radio(world.scanner_backend(), world.client_backend())


def _health_world(bp: str, meter: str, button: str, scale: str) -> ReplayWorld:
    fcd2 = {"fcd2": v.bthome_encrypted(button, 1, v.BUTTON_PRESS).hex()}
    # The same press again under a new counter: what a beacon-mode device re-sends (a phantom second press).
    fcd2_again = {"fcd2": v.bthome_encrypted(button, 2, v.BUTTON_PRESS).hex()}
    return ReplayWorld(
        ReplayScript(
            devices=[
                ReplayDevice(
                    address=bp, name="UA-651", service_uuids=["1810"],
                    gatt={"1810": ["2a35", "2a49"], "1805": ["2a2b"], "180f": ["2a19"]}, reads={"2a19": "4B"},
                    records=[Record(characteristic="2a35", data=v.BP_WITH_TIME.hex()),
                             Record(characteristic="2a35", data=v.BP_NAN_DIASTOLIC.hex())],
                ),
                ReplayDevice(
                    address=meter, name="meter", service_uuids=["1808"], advertise="always",
                    gatt={"1808": ["2a18", "2a34", "2a51", "2a52"]},
                    glucose_records=[r.hex() for r in v.GLUCOSE],
                ),
                ReplayDevice(address=button, name="SBBT-002C", repeat=4,
                             frames=[Frame(service_data=fcd2), Frame(at_s=1.0, service_data=fcd2_again)]),
                ReplayDevice(address=scale, name="MIBFS", repeat=3, frames=[
                    Frame(service_data={"181b": v.SCALE_MOVING.hex()}),
                    Frame(at_s=0.6, service_data={"181b": v.SCALE_STABLE.hex()}),
                    Frame(at_s=1.2, service_data={"181b": v.SCALE_STABLE_IMPEDANCE.hex()}),
                ]),
            ]
        )
    )  # fmt: skip


def _blood_pressure_session(rows: list[dict[str, Any]], world: ReplayWorld, bp: str) -> None:
    """(1) blood pressure: two stored records by indication (the NaN diastolic is not a reading), the device's
    clock set first, and its Battery Level read before the notifications."""
    by = {(r["address"], r["metric"], r["measured_at"].isoformat() if r["measured_at"] else None): r for r in rows}
    bp_rows = sorted((r["metric"], float(r["value"]), r["unit"]) for r in rows
                     if r["address"] == bp and r["metric"] != "device.battery")  # fmt: skip
    assert bp_rows == sorted([("bp.systolic", 121.0, "mm[Hg]"), ("bp.diastolic", 78.0, "mm[Hg]"),
                              ("bp.mean", 92.0, "mm[Hg]"), ("heart_rate", 64.0, "/min"),
                              ("bp.systolic", 130.0, "mm[Hg]"), ("bp.mean", 96.0, "mm[Hg]")])  # fmt: skip
    assert (bp, "bp.systolic", v.BP_MEASURED_AT) in by
    assert all(r["measured_at"] is None for r in rows if r["address"] == bp and float(r["value"]) in (130.0, 96.0))
    bp_log = [e for e in world.log if e.get("address") == bp]
    kinds = [e["kind"] for e in bp_log]
    assert kinds[:2] == ["connect", "write"] and "disconnect" in kinds
    clock = next(e for e in bp_log if e["kind"] == "write")
    assert clock["characteristic"] == "2A2B"
    octets = bytes.fromhex(clock["data"])
    written = datetime(int.from_bytes(octets[0:2], "little"), *octets[2:7], tzinfo=ZoneInfo("Europe/Oslo"))
    assert len(octets) == 10 and octets[7] == written.isoweekday()
    assert abs((written - datetime.now(UTC)).total_seconds()) < 120
    assert kinds.index("subscribe") < kinds.index("disconnect")
    # its Battery Level, read once per session before the notifications: 75 % in the cloud and the heartbeat
    assert kinds.index("read") < kinds.index("subscribe") < kinds.index("disconnect")
    reads = [e for e in bp_log if e["kind"] == "read"]
    assert reads and all(e["characteristic"] == "2A19" for e in reads)
    battery = [(float(r["value"]), r["unit"]) for r in rows if r["address"] == bp and r["metric"] == "device.battery"]
    assert battery == [(75.0, "%")] * len(reads)


def test_health_devices_through_the_replay_backend_arrive_in_the_cloud(
    tmp_path: Path, cloud: tuple[str, Path], edge_db: TestDatabase, edge_tenants: Tenants
) -> None:
    bp, meter, button, scale = address(), address(), address(), address()
    devices = {bp: "and-ua-651ble", meter: "roche-accu-chek-guide", button: "shelly-blu-button1",
               scale: "xiaomi-mi-body-composition-scale-2"}  # fmt: skip
    config = enrolled(tmp_path, cloud, edge_db, edge_tenants, devices)
    config = replace(config, ble=replace(config.ble, enabled=True, connect_cooldown_s=0.3, idle_s=0.4,
                                         watchdog_s=30.0, bind_keys={button: v.BIND_KEY.hex()}))  # fmt: skip
    world = _health_world(bp, meter, button, scale)
    started = datetime.now(UTC)

    def glucose_requests() -> list[str]:
        return [e["data"] for e in world.entries("write") if e["address"] == meter and e["characteristic"] == "2A52"]

    async def later_record() -> None:
        # Once the first session has read records 1 and 2, the patient measures again.
        await until(lambda: any(e["address"] == meter for e in world.entries("disconnect")))
        world.add_glucose_record(meter, v.GLUCOSE_LATER)

    async def done() -> bool:
        rows = await in_thread(lambda: observations(edge_db, config.gateway_id))
        metrics = [(r["address"], r["metric"]) for r in rows]
        return (
            metrics.count((meter, "blood.glucose")) >= 3
            and (scale, "body.impedance") in metrics
            and (button, "alarm.button") in metrics
            and len(glucose_requests()) >= 3
            and metrics.count((bp, "bp.systolic")) >= 2
        )

    asyncio.run(run_until(config, done, radio=_radio(world), during=later_record, limit_s=40))
    rows = observations(edge_db, config.gateway_id)
    _blood_pressure_session(rows, world, bp)

    # (2) the encrypted press, repeated and re-sent with the same packet id, is one alarm
    presses = [r for r in rows if r["address"] == button and r["metric"] == "alarm.button"]
    assert len(presses) == 1 and float(presses[0]["value"]) == 1 and presses[0]["unit"] == "1"
    assert presses[0]["measured_at"] is None and presses[0]["received_at"] >= started

    # (3) the scale: one weight, only from the stabilised frame (68.2 kg while stepping on never arrives)
    weights = [(float(r["value"]), r["unit"]) for r in rows if r["address"] == scale and r["metric"] == "body.weight"]
    assert weights == [(72.35, "kg")]
    assert [float(r["value"]) for r in rows if r["metric"] == "body.impedance"] == [500.0]

    # (4) glucose through RACP: all records first, then only those after the last stored sequence number
    requests = glucose_requests()
    assert requests[0] == "0101" and requests[1] == "0103010300"
    assert set(requests[2:]) == {"0103010400"}
    glucose = sorted((r["context"]["sequence_number"], float(r["value"]), r["unit"], r["measured_at"].isoformat())
                     for r in rows if r["metric"] == "blood.glucose")  # fmt: skip
    assert [(s, u, m) for s, _, u, m in glucose] == [(s, "mmol/L", v.GLUCOSE_MEASURED_AT[s]) for s in (1, 2, 3)]
    assert all(abs(value - v.GLUCOSE_MMOL[s]) < 0.01 for s, value, _, _ in glucose)
    outbox = Outbox(config.outbox_path)
    try:
        assert outbox.get_state(f"ble.glucose_seq:{meter}") == "3"
        assert {h.address: h.battery_pct for h in outbox.device_health()}[bp] == 75.0
    finally:
        outbox.close()


def test_scanner_watchdog_and_adapter_errors_restart_scanning_and_show_in_status_and_heartbeat(
    tmp_path: Path, cloud: tuple[str, Path], edge_db: TestDatabase, edge_tenants: Tenants
) -> None:
    button = address()
    config = enrolled(tmp_path, cloud, edge_db, edge_tenants, {button: "shelly-blu-button1"})
    config = replace(config, ble=replace(config.ble, enabled=True, watchdog_s=0.6, backoff_base_s=0.05,
                                         backoff_max_s=0.2))  # fmt: skip
    plain = bytes.fromhex("4000010164")  # BTHome v2 plain: packet id 1, battery 100 %
    world = ReplayWorld(
        ReplayScript(
            devices=[
                ReplayDevice(
                    address=button, name="SBBT-002C", repeat=1000, frames=[Frame(service_data={"fcd2": plain.hex()})]
                )
            ]
        )
    )
    world.scanner_failures = 2  # the adapter is not ready at first: two failed starts, retried with backoff

    def heartbeat_restarts() -> int:
        with psycopg.connect(edge_db.runtime_url) as conn:
            row = conn.execute("SELECT report FROM gateway_status WHERE gateway_id = %s",
                               (config.gateway_id,)).fetchone()  # fmt: skip
        return int(row[0].get("watchdog_restarts", 0)) if row else 0

    async def wedge() -> None:
        await until(lambda: len(world.entries("scanner_start")) >= 3)  # two failures, then a working scanner
        await asyncio.sleep(0.3)
        world.silence()  # the stack stops delivering advertisements without any error

    async def done() -> bool:
        return len(world.entries("scanner_start")) >= 5 and await in_thread(heartbeat_restarts) >= 1

    asyncio.run(run_until(config, done, radio=_radio(world), during=wedge, limit_s=30))
    starts, stops = world.entries("scanner_start"), world.entries("scanner_stop")
    assert len(stops) >= len(starts) - 2  # every scanner that started was stopped before the next one
    outbox = Outbox(config.outbox_path)
    try:
        counters = outbox.counters()
        assert counters["ble_adapter_errors"] == 2
        assert counters["watchdog_restarts"] >= 1
        assert any("no advertisement" in detail for _, _, detail in outbox.events("ble_watchdog"))
    finally:
        outbox.close()
    shown = run_cli("edge", "status", "--config", str(tmp_path / "gateway.toml"))
    assert shown.returncode == 0, shown.stderr
    assert f"BLE scanner watchdog restarts: {counters['watchdog_restarts']}" in shown.stdout
    assert "ble_adapter_errors 2" in shown.stdout
