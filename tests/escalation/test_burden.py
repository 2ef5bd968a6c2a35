"""The alarm-burden report on a seeded history whose answers are worked out by hand below, through the API
(who may read it, scoped and audited) and the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from common.timefmt import OSLO
from tests.escalation.conftest import new_patient
from tests.support.app import app_client
from tests.support.proc import env_with, run_cli
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

START = datetime(2026, 11, 2, tzinfo=OSLO)
END = START + timedelta(days=4)
PERIOD = {"from": START.isoformat(), "to": END.isoformat()}


@pytest.fixture(scope="module")
def client(esc_db: TestDatabase, tenants: Tenants) -> Iterator[TestClient]:
    with app_client(esc_db.runtime_url, evaluation=False, escalation=False) as test_client:
        yield test_client


def _alert(conn: psycopg.Connection, patient: UUID, rule: str, day: float, ack_s: float | None,
           resolve_s: float | None, outcome: str | None, recorder: UUID) -> None:  # fmt: skip
    opened = START + timedelta(days=day, hours=9)
    ack = None if ack_s is None else opened + timedelta(seconds=ack_s)
    resolved = None if resolve_s is None else opened + timedelta(seconds=resolve_s)
    row = conn.execute(
        "INSERT INTO alerts (patient_id, rule, alert_class, severity, state, auto_resolve, opened_at, updated_at, "
        "message, acknowledged_at, resolved_at) VALUES (%s, %s, %s, 'red', %s, false, %s, %s, 'seeded', %s, %s) "
        "RETURNING id",
        (patient, rule, "liveness" if rule.startswith("liveness") else "clinical",
         "resolved" if resolved else ("acknowledged" if ack else "triggered"), opened, opened, ack, resolved),
    ).fetchone()  # fmt: skip
    assert row is not None
    if outcome:
        conn.execute("INSERT INTO alert_outcomes (alert_id, outcome, at, recorded_by) VALUES (%s, %s, %s, %s)",
                     (row[0], outcome, opened, recorder))  # fmt: skip


@pytest.fixture(scope="module")
def seeded(esc_db: TestDatabase, tenants: Tenants) -> tuple[UUID, UUID]:
    url, a = esc_db.runtime_url, tenants.a
    nord = new_patient(url, a.municipality_id, a.teams["Nord"], "Burden Nord")
    sor = new_patient(url, a.municipality_id, a.teams["Sør"], "Burden Sør")
    elsewhere = new_patient(url, tenants.b.municipality_id, tenants.b.teams["Nord"], "Burden B")
    nurse = a.staff[Role.NURSE]
    with psycopg.connect(url, autocommit=True) as conn:
        for day, ack, resolve, outcome in ((0, 60, 600, "visit_dispatched"), (1, 120, 1200, "false_alarm"),
                                           (2, 300, None, None), (3, None, 900, None)):  # fmt: skip
            _alert(conn, nord, "news2.high", day, ack, resolve, outcome, nurse)
        _alert(conn, sor, "liveness.silence", 1, 30, 3000, "resolved_by_phone", nurse)
        _alert(conn, nord, "episode.clinical", 2, None, None, None, nurse)
        _alert(conn, nord, "news2.low", 4, 10, 20, None, nurse)  # after the period
        _alert(conn, elsewhere, "news2.high", 1, 10, 20, None, nurse)  # another municipality
    return nord, sor


def test_the_report_matches_the_hand_worked_answers(client: TestClient, tenants: Tenants, seeded: tuple[UUID, UUID],
                                                    esc_db: TestDatabase) -> None:  # fmt: skip
    nord, sor = seeded
    response = client.get("/api/v1/alert-burden", params=PERIOD, headers=tenants.a.auth(Role.MUNICIPALITY_ADMIN))
    assert response.status_code == 200, response.text
    got = response.json()
    # Six alerts in four days, one an episode; outcomes: two acted on (not false_alarm) of six.
    # Acknowledged after 30, 60, 120, 300 s: nearest-rank median is the 2nd (60), p90 the 4th (300).
    # Resolved after 600, 900, 1200, 3000 s: median 900, p90 3000.
    assert got["total"] == {
        "alerts": 6, "episodes": 1, "alerts_per_day": 1.5, "episodes_per_day": 0.25, "acted_on_share": 0.333,
        "outcomes": {"false_alarm": 1, "resolved_by_phone": 1, "visit_dispatched": 1},
        "ack_median_s": 60.0, "ack_p90_s": 300.0, "resolve_median_s": 900.0, "resolve_p90_s": 3000.0,
    }  # fmt: skip
    assert [(t["team"], t["alerts"]) for t in got["by_team"]] == [("Nord", 5), ("Sør", 1)]
    assert [(p["protocol"], p["alerts"]) for p in got["by_protocol"]] == [("episode", 1), ("liveness", 1), ("news2", 4)]
    news2 = next(r for r in got["by_rule"] if r["rule"] == "news2.high")
    assert (news2["ack_median_s"], news2["resolve_median_s"], news2["acted_on_share"]) == (120.0, 900.0, 0.25)
    assert got["constant_rules"] == ["news2.high"]  # fired on all four days; the others on one
    assert got["patients_most_alerts"] == [
        {"patient_id": str(nord), "alerts": 5},
        {"patient_id": str(sor), "alerts": 1},
    ]
    with psycopg.connect(esc_db.runtime_url) as conn:
        audited = conn.execute("SELECT outcome FROM audit_log WHERE action = 'alerts.burden' ORDER BY id").fetchall()
    assert audited == [("allowed",)]


def test_who_may_read_it(client: TestClient, tenants: Tenants, seeded: tuple[UUID, UUID]) -> None:
    lead = client.get("/api/v1/alert-burden", params=PERIOD, headers=tenants.a.auth(Role.TEAM_LEAD))
    assert lead.status_code == 200 and lead.json()["total"]["alerts"] == 5  # the lead's team Nord only
    other = {**PERIOD, "team": str(tenants.a.teams["Sør"])}
    assert client.get("/api/v1/alert-burden", params=other, headers=tenants.a.auth(Role.TEAM_LEAD)).status_code == 403
    assert client.get("/api/v1/alert-burden", params=PERIOD, headers=tenants.a.auth(Role.NURSE)).status_code == 403
    town_b = client.get("/api/v1/alert-burden", params=PERIOD, headers=tenants.b.auth(Role.MUNICIPALITY_ADMIN))
    assert town_b.json()["total"]["alerts"] == 1
    backwards = {"from": PERIOD["to"], "to": PERIOD["from"]}
    bad = client.get("/api/v1/alert-burden", params=backwards, headers=tenants.a.auth(Role.MUNICIPALITY_ADMIN))
    assert bad.status_code == 422


def test_the_command_line(esc_db: TestDatabase, tenants: Tenants, seeded: tuple[UUID, UUID]) -> None:
    env = env_with(TRYGGHEIM_DATABASE_URL=esc_db.runtime_url)
    team = str(tenants.a.teams["Sør"])
    done = run_cli("alerts", "burden", "--from", "2026-11-02", "--to", "2026-11-06", "--team", team, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total"]["resolve_median_s"] == 3000.0
    bad = run_cli("alerts", "burden", "--from", "yesterday", "--to", "2026-11-06", env=env)
    assert bad.returncode == 2 and "--from" in bad.stderr
