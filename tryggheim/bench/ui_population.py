"""The population of the pages' benchmark (tryggheim/bench/ui.py), made through the service's own paths.

One municipality with one care team and its nurse; each patient lives in a home of their own whose gateway is
enrolled through the HTTP flow and reports a heartbeat, with a pulse oximeter, an alarm button and a
thermometer. Each patient's gateway posts a low SpO2 (a NEWS2 alert, which opens a worsening episode) and an
alarm-button press (a safety alarm) and, for as many patients as the alert count asks, a fever (more evidence
in the episode) and a nearly empty button battery (a third item): the service's own detection opens the
alerts, and the count is what the worklist shows. The first patient also has `days` days of the shared home
simulator's readings (scale, blood-pressure monitor, oximeter), what the patient page charts. Patients for the
live trials get the same kit and no readings, so an alarm press opens their first alert.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg
from psycopg.rows import dict_row

from cloud.access import audit, directory
from cloud.access.roles import Role
from cloud.db.pool import connect
from cloud.gateways import credentials, devices
from cloud.registry import OPERATOR, homes
from cloud.registry import patients as registry
from device_profiles import wire
from device_profiles.sim import HomeSimulator
from device_profiles.sim.home import default_devices
from device_profiles.wire import WireReading

NURSE = "bench.sykepleier"
KIT = {"oximeter": "nonin-3230", "button": "shelly-blu-button1", "thermometer": "and-ut-201ble"}
HISTORY_ROLES = ("scale", "blood_pressure", "oximeter")  # the simulator's devices of the patient with a history
SIMULATOR_SEED = 7
BATCH = 5000  # the most readings the service takes in one upload


class PopulationError(Exception):
    """The population could not be made as asked (an alert did not open); the message says what."""


@dataclass
class Person:
    """A patient with an enrolled kit: role -> device address, and the gateway's credential."""

    id: UUID
    name: str
    gateway: str
    credential: str
    kit: dict[str, str]
    expected: set[str] = field(default_factory=set)  # the rules whose alerts must open

    def send(self, client: httpx.Client, readings: list[tuple[str, str, float, str, datetime]]) -> None:
        """POST (role, metric, value, unit, measured at) readings as this patient's gateway, in batches."""
        body = [
            WireReading(seq=seq, device=self.kit[role], metric=metric, value=value, unit=unit, measured_at=at,
                        received_at=at).encode(omit_empty_context=True)
            for seq, (role, metric, value, unit, at) in enumerate(readings, start=1)
        ]  # fmt: skip
        epoch, auth = str(uuid.uuid4()), {"Authorization": f"Bearer {self.credential}"}
        for start in range(0, len(body), BATCH):
            sent = client.post("/api/v1/ingest", json=wire.batch(epoch, body[start : start + BATCH]), headers=auth)
            sent.raise_for_status()


@dataclass
class Population:
    """Who the benchmark works with."""

    nurse_password: str
    people: list[Person]
    trials: list[Person]
    history_readings: int = 0


async def _person(conn: psycopg.AsyncConnection[Any], client: httpx.AsyncClient, town: UUID, team: UUID,
                  number: int) -> Person:  # fmt: skip
    """A home, its patient and its gateway (enrolled, heard from), the kit registered and assigned."""
    since = datetime.now(UTC) - timedelta(days=400)
    home = await homes.create(conn, municipality_id=town, address=f"Benkveien {number}", access_notes="", phone=None)
    name = f"Benkpasient {number:04d}"
    fields = registry.PatientFields(display_name=name, home_id=home, care_team_id=team)
    patient = await registry.create(conn, municipality_id=town, fields=fields, lifecycle="active",
                                    allow_synthetic=False, by=OPERATOR)  # fmt: skip
    code, _ = await credentials.create_code(conn, home)
    enrolled = await client.post("/api/v1/gateways/enrol", json={"code": code})
    enrolled.raise_for_status()
    gateway, credential = enrolled.json()["gateway_id"], enrolled.json()["credential"]
    status = {"software_version": "bench", "uptime_s": 60, "gateway_clock": datetime.now(UTC).isoformat(),
              "outbox_depth": 0}  # fmt: skip
    heard = await client.post(f"/api/v1/gateways/{gateway}/status", json=status,
                              headers={"Authorization": f"Bearer {credential}"})  # fmt: skip
    heard.raise_for_status()
    kit = {role: f"ui-{number:04d}-{role}" for role in KIT}
    if number == 0:
        kit |= {d.role: d.address for d in default_devices(SIMULATOR_SEED) if d.role in HISTORY_ROLES}
    for role, address in kit.items():
        profile = KIT.get(role) or next(d.profile_id for d in default_devices(SIMULATOR_SEED) if d.role == role)
        device = await devices.register(conn, gateway_id=UUID(gateway), address=address, profile_id=profile,
                                        valid_from=since)  # fmt: skip
        await devices.assign(conn, device_id=device, patient_id=patient, valid_from=since)
    return Person(patient, name, gateway, credential, kit)


