"""Liveness through the database (issue 20): what the evaluation and the fleet view know of when each device
was last heard, and what the clock-driven rules make of it, on a kit enrolled and assigned through the real
flows. Readings come as each source kind sends them (a GATT record, a BLE advertisement, a Zigbee2MQTT message,
the simulator at demo speed), made by the sources' own decoders and posted to the ingest API."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from alerts.evaluate import LivenessFacts
from cloud.db.batch import run_batch
from cloud.db.pool import connect
from cloud.evaluation import group_inputs, inputs, queue
from cloud.fleet.status import FleetFilter, list_gateways
from cloud.gateways import devices
from cloud.registry import consent
from device_profiles import Observation, decode_characteristic
from device_profiles.adv import ADVERTISEMENT_CODECS, Heard
from device_profiles.device_catalogue import load_devices
from device_profiles.mqtt_mapping import map_payload
from device_profiles.sim import HomeSimulator
from device_profiles.wire import observation_body, with_seq
from edge.sources.simulator import decode as simulated
from edge.sources.simulator import played
from tests.support.db import drain, rows
from tests.support.kits import Kit, batch, home_with_code
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, insert_patient
from tryggheim.demo.radio import blood_pressure, scale_frame

MINUTE, HOUR = 60.0, 3600.0
# One device of each source kind besides the simulator's: role -> catalogue profile.
KIT = {
    "gatt": "and-ua-651ble",  # a blood-pressure monitor read over GATT
    "advert": "xiaomi-mi-body-composition-scale-2",  # a scale read from its advertisements
    "mqtt": "aqara-door-window-mccgq11lm",  # a Zigbee2MQTT door contact
    "button": "shelly-blu-button1",  # an alarm button (BTHome advertisements)
}


@dataclass
class Home:
    """A kit as an installer leaves it: the gateway enrolled and the devices assigned at `since`."""

    kit: Kit
    since: datetime
    seed: int  # the simulated home's
    addresses: dict[str, str]  # role -> address, the simulator's door and motion sensors included
    sim: tuple[str, ...] = ("door", "motion")

    def address(self, role: str) -> str:
        """The address of the kit's device of `role` (a source kind, or a simulated role)."""
        return self.addresses[role]


def _install(client: TestClient, url: str, tenants: Tenants, since: datetime, name: str) -> Home:
    """Enrol a gateway through the API and assign the kit's devices (and the simulator's door and motion
    sensors, with consent) from `since`; the enrolment is dated `since` too."""
    patient = insert_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"], name)
    home, code = asyncio.run(home_with_code(url, tenants.a.municipality_id))
    enrolled = client.post("/api/v1/gateways/enrol", json={"code": code})
    assert enrolled.status_code == 201, enrolled.text
    kit = Kit(UUID(enrolled.json()["gateway_id"]), enrolled.json()["credential"], home, patient)
    seed = secrets.randbelow(10**9)  # other tests' kits hold other addresses
    simulated = {d.role: (d.profile_id, d.address) for d in HomeSimulator(seed, since).devices}
    profiles = {role: (profile, f"{role}-{secrets.token_hex(4)}") for role, profile in KIT.items()}
    profiles |= {role: simulated[role] for role in Home.sim}
    wanted = list(profiles.values())

    async def assign() -> None:
        async with await connect(url) as conn:
            await conn.execute("UPDATE gateways SET enrolled_at = %s WHERE id = %s", (since, kit.gateway_id))
            for profile, address in wanted:
                device = await devices.register(
                    conn, gateway_id=kit.gateway_id, address=address, profile_id=profile, valid_from=since
                )
                await devices.assign(conn, device_id=device, patient_id=patient, valid_from=since)
                kit.device_ids[address] = device
                if profile in consent.supervision_profiles():
                    await consent.record(
                        conn, municipality_id=tenants.a.municipality_id, patient_id=patient, device_id=device,
                        basis="consent", note="test", review_by=date(2100, 1, 1), valid_from=since, by=patient,
                    )  # fmt: skip

    asyncio.run(assign())
    return Home(kit, since, seed, {role: address for role, (_, address) in profiles.items()})


