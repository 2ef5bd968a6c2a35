"""An alarm-button press through the ingest API opens its alert within a second, woken by NOTIFY: the
worker's poll is set to a minute, so only the notification can explain the speed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from cloud.app import create_app
from cloud.config import CloudSettings
from cloud.db.pool import make_pool
from cloud.evaluation.runner import EvaluationRunner
from cloud.notify.in_app import WORKLIST_CHANNEL
from tests.evaluation.conftest import new_patient
from tests.support.db import rows
from tests.support.kits import Kit, batch, enrol_kit, reading
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants


@pytest.fixture
def live_client(eval_db: TestDatabase, tenants: Tenants) -> Iterator[TestClient]:
    settings = CloudSettings(database_url=eval_db.runtime_url, auth_mode="local", cookie_secure=False)
    pool = make_pool(eval_db.runtime_url, min_size=1, max_size=4, timeout_s=5)
    with TestClient(create_app(pool, settings, evaluation_poll_s=60)) as client:
        yield client


def _settled(client: TestClient, url: str) -> EvaluationRunner:
    """The app's runner once it listens and has drained what its start-up sweep queued."""
    runner = client.app.state.evaluation  # type: ignore[attr-defined]
    assert isinstance(runner, EvaluationRunner)
    deadline = time.monotonic() + 10
    while not (runner.listening.is_set() and not rows(url, "SELECT 1 FROM pending_evaluations")):
        assert time.monotonic() < deadline, "the worker did not settle"
        time.sleep(0.05)
    return runner


def test_an_alarm_press_is_evaluated_within_a_second_by_notify(
    live_client: TestClient, eval_db: TestDatabase, tenants: Tenants
) -> None:
    url = eval_db.runtime_url
    kit = enrol_kit(live_client, url, tenants.a.municipality_id, new_patient(url, tenants))
    runner = _settled(live_client, url)
    before = dict(runner.wakeups)
    sent = time.monotonic()
    press = reading(1, kit.button, metric="alarm.button", value=1, unit="1")
    response = live_client.post("/api/v1/ingest", json=batch(kit, [press]), headers=kit.auth)
    assert response.status_code == 200 and response.json()["stored"] == 1
    opened: list[tuple[object, ...]] = []
    while not opened and time.monotonic() - sent < 1.0:
        opened = rows(url, "SELECT rule, severity FROM alerts WHERE patient_id = %s AND resolved_at IS NULL "
                      "AND rule = 'wf.alarm_button'", kit.patient_id)  # fmt: skip
        time.sleep(0.01)
    elapsed = time.monotonic() - sent
    assert opened == [("wf.alarm_button", "red")], f"no alert within {elapsed:.2f} s"
    woken = {reason: n - before.get(reason, 0) for reason, n in runner.wakeups.items() if n > before.get(reason, 0)}
    assert woken.get("notify", 0) >= 1 and "poll" not in woken, woken
    # The nurse sees it through the API, explained.
    nurse = tenants.a.auth(Role.NURSE)
    listed = live_client.get(f"/api/v1/patients/{kit.patient_id}/alerts", headers=nurse)
    assert listed.status_code == 200
    alert = next(a for a in listed.json()["open"] if a["rule"] == "wf.alarm_button")
    assert alert["explanation"]["parameters"]["source"] == "rule-alarm"


def _first_press(client: TestClient, url: str, tenants: Tenants) -> tuple[Kit, int]:
    """A new patient's kit whose alarm button was pressed two minutes ago, and the alarm alert that press opened."""
    kit = enrol_kit(client, url, tenants.a.municipality_id, new_patient(url, tenants))
    _settled(client, url)
    first = reading(1, kit.button, metric="alarm.button", value=1, unit="1",
                    measured_at=datetime.now(UTC) - timedelta(minutes=2))  # fmt: skip
    assert client.post("/api/v1/ingest", json=batch(kit, [first]), headers=kit.auth).status_code == 200
    deadline = time.monotonic() + 5
    while not (opened := rows(url, "SELECT id FROM alerts WHERE patient_id = %s AND rule = 'wf.alarm_button'",
                              kit.patient_id)):  # fmt: skip
        assert time.monotonic() < deadline, "the first press opened no alarm"
        time.sleep(0.02)
    [(alert_id,)] = opened
    return kit, int(alert_id)


def test_a_second_press_on_the_open_alarm_reaches_the_live_screens_at_once(
    live_client: TestClient, eval_db: TestDatabase, tenants: Tenants
) -> None:
    """A press while the alarm is still open is counted on it; the response centre's screen must show it at once
    (it fetches again on a live event), not at the next reload."""
    url = eval_db.runtime_url
    kit, alert_id = _first_press(live_client, url, tenants)
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute(f"LISTEN {WORKLIST_CHANNEL}")
        again = reading(2, kit.button, metric="alarm.button", value=1, unit="1")
        assert live_client.post("/api/v1/ingest", json=batch(kit, [again]), headers=kit.auth).status_code == 200
        seen = []
        for notice in listener.notifies(timeout=3):
            seen.append(json.loads(notice.payload))
            if seen[-1]["event"] == "repeated":
                break
    assert [(e["event"], e["alert_id"], e["state"]) for e in seen if e["event"] == "repeated"] == [
        ("repeated", alert_id, "triggered")], seen  # fmt: skip
    assert rows(url, "SELECT repeats FROM alerts WHERE id = %s", alert_id) == [(1,)]


def test_a_press_on_a_taken_alarm_is_a_new_call_that_waits_to_be_taken_again(
    live_client: TestClient, eval_db: TestDatabase, tenants: Tenants
) -> None:
    """Detection's repeat reaches escalation: the taken alarm is untaken and its chain starts round 2."""
    url = eval_db.runtime_url
    kit, alert_id = _first_press(live_client, url, tenants)
    taken = live_client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=tenants.a.auth(Role.NURSE))
    assert taken.status_code == 200 and taken.json()["state"] == "acknowledged"
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute(f"LISTEN {WORKLIST_CHANNEL}")
        again = reading(2, kit.button, metric="alarm.button", value=1, unit="1")
        assert live_client.post("/api/v1/ingest", json=batch(kit, [again]), headers=kit.auth).status_code == 200
        seen = [json.loads(n.payload) for n in listener.notifies(timeout=3, stop_after=1)]
    assert [(e["event"], e["state"]) for e in seen] == [("repeated", "triggered")], seen
    after = rows(
        url, "SELECT state, acknowledged_by, repeats, escalation->>'round' FROM alerts WHERE id = %s", alert_id
    )
    assert after == [("triggered", None, 1, "2")]
