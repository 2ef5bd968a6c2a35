"""A fuller demo population for the screenshots (`make screenshots`): the demo's accounts and registry, each
resident with a kit enrolled through the real HTTP flow and 90 days of readings from the shared home simulator,
and a morning that gives every page something to show.

* Kari (heart failure): her weight has risen over the last days (a worsening episode) and she has just pressed
  her alarm button; the nurse has called her, written two comments, acknowledged the episode and sent a visit;
  her personal limits wait for approval.
* Ola (COPD): his oxygen saturation has fallen and his pulse risen over four days.
* Per and Berit share a door and a motion sensor (with consent): the door was opened at 02:40 last night.
  Berit's blood pressure has been high for a fortnight; she pressed her alarm button by mistake just before Kari,
  and the response centre took it at once and closed it after a call.

Everything goes through the service as it would in use: readings through `POST /api/v1/ingest` and the
service's detection, the nurse's and the response centre's actions through the API with their sign-ins.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg
from psycopg.rows import dict_row

from cloud.access import directory
from cloud.db.pool import connect
from cloud.gateways import credentials, devices
from common.timefmt import OSLO
from device_profiles import wire
from device_profiles.sim import HomeSimulator
from device_profiles.sim.home import default_devices
from device_profiles.sim.scenarios import AlarmPress, Scenario, VitalShift, WeightGain
from tryggheim.demo import kit as demo_kit
from tryggheim.demo.registry import install_with_consent
from tryggheim.demo.seed import MUNICIPALITY, assign_protocols, propose_limits, report_status, wire_readings

HISTORY_DAYS = 90
BATCH = 2000  # readings per upload (the service takes at most 5,000)
SHARED = frozenset({"door", "motion"})  # supervision sensors of the home, with each resident's consent
Reading = tuple[str, str, float | str, str, datetime]  # device, metric, value, unit, measured at


@dataclass(frozen=True)
class Resident:
    """One person of the demo registry: the simulator's seed and normal, the kit, what happens to them, and the
    rules that must be open once their readings are in."""

    name: str
    seed: int
    protocols: tuple[str, ...]
    roles: frozenset[str]
    scenarios: Callable[[datetime], tuple[Scenario, ...]]
    expected: dict[str, str]  # rule -> the alert's name in page paths, after the first name: `kari_weight`
    also: Callable[[datetime, dict[str, str]], list[Reading]] = lambda now, kit: []
    normal: dict[str, float] = field(default_factory=dict)


def _night_door(now: datetime, kit: dict[str, str]) -> list[Reading]:
    """The hall door opened at 02:40 last night (Oslo time) and closed four minutes later."""
    night = now.astimezone(OSLO).replace(hour=2, minute=40, second=0, microsecond=0)
    if night > now - timedelta(minutes=30):
        night -= timedelta(days=1)
    return [(kit["door"], "door.open", 1, "1", night), (kit["door"], "door.open", 0, "1", night + timedelta(minutes=4))]


# In the order their readings are sent: Berit's alarm before Kari's, so Kari's is the newest; Kari's red alarm
# before Ola's red NEWS2, so Kari heads the worklist.
RESIDENTS = (
    Resident("Per Hansen (demo)", 12, ("general_elderly", "welfare"), frozenset({"blood_pressure", "door", "motion"}),
             lambda now: (), {"wf.door_at_night": "door"}, also=_night_door),
    Resident("Berit Hansen (demo)", 13, ("hypertension", "welfare"), frozenset({"blood_pressure", "button"}),
             lambda now: (VitalShift(now - timedelta(days=20), ramp_days=3, systolic=24, hold_days=30),
                          AlarmPress(now - timedelta(seconds=5))),
             {"wf.alarm_button": "alarm"}, normal={"systolic": 134.0}),
    Resident("Kari Nordmann (demo)", 2026, ("heart_failure", "welfare"),
             frozenset({"scale", "blood_pressure", "oximeter", "button"}),
             lambda now: (WeightGain(now - timedelta(days=3.6), kg_per_day=0.85, days=4),
                          AlarmPress(now - timedelta(seconds=5))),
             {"episode.clinical": "weight", "hf.weight_gain_3d": "weight_sign", "wf.alarm_button": "alarm"},
             normal={"baseline_weight_kg": 74.0}),
    Resident("Ola Nordmann (demo)", 11, ("copd", "welfare"), frozenset({"oximeter", "blood_pressure"}),
             lambda now: (VitalShift(now - timedelta(days=4), ramp_days=3, pulse=16, spo2=-6),),
             {"episode.clinical": "spo2", "copd.spo2_baseline": "spo2_sign"}, normal={"spo2": 95.0, "pulse": 74.0}),
)  # fmt: skip


@dataclass
class Showcase:
    """What the pages are about: patient ids by first name, and the ids of the alerts the pages open."""

    patients: dict[str, UUID] = field(default_factory=dict)
    alerts: dict[str, int] = field(default_factory=dict)
    kits: dict[str, str] = field(default_factory=dict)  # the kit pages' `enrolment` and `gateway`

    def names(self) -> dict[str, str]:
        """Values for the `{...}` fields of page paths: `kari`, ..., `kari_weight`, `berit_alarm`, ..."""
        return {**{k: str(v) for k, v in self.patients.items()}, **{k: str(v) for k, v in self.alerts.items()},
                **self.kits}  # fmt: skip


def _readings(resident: Resident, now: datetime, kit: dict[str, str]) -> list[Reading]:
    """The resident's 90 days from the simulator (their own devices and the home's shared ones), and `also`."""
    simulator = HomeSimulator(
        seed=resident.seed, start=now - timedelta(days=HISTORY_DAYS), scenarios=resident.scenarios(now),
        **resident.normal,  # type: ignore[arg-type]
    )  # fmt: skip
    taken = [
        (kit[event.device.role], o.metric, o.value, o.unit, event.at)
        for event in simulator.events(until=now)
        if event.device.role in kit
        for o in event.observations
    ]
    return sorted(taken + resident.also(now, kit), key=lambda r: r[4])


async def _install(
    runtime_url: str, base_url: str, resident: Resident, homes: dict[UUID, dict[str, str]]
) -> tuple[UUID, dict[str, str], dict[str, str]]:
    """Enrol a gateway for the resident's home (once per home) and register their kit. Returns the patient id,
    the kit (role -> address) and the home's entry in `homes`: its gateway's id and credential, and its supervision
    sensors, registered with the first resident and shared with the next."""
    since = datetime.now(UTC) - timedelta(days=HISTORY_DAYS + 1)
    async with await connect(runtime_url) as conn:
        municipality = await directory.municipality_id(conn, MUNICIPALITY[0])
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT id, home_id FROM patients WHERE display_name = %s", (resident.name,))
        row = await cur.fetchone()
        assert row is not None, f"{resident.name} is not in the demo registry"
        patient, home = row["id"], row["home_id"]
        await assign_protocols(conn, patient, list(resident.protocols))
        shared = homes.setdefault(home, {})
        if "gateway" not in shared:
            code, _ = await credentials.create_code(conn, home)
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
                enrolled = await client.post("/api/v1/gateways/enrol", json={"code": code})
                enrolled.raise_for_status()
            shared.update(gateway=enrolled.json()["gateway_id"], credential=enrolled.json()["credential"])
        kit: dict[str, str] = {d.role: d.address for d in default_devices(resident.seed) if d.role in resident.roles}
        for role, address in kit.items():
            if role in SHARED and role in shared:
                continue  # the home's sensor is registered already, with a consent for each resident
            profile = next(d.profile_id for d in default_devices(resident.seed) if d.role == role)
            device = await devices.register(conn, gateway_id=UUID(shared["gateway"]), address=address,
                                            profile_id=profile, valid_from=since)  # fmt: skip
            if role in SHARED:
                await install_with_consent(conn, municipality, patient, device, profile, since)
                shared[role] = address
            else:
                await devices.assign(conn, device_id=device, patient_id=patient, valid_from=since)
    return patient, {**kit, **{r: shared[r] for r in SHARED if r in shared and r in resident.roles}}, shared


def _upload(client: httpx.Client, credential: str, readings: list[Reading]) -> None:
    """Send the readings as a gateway would, newest batch first: the recent days are in before the service's
    detection first looks, so no rule sees a gap that the older batches would fill."""
    numbered = wire_readings(readings)
    chunks = [numbered[i : i + BATCH] for i in range(0, len(numbered), BATCH)]
    epoch, auth = str(uuid.uuid4()), {"Authorization": f"Bearer {credential}"}
    for chunk in reversed(chunks):
        client.post("/api/v1/ingest", json=wire.batch(epoch, chunk), headers=auth).raise_for_status()


def _open_alerts(runtime_url: str, patient: UUID) -> dict[str, int]:
    with psycopg.connect(runtime_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT rule, max(id) AS id FROM alerts WHERE patient_id = %s AND resolved_at IS NULL GROUP BY rule",
            (patient,),
        ).fetchall()
    return {row["rule"]: row["id"] for row in rows}


def _wait_for(runtime_url: str, resident: Resident, patient: UUID, timeout: float = 60) -> dict[str, int]:
    """The resident's open alerts once every expected rule has opened; fails loudly naming what did not."""
    deadline = time.monotonic() + timeout
    while not set(resident.expected) <= set(found := _open_alerts(runtime_url, patient)):
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{resident.name}: {sorted(set(resident.expected) - set(found))} did not open; open: {found}"
            )
        time.sleep(0.5)
    return found


