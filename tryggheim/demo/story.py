"""What happens in the demo's three homes, so that the nurse's worklist tells one story:

* **Kari** (heart failure): over the last three days her weight climbs 1.2 kg a day and her pulse rises; 30 days
  of quiet history before that give her personal limits, whose proposal waits for the nurse.
* **Ola** (COPD): his oxygen saturation falls and his pulse rises over three days, and his answers to the day's
  questions (breathlessness, swelling, well-being) worsen.
* **Per and Berit** (welfare technology, a couple): the hall door opens at night and the alarm button is pressed,
  read through the replayed BLE devices and the home's own Mosquitto.

The simulated homes' changes end half a simulated day after the demo starts, so the last part unfolds at the
demo's speed while the worklist already shows the alerts the history opened.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from cloud.access import audit, directory
from cloud.db.pool import connect
from cloud.ingest import self_report
from common.timefmt import OSLO
from device_profiles import wire
from tryggheim.demo.seed import MUNICIPALITY, wire_readings

HISTORY_DAYS = 30
CHANGE_DAYS = 3.0
UNFOLDS_DAYS = 0.5  # how much of the change is still to come when the demo starts
KARI, OLA = "Kari Nordmann (demo)", "Ola Nordmann (demo)"
PER, BERIT = "Per Hansen (demo)", "Berit Hansen (demo)"


@dataclass(frozen=True)
class Home:
    """One home: its title on the console, the simulator's seed, its residents with their protocols, whether it
    runs the radio sources, and its scripted changes (edge SimulatorConfig.scenarios) given the moment its clock
    goes live."""

    title: str
    seed: int
    residents: tuple[tuple[str, tuple[str, ...]], ...]
    radio: bool = False
    scenarios: Callable[[datetime], list[dict[str, Any]]] = lambda live_from: []
    owners: tuple[tuple[str, str], ...] = ()  # (catalogue profile, resident) of devices not the first resident's


def _change_start(live_from: datetime) -> str:
    return (live_from - timedelta(days=CHANGE_DAYS - UNFOLDS_DAYS)).isoformat()


def _kari(live_from: datetime) -> list[dict[str, Any]]:
    start = _change_start(live_from)
    return [
        {"kind": "weight_gain", "start": start, "days": CHANGE_DAYS, "kg_per_day": 1.2},
        {"kind": "vital_shift", "start": start, "days": CHANGE_DAYS, "pulse": 14.0},
    ]


def _ola(live_from: datetime) -> list[dict[str, Any]]:
    return [{"kind": "vital_shift", "start": _change_start(live_from), "days": CHANGE_DAYS, "pulse": 16.0,
             "spo2": -6.0}]  # fmt: skip


HOMES = (
    Home("Kari", 2026, ((KARI, ("heart_failure",)),), scenarios=_kari),
    Home("Ola", 11, ((OLA, ("copd",)),), scenarios=_ola),
    # Per has the alarm button and the scale; Berit measures her blood pressure and has a Zigbee button by her bed
    # (`tryggheim demo press`); the door and motion sensors are the home's, with the consent of both.
    Home(
        "Per & Berit",
        12,
        ((PER, ("general_elderly", "welfare")), (BERIT, ("hypertension", "welfare"))),
        radio=True,
        owners=(("and-ua-651ble", BERIT), ("aqara-wireless-mini-switch-wxkg11lm", BERIT)),
    ),
)


def answers_for(day: int) -> dict[str, int]:
    """Ola's answers `day` days before today: steady for weeks, then more breathless and feeling worse."""
    if day >= CHANGE_DAYS:
        return {"dyspnoea": 1 if day % 4 else 0, "oedema": 0, "wellbeing": 3}
    worse = int(CHANGE_DAYS - day)  # 1, 2, 3 over the last three days (today the worst)
    return {"dyspnoea": min(1 + worse, 4), "oedema": 1 if worse > 1 else 0, "wellbeing": max(3 - worse, 0)}


async def backfill_answers(runtime_url: str) -> int:
    """Ola's answers to the day's questions for the 30 days of his history and today, stored by the same service
    as his own answers on his page (cloud/ingest/self_report.py); days already answered are left. Returns how
    many days were stored."""
    stored = 0
    async with await connect(runtime_url) as conn:
        municipality = await directory.municipality_id(conn, MUNICIPALITY[0])
        row = await (await conn.execute("SELECT id FROM patients WHERE display_name = %s", (OLA,))).fetchone()
        assert row is not None
        today = datetime.now(UTC)
        actor = audit.Actor.system("demo")
        for day in range(HISTORY_DAYS, -1, -1):
            moment = min(today - timedelta(days=day), today)
            record = actor.record("self_report.answer", f"patient:{row[0]}", municipality_id=municipality,
                                  patient_id=row[0])  # fmt: skip
            try:
                audit_id = await audit.write(conn, record)
                await self_report.answer(
                    conn, municipality_id=municipality, patient_id=row[0], values=answers_for(day), weekly=False,
                    audit_id=audit_id, now=moment,
                )  # fmt: skip
            except self_report.AnsweredTodayError:
                continue
            stored += 1
    return stored


def last_night_door(now: datetime, door: str) -> list[wire.WireJSON]:
    """The hall door opened at 02:40 last night (Oslo) and closed four minutes later, as the gateway stored it."""
    night = now.astimezone(OSLO).replace(hour=2, minute=40, second=0, microsecond=0)
    if night > now - timedelta(minutes=10):
        night -= timedelta(days=1)
    closed = night + timedelta(minutes=4)
    return wire_readings([(door, "door.open", 1, "1", night), (door, "door.open", 0, "1", closed)])


def send_last_night(base_url: str, credential: str, door: str) -> int:
    """Upload last night's door opening as the couple's gateway sent it then (its Zigbee2MQTT door sensor is
    read live from now on; the night rule needs a night). Returns how many readings were stored."""
    batch = wire.batch(str(uuid.uuid4()), last_night_door(datetime.now(UTC), door))
    with httpx.Client(base_url=base_url, timeout=30) as client:
        answer = client.post("/api/v1/ingest", json=batch, headers={"Authorization": f"Bearer {credential}"})
        answer.raise_for_status()
        return int(answer.json()["stored"])


def run_backfill(runtime_url: str) -> int:
    """`backfill_answers` from a thread without an event loop."""
    return asyncio.run(backfill_answers(runtime_url))


def couple_door() -> str:
    """The Zigbee2MQTT name of Per and Berit's hall door contact."""
    from tryggheim.demo import couple

    return couple.door(HOMES[2].seed)


def kari_id(runtime_url: str) -> str:
    """Kari's patient id."""
    with psycopg.connect(runtime_url) as conn:
        row = conn.execute("SELECT id FROM patients WHERE display_name = %s", (KARI,)).fetchone()
    assert row is not None
    return str(row[0])
