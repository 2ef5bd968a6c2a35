"""The triage API on the real application: the worklist's order, grouping, filters and scope; an alert's
detail; comments and outcomes with their validation and audit; the latency histograms; the CLI view."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from tests.escalation.conftest import new_patient, open_alerts
from tests.support.app import app_client
from tests.support.db import rows
from tests.support.proc import env_with, run_cli
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants


@pytest.fixture(scope="module")
def client(esc_db: TestDatabase, tenants: Tenants) -> Iterator[TestClient]:
    with app_client(esc_db.runtime_url, evaluation=False, escalation=False) as test_client:
        yield test_client


def _mine(worklist: dict[str, object], patients: set[str]) -> list[dict[str, object]]:
    return [g for g in worklist["patients"] if g["patient_id"] in patients]  # type: ignore[attr-defined,index]


def test_worklist_sorts_by_severity_then_age_groups_per_patient_and_keeps_to_the_callers_scope(
    client: TestClient, esc_db: TestDatabase, tenants: Tenants
) -> None:
    url, a = esc_db.runtime_url, tenants.a
    first, second = (new_patient(url, a.municipality_id, a.teams["Nord"]) for _ in range(2))
    south = new_patient(url, a.municipality_id, a.teams["Sør"])
    now = time.time()
    (older_yellow,) = open_alerts(url, first, 1, severity="yellow", opened_at=now - 3600, prefix="wy")
    (oldest_red,) = open_alerts(url, second, 1, severity="red", opened_at=now - 7200, prefix="wr")
    (newer_red,) = open_alerts(url, first, 1, severity="red", opened_at=now - 60, prefix="wr")
    open_alerts(url, south, 1, opened_at=now, prefix="ws")
    ours = {str(first), str(second), str(south)}
    answer = client.get("/api/v1/worklist", headers=a.auth(Role.NURSE))
    assert answer.status_code == 200
    groups = _mine(answer.json(), ours)
    assert [g["patient_id"] for g in groups] == [str(second), str(first)]  # the Sør patient is not the nurse's
    assert [x["id"] for x in groups[1]["alerts"]] == [newer_red, older_yellow]
    assert groups[1]["counts"] == {"total": 2, "red": 1, "yellow": 1, "triggered": 2}
    assert groups[0]["alerts"][0]["id"] == oldest_red and groups[0]["alerts"][0]["event_class"] == "clinical"
    yellow = _mine(client.get("/api/v1/worklist?severity=yellow", headers=a.auth(Role.NURSE)).json(), ours)
    assert [[x["id"] for x in g["alerts"]] for g in yellow] == [[older_yellow]]
    centre = _mine(client.get("/api/v1/worklist", headers=a.auth(Role.RESPONSE_CENTRE)).json(), ours)
    assert {g["patient_id"] for g in centre} == ours  # the response centre covers the whole municipality
    team = _mine(client.get(f"/api/v1/worklist?team_id={a.teams['Sør']}", headers=a.auth(Role.RESPONSE_CENTRE))
                 .json(), ours)  # fmt: skip
    assert [g["patient_id"] for g in team] == [str(south)]
    assert _mine(client.get("/api/v1/worklist", headers=tenants.b.auth(Role.RESPONSE_CENTRE)).json(), ours) == []
    assert client.get("/api/v1/worklist", headers=a.auth(Role.INSTALLER)).status_code == 403
    assert client.get("/api/v1/worklist").status_code == 401
    assert client.get("/api/v1/worklist?severity=green", headers=a.auth(Role.NURSE)).status_code == 422


def test_alert_detail_is_scoped_and_audited(client: TestClient, esc_db: TestDatabase, tenants: Tenants) -> None:
    url, a = esc_db.runtime_url, tenants.a
    patient = new_patient(url, a.municipality_id, a.teams["Nord"])
    (alert,) = open_alerts(url, patient, 1, prefix="detail")
    answer = client.get(f"/alerts/{alert}", headers={**a.auth(Role.NURSE), "X-Request-ID": "detail-1"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["alert"]["id"] == alert and body["event_class"] == "clinical" and body["policy"] == "red_vitals"
    assert set(body["timestamps"]) == {"device_event_at", "gateway_received_at", "cloud_committed_at", "opened_at",
                                       "first_notified_at", "acknowledged_at", "on_site_at", "resolved_at"}  # fmt: skip
    assert body["readings"] == [] and body["notifications"] == []
    assert client.get(f"/api/v1/alerts/{alert}", headers=a.auth(Role.NURSE)).json()["alert"]["id"] == alert
    assert rows(url, "SELECT action, outcome FROM audit_log WHERE correlation_id = 'detail-1'") == [
        ("alerts.read", "allowed")
    ]
    assert client.get(f"/alerts/{alert}", headers=tenants.b.auth(Role.NURSE)).status_code == 404
    south = new_patient(url, a.municipality_id, a.teams["Sør"])
    (hidden,) = open_alerts(url, south, 1, prefix="detail")
    assert client.get(f"/alerts/{hidden}", headers=a.auth(Role.NURSE)).status_code == 403
    assert client.get(f"/alerts/{alert}").status_code == 401
    assert client.get("/alerts/999999999", headers=a.auth(Role.NURSE)).status_code == 404


def test_comments_and_outcomes_with_times_and_the_resolution_they_bring(
    client: TestClient, esc_db: TestDatabase, tenants: Tenants
) -> None:
    url, a = esc_db.runtime_url, tenants.a
    nurse = a.auth(Role.NURSE)
    patient = new_patient(url, a.municipality_id, a.teams["Nord"])
    (alert,) = open_alerts(url, patient, 1, prefix="outcome")
    assert client.post(f"/api/v1/alerts/{alert}/comments", json={"body": "Ringte, ingen svar"},
                       headers=nurse).status_code == 201  # fmt: skip
    assert client.post(f"/api/v1/alerts/{alert}/comments", json={"body": "   "}, headers=nurse).status_code == 422
    # Separators Python strips but the database's btrim keeps: refused, not a 500 (found by schemathesis)
    blank = client.post(f"/api/v1/alerts/{alert}/comments", json={"body": "\x1d"}, headers=nurse)
    assert blank.status_code == 422 and "besides spaces" in blank.text
    assert client.post(f"/api/v1/alerts/{alert}/acknowledge", headers=nurse).status_code == 200
    assert client.post(f"/api/v1/alerts/{alert}/outcomes", json={"outcome": "visit_dispatched"},
                       headers=nurse).status_code == 201  # fmt: skip
    for bad in ({"outcome": "maybe"}, {"outcome": "on_site", "at": "2026-01-01T10:00:00"},
                {"outcome": "on_site", "at": "2999-01-01T10:00:00Z"}, {"outcome": "on_site", "extra": 1},
                {"outcome": "on_site", "at": "2000-01-01T10:00:00Z"}):  # fmt: skip
        answer = client.post(f"/api/v1/alerts/{alert}/outcomes", json=bad, headers=nurse)
        assert answer.status_code == 422, (bad, answer.text)
    on_site = rows(url, "SELECT now()")[0][0].isoformat()
    assert client.post(f"/api/v1/alerts/{alert}/outcomes", json={"outcome": "on_site", "at": on_site},
                       headers=nurse).status_code == 201  # fmt: skip
    done = client.post(f"/api/v1/alerts/{alert}/outcomes", json={"outcome": "done", "note": "Hjalp opp i stolen"},
                       headers=nurse)  # fmt: skip
    assert done.status_code == 201
    assert client.post(f"/api/v1/alerts/{alert}/outcomes", json={"outcome": "false_alarm"},
                       headers=nurse).status_code == 409  # fmt: skip
    detail = client.get(f"/alerts/{alert}", headers=nurse).json()
    assert detail["alert"]["state"] == "resolved" and detail["alert"]["resolved_at"] is not None
    stamps = detail["timestamps"]
    assert stamps["opened_at"] <= stamps["acknowledged_at"] <= stamps["on_site_at"] <= stamps["resolved_at"]
    assert [n["kind"] for n in detail["notes"]] == ["comment", "outcome:visit_dispatched", "outcome:on_site",
                                                    "outcome:done"]  # fmt: skip
    events = [r[0] for r in rows(url, "SELECT event FROM alert_transitions WHERE alert_id = %s ORDER BY id", alert)]
    assert events == ["commented", "acknowledged", "outcome", "outcome", "outcome", "resolved"]
    metrics = client.get("/metrics").text
    for stage in ("acknowledged", "on_site", "resolved"):
        assert f'tryggheim_alert_stage_seconds_count{{event_class="clinical",stage="{stage}"}}' in metrics
    # Outcomes are audited like every other patient action.
    assert rows(url, "SELECT count(*) FROM audit_log WHERE action = 'alerts.outcome' AND patient_id = %s",
                patient)[0][0] == 9  # fmt: skip


@pytest.mark.slow
def test_the_cli_shows_what_is_due_and_why(esc_db: TestDatabase, tenants: Tenants) -> None:
    url, a = esc_db.runtime_url, tenants.a
    patient = new_patient(url, a.municipality_id, a.teams["Nord"])
    (alert,) = open_alerts(url, patient, 1, prefix="cli")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE alerts SET next_step = 1 WHERE id = %s", (alert,))
    result = run_cli("alerts", "escalations", "--limit", "10000", env=env_with(TRYGGHEIM_DATABASE_URL=url))
    assert result.returncode == 0, result.stderr
    entry = next(e for e in map(json.loads, result.stdout.splitlines()) if e["alert_id"] == alert)
    assert entry["status"] == "waiting" and entry["policy"] == "red_vitals"
    assert entry["why"] == "next: step 2 of 3: unacknowledged after 30 min"
    missing = run_cli("alerts", "escalations", env=env_with())
    assert missing.returncode == 2 and "TRYGGHEIM_DATABASE_URL" in missing.stderr