def _send(client: TestClient, home: Home, observations: list[Observation]) -> dict[str, Any]:
    """POST the readings as the gateway's uplink does, numbered after what the kit sent before."""
    first = int(time.time() * 1000)  # a fresh range of sequence numbers for every batch of this kit
    readings = [with_seq(first + i, observation_body(o)) for i, o in enumerate(observations)]
    response = client.post("/api/v1/ingest", json=batch(home.kit, readings), headers=home.kit.auth)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _each_source_kind(home: Home, now: datetime) -> list[Observation]:
    """One message of every source kind, decoded by the source's own code as the gateway would at `now`."""
    catalogue = load_devices()
    # A GATT record the monitor kept in its memory since it was taken: measured then, heard now.
    record = blood_pressure(max(home.since, now - timedelta(minutes=30)), 131, 82, 66)
    gatt = decode_characteristic(0x2A35, record, device_id=home.address("gatt"), received_at=now).observations
    codec = ADVERTISEMENT_CODECS["xiaomi_miscale_v2"]
    _, state = codec.decode(Heard(scale_frame(now, 79.0, False), home.address("advert"), now), None)
    advert, _ = codec.decode(Heard(scale_frame(now, 82.0, True), home.address("advert"), now), state)
    mapping = catalogue["aqara-door-window-mccgq11lm"].mapping
    assert mapping is not None
    door = json.dumps({"contact": False, "battery": 94}).encode()
    mqtt = map_payload(mapping, door, device_id=home.address("mqtt"), received_at=now).observations
    return [*gatt, *advert.observations, *mqtt, *_simulated(home, now)]


def _simulated(home: Home, now: datetime) -> list[Observation]:
    """The simulator's door and motion events at the demo's speed: two simulated minutes per real second, so
    the simulated moment of an event played now lies hours ahead of the real clock."""
    sim = HomeSimulator(home.seed, home.since)
    ahead = [e for e in sim.events(until=now + timedelta(days=1)) if e.device.role in home.sim and e.at > now]
    chosen = [next(e for e in ahead if e.device.role == role) for role in home.sim]
    return [o for event in chosen for o in played(simulated(event, now), now)]


def _facts(url: str, patient: UUID, now: float) -> LivenessFacts:
    """The patient's liveness facts as the API reads them, checked against the drain's read for a group."""

    async def read() -> LivenessFacts:
        async with await connect(url, autocommit=False) as conn:
            one = await inputs.liveness_facts(conn, patient, now)
            (rows,) = await run_batch(conn, [group_inputs.devices_read({patient: now})])
            grouped = group_inputs.liveness_from([patient], rows)[patient]
            assert sorted(grouped.devices, key=str) == sorted(one.devices, key=str)
            assert grouped.gateways == one.gateways
            return one

    return asyncio.run(read())


def _evaluate_at(url: str, patient: UUID, now: float) -> None:
    """The clock-driven rules of one patient at an injected `now`, as the minute's sweep runs them."""

    async def run() -> None:
        async with await connect(url, autocommit=False) as conn, conn.transaction():
            await queue.evaluate(conn, queue.Claim(patient, (), frozenset(), scheduled=True, alarm=False), now)

    asyncio.run(run())


def _liveness(url: str, patient: UUID) -> dict[str, str]:
    """The patient's open liveness alerts: rule -> severity."""
    found = rows(url, "SELECT rule, severity FROM alerts WHERE patient_id = %s AND alert_class = 'liveness' "
                 "AND resolved_at IS NULL", patient)  # fmt: skip
    return {rule: severity for rule, severity in found}


def _heartbeat(client: TestClient, kit: Kit, seen: dict[str, datetime] | None = None) -> None:
    now = datetime.now(UTC)
    report = {"software_version": "t", "uptime_s": 5, "gateway_clock": now.isoformat(), "outbox_depth": 0,
              "devices": [{"address": a, "last_seen": at.isoformat()} for a, at in (seen or {}).items()]}  # fmt: skip
    assert client.post(f"/api/v1/gateways/{kit.gateway_id}/status", json=report, headers=kit.auth).status_code == 200


def test_a_new_kit_raises_nothing_before_its_limits(
    client: TestClient, eval_db: TestDatabase, tenants: Tenants
) -> None:
    url = eval_db.runtime_url
    home = _install(client, url, tenants, datetime.now(UTC), "Pasient ny kit")
    t0, patient = home.since.timestamp(), home.kit.patient_id
    # Nothing was ever heard: not from the gateway (no heartbeat yet), not from any device.
    for minutes in (1, 10, 14):
        _evaluate_at(url, patient, t0 + minutes * MINUTE)
        assert _liveness(url, patient) == {}, minutes
    _evaluate_at(url, patient, t0 + 16 * MINUTE)
    assert _liveness(url, patient) == {"live.gateway_heartbeat": "yellow"}
    _evaluate_at(url, patient, t0 + 31 * MINUTE)
    assert _liveness(url, patient) == {"live.gateway_heartbeat": "red"}


