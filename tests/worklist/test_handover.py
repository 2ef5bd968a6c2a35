"""The shift handover: for my teams since a chosen time, alerts opened, acknowledged and resolved with their
outcomes, alerts still open, paused patients and waiting proposals; a start in the future or more than a
week ago is refused with the field named."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, audit_rows, insert_patient
from tests.worklist.conftest import raise_from


def _handover(client: TestClient, tenants: Tenants, since: datetime | None = None, role: Role = Role.NURSE) -> Any:
    params = {} if since is None else {"since": since.isoformat()}
    response = client.get("/api/v1/handover", params=params, headers={**tenants.a.auth(role), "Accept-Language": "nb"})
    assert response.status_code == 200, response.text
    return response.json()


def _ids(alerts: list[dict[str, Any]], patient: uuid.UUID) -> list[str]:
    return [a["rule"] for a in alerts if a["patient_id"] == str(patient)]


def test_what_happened_since_and_what_is_still_open(
    client: TestClient, worklist_db: TestDatabase, tenants: Tenants
) -> None:
    url = worklist_db.runtime_url
    patient = insert_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"], "Kari Overlevering")
    other_team = insert_patient(url, tenants.a.municipality_id, tenants.a.teams["Sør"], "Sør Pasient")
    raise_from(url, patient, "body.temperature", 39.4)  # opened before the shift, still open
    raise_from(url, other_team, "alarm.button", 1)
    time.sleep(0.05)
    since = datetime.now(UTC)
    raise_from(url, patient, "alarm.button", 1)
    raise_from(url, patient, "fall.detected", 1)
    nurse = tenants.a.auth(Role.NURSE)
    alerts = {a["rule"]: a for a in _handover(client, tenants, since)["still_open"] if a["patient_id"] == str(patient)}
    client.post(f"/api/v1/alerts/{alerts['wf.fall']['alert_id']}/acknowledge", headers=nurse)
    outcome = {"outcome": "false_alarm", "note": "Trykket ved et uhell"}
    alarm = alerts["wf.alarm_button"]["alert_id"]
    closed = client.post(f"/api/v1/alerts/{alarm}/outcomes", json=outcome, headers=nurse)
    assert closed.status_code == 201, closed.text
    pause = {"reason": "Innlagt på sykehus", "until": (datetime.now(UTC) + timedelta(days=3)).isoformat()}
    assert client.post(f"/api/v1/patients/{patient}/pause", json=pause, headers=nurse).status_code == 201
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO baseline_proposals (patient_id, municipality_id, occasion, period_from, period_to, method, "
            "rules) VALUES (%s, %s, 'trial_ended', now() - interval '14 days', now(), '{}', '[]')",
            (patient, tenants.a.municipality_id),
        )

    found = _handover(client, tenants, since)
    assert sorted(_ids(found["opened"], patient)) == ["wf.alarm_button", "wf.fall"]
    assert sorted(_ids(found["acknowledged"], patient)) == ["wf.alarm_button", "wf.fall"]  # a resolve takes it too
    assert _ids(found["resolved"], patient) == ["wf.alarm_button"]
    # The fever is handed over as the worsening episode it opened (the rule's own alert is its evidence).
    assert sorted(_ids(found["still_open"], patient)) == ["episode.clinical", "wf.fall"]
    [resolved] = found["resolved"]
    assert [(o["outcome"], o["text"], o["by"], o["note"]) for o in resolved["outcomes"]] == [
        ("false_alarm", "Falsk alarm", "nurse a", "Trykket ved et uhell")
    ]
    assert resolved["resolved_by"] == resolved["acknowledged_by"] == "nurse a"
    assert resolved["title"] == "Trygghetsalarm utløst"
    assert resolved["sentence"].startswith("Kari Overlevering trykket på trygghetsalarmen")
    assert [(p["patient"], p["reason"], p["set_by"]) for p in found["paused"]] == [
        ("Kari Overlevering", "Innlagt på sykehus", "nurse a")
    ]
    assert [w["patient"] for w in found["waiting_proposals"]] == ["Kari Overlevering"]
    # Only the nurse's care team: the other team's alarm is not handed over to her.
    everything = [a for key in ("opened", "acknowledged", "resolved", "still_open") for a in found[key]]
    assert str(other_team) not in {a["patient_id"] for a in everything}
    # The municipality administrator sees both teams.
    wide = _handover(client, tenants, since - timedelta(seconds=10), Role.MUNICIPALITY_ADMIN)
    assert _ids(wide["still_open"], other_team) == ["wf.alarm_button"]


def test_the_default_start_is_eight_hours_ago(client: TestClient, tenants: Tenants) -> None:
    found = _handover(client, tenants)
    since, until = datetime.fromisoformat(found["since"]), datetime.fromisoformat(found["until"])
    assert until - since == timedelta(hours=8)


@pytest.mark.parametrize(
    ("since", "message"),
    [
        (lambda: (datetime.now(UTC) + timedelta(hours=1)).isoformat(), "Starten på overleveringen kan ikke være fram"),
        (lambda: (datetime.now(UTC) - timedelta(days=8)).isoformat(), "Overleveringen dekker høyst 7 dager."),
        (lambda: "2026-12-03T08:00:00", "Input should have timezone info"),
        (lambda: "yesterday", "Input should be a valid datetime"),
    ],
)
def test_a_start_outside_the_week_is_refused_with_the_field_named(
    client: TestClient, worklist_db: TestDatabase, tenants: Tenants, since: Any, message: str
) -> None:
    request_id = uuid.uuid4().hex
    headers = {**tenants.a.auth(Role.NURSE), "Accept-Language": "nb", "X-Request-ID": request_id}
    response = client.get("/api/v1/handover", params={"since": since()}, headers=headers)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "since"]
    assert error["msg"].startswith(message)
    # The request reached for patient data, so it is on record whatever was wrong with it.
    assert [r["action"] for r in audit_rows(worklist_db.runtime_url, request_id)] == ["handover.read"]