@contextmanager
def _staff(base_url: str, username: str, password: str) -> Iterator[httpx.Client]:
    """An API client signed in as a demo account (the session cookie and the CSRF header its posts need)."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        signed_in = client.post("/auth/login", json={"username": username, "password": password})
        signed_in.raise_for_status()
        client.headers["X-CSRF-Token"] = signed_in.json()["csrf_token"]
        yield client


def _act(client: httpx.Client, alert_id: int, *steps: tuple[str, dict[str, Any] | None]) -> None:
    """POST each (action, body) to the alert as the signed-in person: acknowledge, comments, outcomes."""
    for action, body in steps:
        client.post(f"/api/v1/alerts/{alert_id}/{action}", json=body).raise_for_status()


def _people_act(base_url: str, passwords: dict[str, str], shown: Showcase) -> None:
    """The response centre takes Berit's alarm and closes it after a call; the nurse handles Kari's weight."""
    with _staff(base_url, "demo.responssenter", passwords["demo.responssenter"]) as centre:
        _act(centre, shown.alerts["berit_alarm"], ("acknowledge", None),
             ("comments", {"body": "Berit svarte på høyttaleren: trykket ved et uhell, alt i orden."}),
             ("outcomes", {"outcome": "resolved_by_phone", "note": "Falsk alarm, snakket med Berit"}))  # fmt: skip
    with _staff(base_url, "demo.sykepleier", passwords["demo.sykepleier"]) as nurse:
        # The nurse opens Kari's record: Kari sees it in "who has looked" on her own page.
        nurse.get(f"/api/v1/patients/{shown.patients['kari']}").raise_for_status()
        _act(nurse, shown.alerts["kari_weight"], ("acknowledge", None),
             ("comments", {"body": "Ringte Kari: hovne ankler, tyngre i pusten i trappen. Fastlegen er varslet."}),
             ("comments", {"body": "Besøk i dag før lunsj: vekt, ødem og lungelyd. Vurder økt vanndrivende."}),
             ("outcomes", {"outcome": "visit_dispatched", "note": "Hjemmebesøk før lunsj"}))  # fmt: skip


def build(base_url: str, runtime_url: str, passwords: dict[str, str]) -> Showcase:
    """Install every resident's kit, send their readings, wait for their alerts, let people act, propose limits."""
    shown = Showcase()
    homes: dict[UUID, dict[str, str]] = {}
    for resident in RESIDENTS:
        first = resident.name.split()[0].lower()
        patient, kit, home = asyncio.run(_install(runtime_url, base_url, resident, homes))
        with httpx.Client(base_url=base_url, timeout=60) as gateway:
            report_status(gateway, home["gateway"], home["credential"])
            _upload(gateway, home["credential"], _readings(resident, datetime.now(UTC), kit))
        opened = _wait_for(runtime_url, resident, patient)
        shown.patients[first] = patient
        shown.alerts |= {f"{first}_{name}": opened[rule] for rule, name in resident.expected.items()}
    _people_act(base_url, passwords, shown)
    kari_home = homes[next(iter(homes))]
    shown.kits = demo_kit.showcase(base_url, runtime_url, kari_home["gateway"], kari_home["credential"])
    proposal = asyncio.run(propose_limits(runtime_url, str(shown.patients["kari"])))
    if "waiting for approval" not in proposal:
        raise RuntimeError(f"Kari's personal limits were not proposed: {proposal}")
    return shown
