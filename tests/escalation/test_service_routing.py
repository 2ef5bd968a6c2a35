"""Routing in the engine and the settings API, against the real database with an injected clock: a yellow
alert opened on a Tuesday at 22:00 waits (shown as waiting, with its delivery time) and its first step becomes
due at Wednesday's opening; a red one at that hour reaches the out-of-hours service; bad documents are refused
with a 422 naming the problem and write nothing; the preview says who would be notified."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from cloud.db.pool import make_pool
from cloud.escalation import engine
from tests.escalation.conftest import new_patient, open_alerts
from tests.escalation.test_service_hours import DAY, WEEKDAYS, _t
from tests.support.app import app_client
from tests.support.db import rows
from tests.support.proc import env_with, run_cli
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants
from tests.web.helpers import HTML, sign_in

TUESDAY_2200, WEDNESDAY_0800 = _t("2026-12-01T22:00"), _t("2026-12-02T08:00")
SERVICE = {
    "teams": [{"team": "Nord", "weekly": dict.fromkeys(WEEKDAYS, DAY)}],
    "rota": [{"team": "Nord", "role": "nurse", "weekday": d, "starts": "08:00", "ends": "15:30", "staff": ["Kari"]}
             for d in WEEKDAYS],
    "required_roles": ["nurse"],
    "out_of_hours": "legevakt",
}  # fmt: skip


@pytest.fixture(scope="module")
def client(esc_db: TestDatabase, tenants: Tenants) -> Iterator[TestClient]:
    with app_client(esc_db.runtime_url, evaluation=False, escalation=False) as test_client:
        yield test_client


def _run(url: str, now: float) -> list[engine.StepResult]:
    async def go() -> list[engine.StepResult]:
        pool = make_pool(url, min_size=1, max_size=2, timeout_s=5)
        await pool.open()
        try:
            done = []
            while result := await engine.step_next(pool, now, 60.0, "test"):
                done.append(result)
            return done
        finally:
            await pool.close()

    return asyncio.run(go())


def test_service_settings_are_validated_and_audited_and_previewed(
    client: TestClient, esc_db: TestDatabase, tenants: Tenants
) -> None:
    admin, lead = tenants.a.auth(Role.MUNICIPALITY_ADMIN), tenants.a.auth(Role.TEAM_LEAD)
    assert client.get("/api/v1/escalation/service", headers=lead).status_code == 404
    gap = {**SERVICE, "rota": SERVICE["rota"][1:]}
    refused = client.put("/api/v1/escalation/service", json=gap, headers=admin)
    assert refused.status_code == 422 and "nobody is nurse on monday 08:00-15:30" in refused.json()["detail"]
    assert client.put("/api/v1/escalation/service", json=SERVICE, headers=lead).status_code == 403
    assert rows(esc_db.runtime_url, "SELECT 1 FROM service_settings") == []
    stored = client.put("/api/v1/escalation/service", json=SERVICE, headers=admin)
    assert stored.status_code == 200 and stored.json()["out_of_hours"] == "legevakt"
    audit = rows(esc_db.runtime_url, "SELECT action FROM audit_log WHERE action LIKE 'escalation.settings%%'")
    assert audit, "the change is audited"
    preview = client.get("/api/v1/escalation/route-preview", headers=lead, params={
        "event_class": "clinical", "severity": "yellow", "at": "2026-12-01T22:00", "team": "Nord"}).json()  # fmt: skip
    assert preview["recipient"] == "care_team" and preview["staff"] == ["Kari"]
    assert datetime.fromisoformat(preview["deliver_at"]).timestamp() == WEDNESDAY_0800
    night_fall = {"event_class": "clinical", "severity": "red", "detector": "event", "at": "2026-12-01T22:00"}
    fall = client.get("/api/v1/escalation/route-preview", headers=lead, params=night_fall).json()
    assert fall["recipient"] == "response_centre" and fall["deliver_at"] is None


def test_yellow_waits_for_the_opening_and_red_goes_to_the_out_of_hours_service(
    client: TestClient, esc_db: TestDatabase, tenants: Tenants
) -> None:
    url, admin = esc_db.runtime_url, tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    assert client.put("/api/v1/escalation/service", json=SERVICE, headers=admin).status_code == 200
    patient = new_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"], "Pasient tjenestetid")
    (yellow,) = open_alerts(url, patient, 1, severity="yellow", opened_at=TUESDAY_2200, prefix="hy")
    (red,) = open_alerts(url, patient, 1, severity="red", opened_at=TUESDAY_2200, prefix="hr")

    _run(url, TUESDAY_2200)
    ((route, due),) = rows(url, "SELECT escalation->'route', next_due_at FROM alerts WHERE id = %s", yellow)
    assert route["why"] == "outside service hours (Tuesday 22:00): waits for the team Nord, opening Wednesday 08:00"
    assert due.timestamp() == WEDNESDAY_0800 and route["deliver_at"] == WEDNESDAY_0800
    assert rows(url, "SELECT 1 FROM notifications WHERE alert_id = %s", yellow) == []
    nurse = tenants.a.auth(Role.NURSE)
    detail = client.get(f"/api/v1/alerts/{yellow}", headers=nurse).json()
    assert detail["route"]["why"].endswith("waits for the team Nord, opening Wednesday 08:00")
    assert datetime.fromisoformat(detail["route"]["deliver_at"]).timestamp() == WEDNESDAY_0800

    ((red_route, policy),) = rows(url, "SELECT escalation->'route', escalation->'policy' FROM alerts WHERE id = %s",
                                  red)  # fmt: skip
    assert red_route["why"] == "outside service hours (Tuesday 22:00): out-of-hours service legevakt"
    assert [s["target"] for s in policy["steps"]] == ["care_team", "legevakt", "legevakt"]
    assert rows(url, "SELECT step, target FROM notifications WHERE alert_id = %s", red) == [(0, "care_team")]

    _run(url, WEDNESDAY_0800 - 1)
    assert rows(url, "SELECT 1 FROM notifications WHERE alert_id = %s", yellow) == []
    _run(url, WEDNESDAY_0800)
    assert rows(url, "SELECT step, target, due_at FROM notifications WHERE alert_id = %s", yellow)[0][:2] == (
        0, "care_team")  # fmt: skip


def test_who_is_on_duty_is_read_from_the_rota_when_the_step_runs(
    client: TestClient, esc_db: TestDatabase, tenants: Tenants
) -> None:
    url, admin = esc_db.runtime_url, tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    assert client.put("/api/v1/escalation/service", json=SERVICE, headers=admin).status_code == 200
    patient = new_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"], "Pasient vaktliste")
    (alert,) = open_alerts(url, patient, 1, severity="yellow", opened_at=TUESDAY_2200, prefix="rota")
    _run(url, TUESDAY_2200)
    ((route,),) = rows(url, "SELECT escalation->'route' FROM alerts WHERE id = %s", alert)
    assert route["staff"] == ["Kari"]  # the rota as it was when the alert opened
    # Overnight the rota changes: Wednesday's opening is Ola's, and the step that fires then must say so.
    swapped = {**SERVICE, "rota": [{**entry, "staff": ["Ola"]} for entry in SERVICE["rota"]]}
    assert client.put("/api/v1/escalation/service", json=swapped, headers=admin).status_code == 200
    _run(url, WEDNESDAY_0800)
    assert rows(url, "SELECT target, on_duty FROM notifications WHERE alert_id = %s", alert) == [
        ("care_team", ["Ola"])]  # fmt: skip
    shown = client.get(f"/api/v1/alerts/{alert}/notifications", headers=tenants.a.auth(Role.NURSE)).json()
    assert [n["on_duty"] for n in shown] == [["Ola"]]


def test_the_worklist_shows_when_a_waiting_alert_will_be_delivered(
    client: TestClient, esc_db: TestDatabase, tenants: Tenants
) -> None:
    url, admin = esc_db.runtime_url, tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    assert client.put("/api/v1/escalation/service", json=SERVICE, headers=admin).status_code == 200
    later, opening = _t("2030-01-01T22:00"), _t("2030-01-02T08:00")  # a Tuesday evening still to come
    patient = new_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"], "Pasient venter")
    (alert,) = open_alerts(url, patient, 1, severity="yellow", opened_at=later, prefix="wl")
    _run(url, later)
    listed = client.get("/api/v1/worklist", headers=tenants.a.auth(Role.NURSE)).json()
    (found,) = [a for group in listed["patients"] for a in group["alerts"] if a["id"] == alert]
    assert datetime.fromisoformat(found["waiting_until"]).timestamp() == opening
    client.cookies.clear()
    sign_in(client, tenants.a.usernames[Role.NURSE])
    page = client.get("/", headers=HTML)
    row = re.search(rf'data-alert-id="{alert}".*?</li>', page.text, re.DOTALL)
    assert row and "Utenfor åpningstiden: teamet får beskjed" in row.group(0) and "08:00" in row.group(0)


@pytest.mark.slow
def test_service_hours_from_the_command_line(esc_db: TestDatabase, tenants: Tenants, tmp_path: Path) -> None:
    env = env_with(TRYGGHEIM_DATABASE_URL=esc_db.runtime_url)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli("admin", "escalation", "service", *args, env=env)

    extra = {"team": "Nord", "role": "nurse", "weekday": "monday", "starts": "15:00", "ends": "18:00", "staff": ["Ola"]}
    overlapping = {**SERVICE, "rota": [*SERVICE["rota"], extra]}
    (tmp_path / "bad.json").write_text(json.dumps(overlapping), encoding="utf-8")
    refused = cli("set", str(tmp_path / "bad.json"), "-m", "4601")
    assert refused.returncode != 0 and "rota entries overlap: 'Nord' nurse on monday" in refused.stderr
    (tmp_path / "good.json").write_text(json.dumps(SERVICE), encoding="utf-8")
    assert json.loads(cli("set", str(tmp_path / "good.json"), "-m", "4601").stdout)["out_of_hours"] == "legevakt"
    shown = cli("preview", "-m", "4601", "--event-class", "clinical", "--severity", "red", "--at", "2026-12-01T22:00")
    assert json.loads(shown.stdout)["why"] == "outside service hours (Tuesday 22:00): out-of-hours service legevakt"
    actions = rows(esc_db.runtime_url, "SELECT action FROM audit_log WHERE action LIKE 'cli.escalation.set-service%%'")
    assert len(actions) == 1, "the stored change is audited; the refused one left nothing"