def test_every_source_kind_gives_its_device_a_last_seen_for_evaluation_and_fleet(
    client: TestClient, eval_db: TestDatabase, tenants: Tenants
) -> None:
    url = eval_db.runtime_url
    home = _install(client, url, tenants, datetime.now(UTC) - timedelta(hours=1), "Pasient kilder")
    before = datetime.now(UTC)
    outcome = _send(client, home, _each_source_kind(home, before))
    assert outcome["quarantined"] == {}, outcome  # every reading valid and stored
    after = datetime.now(UTC)
    facts = {d.device_id: d for d in _facts(url, home.kit.patient_id, after.timestamp()).devices}
    heard = {address: facts[str(device)].last_seen for address, device in home.kit.device_ids.items()}
    button = home.address("button")
    assert heard.pop(button) is None  # the button sent nothing: nothing is made up for it
    for address, seen in heard.items():
        assert seen is not None and before.timestamp() - 1 <= seen <= after.timestamp(), address
    assert {facts[str(home.kit.device_ids[a])].since for a in heard} == {home.since.timestamp()}

    async def fleet() -> dict[str, datetime | None]:
        async with await connect(url, autocommit=False) as conn:
            f = FleetFilter(gateway_id=home.kit.gateway_id)
            (gateway,) = await list_gateways(conn, tenants.a.municipality_id, f)
        return {d.address: d.last_seen for d in gateway.devices}

    # The gateway has not sent a heartbeat since these readings: the fleet knows them from ingest alone.
    shown = asyncio.run(fleet())
    assert shown.pop(button) is None
    assert all(seen is not None and before - timedelta(seconds=1) <= seen <= after for seen in shown.values()), shown


def test_a_message_the_cloud_refuses_still_says_the_device_is_alive(
    client: TestClient, eval_db: TestDatabase, tenants: Tenants
) -> None:
    """The door and motion sensors of the demo's simulated home sent readings the cloud refused (their clock
    ran hours ahead): the fleet showed them reporting while their 'silent' alerts stayed open."""
    url = eval_db.runtime_url
    home = _install(client, url, tenants, datetime.now(UTC) - timedelta(hours=25), "Pasient stille")
    patient = home.kit.patient_id
    _heartbeat(client, home.kit)
    drain(url)
    _evaluate_at(url, patient, time.time())
    silent = {"live.door_sensor_silent", "live.motion_sensor_silent", "live.alarm_button_silent"}
    assert set(_liveness(url, patient)) == silent
    now = datetime.now(UTC)
    ahead = [o for o in _each_source_kind(home, now) if o.device_id in {home.address(r) for r in home.sim}]
    refused = [dataclasses.replace(o, measured_at=now + timedelta(hours=3)) for o in ahead]
    assert sum(_send(client, home, refused)["quarantined"].values()) == len(refused)
    door = map_payload(load_devices()["aqara-door-window-mccgq11lm"].mapping, b'{"battery": 93}',  # type: ignore[arg-type]
                       device_id=home.address("mqtt"), received_at=now).observations  # fmt: skip
    _send(client, home, list(door))  # a battery report only: the door contact itself did not move
    # The button's battery report arrives through the heartbeat's device list only (not yet uploaded).
    _heartbeat(client, home.kit, {home.address("button"): now})
    drain(url)
    _evaluate_at(url, patient, time.time())  # the next sweep
    assert _liveness(url, patient) == {}


def test_a_silent_sensor_resolves_on_its_next_reading_and_a_gateway_on_its_next_heartbeat(
    client: TestClient, eval_db: TestDatabase, tenants: Tenants
) -> None:
    url = eval_db.runtime_url
    home = _install(client, url, tenants, datetime.now(UTC) - timedelta(hours=13), "Pasient tilbake")
    patient = home.kit.patient_id
    _evaluate_at(url, patient, time.time())
    # The motion sensor is silent too, but behind a gateway that is down: inhibited, one alert for the installer.
    assert _liveness(url, patient) == {"live.gateway_heartbeat": "red"}
    _heartbeat(client, home.kit)
    _evaluate_at(url, patient, time.time())  # the next sweep after the heartbeat
    assert _liveness(url, patient) == {"live.motion_sensor_silent": "yellow"}
    now = datetime.now(UTC)
    motion = [o for o in _each_source_kind(home, now) if o.device_id == home.address("motion")]
    _send(client, home, motion)
    drain(url)  # the reading's own evaluation, queued by ingest: no sweep needed
    assert _liveness(url, patient) == {}
