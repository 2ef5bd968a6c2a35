"""The response centre's screen: safety alarms only, newest first, with address, key notes, phones and next
of kin in call order; taking an alarm and recording its outcome through the ordinary routes shows who did
what when; the share taken within 60 s; and nobody else's alarms, whoever asks."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from cloud.db.pool import connect
from cloud.worklist.response_centre import answer_share
from common.timefmt import OSLO
from tests.support.db import named_rows
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, insert_patient
from tests.worklist.conftest import raise_from


def _home_patient(db: TestDatabase, tenants: Tenants, name: str, team: str = "Nord") -> uuid.UUID:
    """A patient living at a home with key-box notes and a phone, with two contacts to call in order."""
    patient = insert_patient(db.runtime_url, tenants.a.municipality_id, tenants.a.teams[team], name)
    with psycopg.connect(db.runtime_url, autocommit=True) as conn:
        home = conn.execute(
            "INSERT INTO homes (municipality_id, address, access_notes, phone) VALUES (%s, %s, %s, %s) RETURNING id",
            (tenants.a.municipality_id, "Storgata 1, 0155 Oslo", "Nøkkelboks ved døren, kode 4711", "22 33 44 55"),
        ).fetchone()
        assert home is not None
        conn.execute("UPDATE patients SET home_id = %s, phone = '911 22 333' WHERE id = %s", (home[0], patient))
        for position, (who, relation, phone, kin) in enumerate(
            (("Ola Nordmann", "sønn", "900 00 001", True), ("Nabo Hansen", "nabo", "900 00 002", False)), start=1
        ):
            conn.execute(
                "INSERT INTO patient_contacts (patient_id, position, name, relation, phone, next_of_kin) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (patient, position, who, relation, phone, kin),
            )
    return patient


def _last_night_at_two() -> datetime:
    """The most recent 02:00 in Oslo (inside the welfare rule's night, 23-06)."""
    local = datetime.now(OSLO).replace(hour=2, minute=0, second=0, microsecond=0)
    return (local if local <= datetime.now(OSLO) else local - timedelta(days=1)).astimezone(UTC)


def _screen(client: TestClient, tenants: Tenants, role: Role = Role.RESPONSE_CENTRE) -> Any:
    response = client.get("/api/v1/response-centre", headers={**tenants.a.auth(role), "Accept-Language": "nb"})
    assert response.status_code == 200, response.text
    return response.json()


def _mine(screen: Any, patient: uuid.UUID) -> list[dict[str, Any]]:
    return [alarm for alarm in screen["alarms"] if alarm["patient_id"] == str(patient)]


def test_safety_alarms_only_newest_first_with_what_the_operator_needs(
    client: TestClient, worklist_db: TestDatabase, tenants: Tenants
) -> None:
    patient = _home_patient(worklist_db, tenants, "Kari Alarm")
    url = worklist_db.runtime_url
    raise_from(url, patient, "door.open", 1, at=_last_night_at_two())
    raise_from(url, patient, "body.temperature", 39.4)  # a clinical alert: not the response centre's
    raise_from(url, patient, "fall.detected", 1)
    raise_from(url, patient, "alarm.button", 1)
    alarms = _mine(_screen(client, tenants), patient)
    assert [a["rule"] for a in alarms] == ["wf.alarm_button", "wf.fall", "wf.door_at_night"]
    newest = alarms[0]
    assert newest["title"] == "Trygghetsalarm utløst"
    assert newest["sentence"].startswith("Kari Alarm trykket på trygghetsalarmen (")
    assert str(patient) not in newest["sentence"]
    assert (newest["patient"], newest["address"], newest["access_notes"]) == (
        "Kari Alarm", "Storgata 1, 0155 Oslo", "Nøkkelboks ved døren, kode 4711",
    )  # fmt: skip
    assert (newest["home_phone"], newest["patient_phone"]) == ("22 33 44 55", "911 22 333")
    called = [(c["name"], c["next_of_kin"]) for c in newest["contacts"]]
    assert called == [("Ola Nordmann", True), ("Nabo Hansen", False)]
    assert (newest["taken_at"], newest["taken_by"], newest["outcome"]) == (None, None, None)
    assert alarms[2]["sentence"].startswith("Døren hjemme hos Kari Alarm ble åpnet om natten")


def test_taking_an_alarm_and_its_outcome_show_who_and_when(
    client: TestClient, worklist_db: TestDatabase, tenants: Tenants
) -> None:
    patient = _home_patient(worklist_db, tenants, "Per Tatt")
    raise_from(worklist_db.runtime_url, patient, "alarm.button", 1)
    [alarm] = _mine(_screen(client, tenants), patient)
    operator = tenants.a.auth(Role.RESPONSE_CENTRE)
    taken = client.post(f"/api/v1/alerts/{alarm['alert_id']}/acknowledge", headers=operator)
    assert taken.status_code == 200, taken.text
    body = {"outcome": "visit_dispatched", "note": "Hjemmetjenesten er på vei"}
    recorded = client.post(f"/api/v1/alerts/{alarm['alert_id']}/outcomes", json=body, headers=operator)
    assert recorded.status_code == 201, recorded.text
    [after] = _mine(_screen(client, tenants), patient)
    assert after["state"] == "acknowledged"
    assert after["taken_by"] == after["outcome_by"] == "response_centre a"
    assert 0 <= after["taken_after_s"] < 60
    assert (after["outcome"], after["outcome_text"]) == ("visit_dispatched", "Hjelp sendt")
    [row] = named_rows(worklist_db.runtime_url, "SELECT acknowledged_by FROM alerts WHERE id = %s", alarm["alert_id"])
    assert row["acknowledged_by"] == tenants.a.staff[Role.RESPONSE_CENTRE]
    closed = client.post(f"/api/v1/alerts/{alarm['alert_id']}/outcomes", json={"outcome": "done"}, headers=operator)
    assert closed.status_code == 201
    [done] = _mine(_screen(client, tenants), patient)  # resolved within the last 24 hours: still listed
    assert (done["state"], done["outcome_text"]) == ("resolved", "Ferdig")


def _share(url: str, tenants: Tenants, now: datetime) -> tuple[int, int]:
    async def run() -> tuple[int, int]:
        async with await connect(url, autocommit=False) as conn:
            found = await answer_share(conn, tenants.a.municipality_id, [tenants.a.teams["Sør"]], now)
            return found.taken_in_time, found.counted

    return asyncio.run(run())


def test_the_share_taken_within_60_seconds(client: TestClient, worklist_db: TestDatabase, tenants: Tenants) -> None:
    """Counted: alarms taken, and alarms waiting longer than the target; one still within it is not late yet."""
    url = worklist_db.runtime_url
    quick, waiting = (_home_patient(worklist_db, tenants, name, team="Sør") for name in ("Rask", "Venter"))
    raise_from(url, quick, "alarm.button", 1)
    raise_from(url, waiting, "fall.detected", 1)
    [alarm] = _mine(_screen(client, tenants), quick)
    client.post(f"/api/v1/alerts/{alarm['alert_id']}/acknowledge", headers=tenants.a.auth(Role.RESPONSE_CENTRE))
    now = datetime.now(UTC)
    assert _share(url, tenants, now) == (1, 1)  # the fall has waited less than 60 s
    assert _share(url, tenants, now + timedelta(seconds=90)) == (1, 2)  # now it is late
    assert _share(url, tenants, now + timedelta(hours=25)) == (0, 0)  # both left the 24-hour window
    answered = _screen(client, tenants)["answered"]
    assert (answered["window_hours"], answered["target_s"]) == (24, 60)
    assert answered["taken_in_time"] <= answered["counted"]


def test_another_municipalitys_centre_sees_none_of_these_alarms(
    client: TestClient, worklist_db: TestDatabase, tenants: Tenants
) -> None:
    patient = _home_patient(worklist_db, tenants, f"Kari {tenants.a.marker}")
    raise_from(worklist_db.runtime_url, patient, "alarm.button", 1)
    assert _mine(_screen(client, tenants, Role.MUNICIPALITY_ADMIN), patient)
    foreign = client.get("/api/v1/response-centre", headers=tenants.b.auth(Role.RESPONSE_CENTRE))
    assert foreign.status_code == 200
    assert tenants.a.marker not in foreign.text
    assert str(patient) not in foreign.text