async def _people(runtime_url: str, base_url: str, count: int, password: str) -> list[Person]:
    async with (
        await connect(runtime_url) as conn,
        httpx.AsyncClient(base_url=base_url, timeout=60) as client,
    ):
        town = await directory.ensure_municipality(conn, "0301", "Oslo (benchmark)")
        team = await directory.ensure_team(conn, town, "Benketeamet", actor=audit.Actor.system("bench"))
        await directory.add_staff(conn, actor=audit.Actor.system("bench"), municipality=town, username=NURSE,
                                  display_name="Sykepleier Benk", role=Role.NURSE, team_ids=[team],
                                  password=password)  # fmt: skip
        return [await _person(conn, client, town, team, number) for number in range(count)]


def history(days: int, now: datetime) -> list[tuple[str, str, float, str, datetime]]:
    """`days` days of the simulator's readings of the history roles, up to an hour ago."""
    simulator = HomeSimulator(seed=SIMULATOR_SEED, start=now - timedelta(days=days))
    return [
        (event.device.role, o.metric, float(o.value), o.unit, event.at)
        for event in simulator.events(until=now - timedelta(hours=1))
        if event.device.role in HISTORY_ROLES
        for o in event.observations
    ]


def alerting(person: Person, fever: bool, now: datetime) -> list[tuple[str, str, float, str, datetime]]:
    """A low SpO2 (NEWS2) that opens a worsening episode and an alarm-button press (two items in the worklist);
    with `fever` also a high temperature (more evidence in the episode) and the button's battery nearly empty
    (a third item)."""
    person.expected = {"episode.clinical", "ge.news2", "wf.alarm_button"}
    readings = [
        ("oximeter", "spo2", 86.0, "%", now - timedelta(minutes=5)),
        ("oximeter", "heart_rate", 88.0, "/min", now - timedelta(minutes=5)),
        ("button", "alarm.button", 1.0, "1", now - timedelta(minutes=1)),
    ]
    if not fever:
        return readings
    person.expected |= {"ge.temperature", "live.low_battery"}
    # 39.3 °C lies in the chart's upper band, which alerts on one reading (docs/detection.md#one-reading).
    return [*readings, ("thermometer", "body.temperature", 39.3, "Cel", now - timedelta(minutes=3)),
            ("button", "device.battery", 8.0, "%", now - timedelta(minutes=2))]  # fmt: skip


def _open(runtime_url: str, people: list[Person]) -> dict[UUID, tuple[set[str], int]]:
    with psycopg.connect(runtime_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT patient_id, array_agg(rule) AS rules, count(*) FILTER (WHERE episode_id IS NULL) AS shown "
            "FROM alerts WHERE resolved_at IS NULL AND patient_id = ANY(%s) GROUP BY patient_id",
            ([person.id for person in people],),
        ).fetchall()
    return {row["patient_id"]: (set(row["rules"]), int(row["shown"])) for row in rows}


def wait_for_alerts(runtime_url: str, people: list[Person], timeout: float = 300) -> int:
    """Wait until every person's expected alerts are open; returns how many the worklist shows among them
    (episodes and standalone alerts; an episode's evidence is shown inside it)."""
    deadline = time.monotonic() + timeout
    while True:
        found = _open(runtime_url, people)
        rules = {patient: opened for patient, (opened, _) in found.items()}
        missing = {
            p.name: sorted(p.expected - rules.get(p.id, set())) for p in people if p.expected - rules.get(p.id, set())
        }
        if not missing:
            return sum(shown for _, shown in found.values())
        if time.monotonic() > deadline:
            raise PopulationError(f"alerts did not open within {timeout:.0f} s: {dict(list(missing.items())[:5])}")
        time.sleep(0.5)


def populate(runtime_url: str, base_url: str, patients: int, alerts: int, days: int, trials: int) -> Population:
    """Make the patients and their alerts (`alerts` open alerts over `patients`), and the trial patients."""
    password = secrets.token_urlsafe(12)
    everyone = asyncio.run(_people(runtime_url, base_url, patients + trials, password))
    population = Population(password, everyone[:patients], everyone[patients:])
    now = datetime.now(UTC)
    with httpx.Client(base_url=base_url, timeout=60) as client:
        past = history(days, now)
        population.history_readings = len(past)
        population.people[0].send(client, past)
        for number, person in enumerate(population.people):
            person.send(client, alerting(person, number < alerts - 2 * patients, now))
    opened = wait_for_alerts(runtime_url, population.people)
    if opened != alerts:
        raise PopulationError(f"{opened} alerts are open, not {alerts}: the patients' readings opened others")
    return population
