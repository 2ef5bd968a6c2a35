"""Personal baseline proposals through the database and the API: when one is made, approval (the limits
become the patient's overrides and the evaluation uses them), rejection, the review date, refusals, and
the audit record of every call."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from cloud.db.pool import connect
from cloud.evaluation.protocols import protocol_for
from common.timefmt import OSLO
from tests.baselines.conftest import new_patient as _patient
from tests.baselines.conftest import propose as _propose
from tests.support.db import named_rows
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, audit_rows


def _review() -> str:
    return (datetime.now(OSLO).date() + timedelta(days=60)).isoformat()


def _proposed_for(db: TestDatabase, tenants: Tenants, days: int, team: str = "Nord") -> uuid.UUID:
    """A new heart-failure trial patient (see `new_patient`) with `days` days of readings, after the proposal
    sweep has run."""
    patient = _patient(db.runtime_url, tenants, days=days, team=team)
    _propose(db.runtime_url)
    return patient


def _call(client: TestClient, method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[Any, str]:
    request_id = uuid.uuid4().hex
    response = client.request(method, path, json=body, headers={**headers, "X-Request-ID": request_id})
    return response, request_id


def test_a_proposal_is_made_once_the_trial_period_has_ended(db: TestDatabase, tenants: Tenants) -> None:
    early = _patient(db.runtime_url, tenants, days=10)
    ended = _patient(db.runtime_url, tenants, days=21)
    discharged = _patient(db.runtime_url, tenants, days=21, lifecycle="discharged")
    _propose(db.runtime_url)
    query = "SELECT patient_id, status, occasion, rules FROM baseline_proposals WHERE patient_id = ANY(%s)"
    made = {r["patient_id"]: r for r in named_rows(db.runtime_url, query, [early, ended, discharged])}
    assert set(made) == {ended}
    assert (made[ended]["status"], made[ended]["occasion"]) == ("proposed", "trial_ended")
    by_rule = {r["rule"]: r for r in made[ended]["rules"]}
    assert set(by_rule) == {"hf.heart_rate", "hf.spo2", "hf.systolic"}
    # SpO2 normal around 91 %: the green range widens below the protocol's 94 %, but not into red (92 %).
    assert by_rule["hf.spo2"]["current"]["green_low"] == 94
    assert by_rule["hf.spo2"]["proposed"]["green_low"] == 92
    assert by_rule["hf.spo2"]["held_at_red"] == ["green_low"]
    # A second sweep proposes nothing more while one waits.
    _propose(db.runtime_url)
    assert len(named_rows(db.runtime_url, "SELECT 1 FROM baseline_proposals WHERE patient_id = %s", ended)) == 1


def test_approval_writes_the_overrides_the_evaluation_uses_and_is_audited(
    client: TestClient, db: TestDatabase, tenants: Tenants
) -> None:
    patient = _proposed_for(db, tenants, days=20)
    nurse = tenants.a.auth(Role.NURSE)
    listed, read_id = _call(client, "GET", f"/api/v1/patients/{patient}/baselines", nurse)
    assert listed.status_code == 200
    proposal = listed.json()[0]
    assert proposal["status"] == "proposed"
    [read] = audit_rows(db.runtime_url, read_id)
    assert (read["action"], read["outcome"], read["patient_id"]) == ("baselines.read", "allowed", patient)

    body = {"decision": "approve", "reason": "Kjent lav metning", "review_by": _review(), "proposal_id": proposal["id"]}
    decided, decide_id = _call(client, "POST", f"/api/v1/patients/{patient}/baselines/decision", nurse, body)
    assert decided.status_code == 200, decided.text
    out = decided.json()
    assert (out["status"], out["reason"], out["review_by"]) == ("approved", "Kjent lav metning", body["review_by"])
    assert out["decided_by"] == str(tenants.a.staff[Role.NURSE])
    [audit] = audit_rows(db.runtime_url, decide_id)
    assert (audit["action"], audit["outcome"], audit["patient_id"]) == ("baselines.decide", "allowed", patient)
    assert audit["principal_id"] == str(tenants.a.staff[Role.NURSE])
    assert named_rows(db.runtime_url, "SELECT audit_id FROM baseline_proposals WHERE id = %s", proposal["id"]) == [
        {"audit_id": audit["id"]}
    ]

    overrides = named_rows(db.runtime_url, "SELECT rule, params, set_by, review_by, reason FROM rule_overrides "
                        "WHERE patient_id = %s", patient)  # fmt: skip
    proposed = {r["rule"]: r["proposed"] for r in proposal["rules"]}
    assert {r["rule"]: r["params"]["limits"] for r in overrides} == proposed
    assert {(r["set_by"], r["review_by"]) for r in overrides} == {
        (tenants.a.staff[Role.NURSE], date.fromisoformat(body["review_by"]))
    }
    assert all("Kjent lav metning" in r["reason"] for r in overrides)

    async def limits() -> dict[str, Any]:
        async with await connect(db.runtime_url, autocommit=False) as conn:
            protocol = await protocol_for(conn, patient)
        return protocol.rule("hf.spo2").spec.params["limits"]

    assert asyncio.run(limits())["green_low"] == proposed["hf.spo2"]["green_low"]
    again, _ = _call(client, "POST", f"/api/v1/patients/{patient}/baselines/decision", nurse, body)
    assert again.status_code == 409


def test_rejection_writes_no_overrides_and_the_review_date_brings_a_new_proposal(
    client: TestClient, db: TestDatabase, tenants: Tenants
) -> None:
    patient = _proposed_for(db, tenants, days=18)
    nurse = tenants.a.auth(Role.NURSE)
    tomorrow = (datetime.now(OSLO).date() + timedelta(days=1)).isoformat()
    body = {"decision": "reject", "reason": "Målt med kald finger i perioden", "review_by": tomorrow}
    decided, request_id = _call(client, "POST", f"/api/v1/patients/{patient}/baselines/decision", nurse, body)
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "rejected"
    assert [r["action"] for r in audit_rows(db.runtime_url, request_id)] == ["baselines.decide"]
    assert named_rows(db.runtime_url, "SELECT 1 FROM rule_overrides WHERE patient_id = %s", patient) == []
    # Before the review date nothing is due; on it a new proposal waits (the review task).
    _propose(db.runtime_url)
    assert len(named_rows(db.runtime_url, "SELECT 1 FROM baseline_proposals WHERE patient_id = %s", patient)) == 1
    review_day = datetime.combine(date.fromisoformat(body["review_by"]), datetime.min.time(), OSLO) + timedelta(hours=9)
    _propose(db.runtime_url, now=review_day)
    found = named_rows(
        db.runtime_url, "SELECT status, occasion FROM baseline_proposals WHERE patient_id = %s ORDER BY id", patient
    )
    assert found == [
        {"status": "rejected", "occasion": "trial_ended"},
        {"status": "proposed", "occasion": "review_due"},
    ]


def test_bad_decisions_are_refused_and_change_nothing(client: TestClient, db: TestDatabase, tenants: Tenants) -> None:
    patient = _proposed_for(db, tenants, days=16)
    nurse = tenants.a.auth(Role.NURSE)
    path = f"/api/v1/patients/{patient}/baselines/decision"
    yesterday = (datetime.now(OSLO).date() - timedelta(days=1)).isoformat()
    cases = [
        ({"decision": "approve", "reason": "ok ok", "review_by": yesterday}, 422),
        ({"decision": "approve", "reason": "   ", "review_by": _review()}, 422),
        ({"decision": "maybe", "reason": "ok ok", "review_by": _review()}, 422),
        ({"decision": "approve", "reason": "ok ok", "review_by": _review(), "proposal_id": 10**9}, 409),
    ]
    for body, expected in cases:
        response, _ = _call(client, "POST", path, nurse, body)
        assert response.status_code == expected, (body, response.text)
    other_team = _proposed_for(db, tenants, days=16, team="Sør")
    body = {"decision": "approve", "reason": "ok ok", "review_by": _review()}
    denied, request_id = _call(client, "POST", f"/api/v1/patients/{other_team}/baselines/decision", nurse, body)
    assert denied.status_code == 403
    assert [r["outcome"] for r in audit_rows(db.runtime_url, request_id)] == ["denied"]
    both = [patient, other_team]
    statuses = named_rows(db.runtime_url, "SELECT status FROM baseline_proposals WHERE patient_id = ANY(%s)", both)
    assert statuses == [{"status": "proposed"}, {"status": "proposed"}]
    assert named_rows(db.runtime_url, "SELECT 1 FROM rule_overrides WHERE patient_id = ANY(%s)", both) == []


def test_the_worklist_shows_waiting_proposals_in_the_callers_teams(
    client: TestClient, db: TestDatabase, tenants: Tenants
) -> None:
    mine = _patient(db.runtime_url, tenants, days=15)
    theirs = _patient(db.runtime_url, tenants, days=15, team="Sør")
    _propose(db.runtime_url)
    listed, request_id = _call(client, "GET", "/api/v1/baselines/waiting", tenants.a.auth(Role.NURSE))
    assert listed.status_code == 200
    patients = {item["patient_id"] for item in listed.json()}
    assert str(mine) in patients and str(theirs) not in patients
    assert {item["status"] for item in listed.json()} == {"proposed"}
    [audit] = audit_rows(db.runtime_url, request_id)
    assert (audit["action"], audit["outcome"]) == ("baselines.worklist", "allowed")
    admin = client.get("/api/v1/baselines/waiting", headers=tenants.a.auth(Role.MUNICIPALITY_ADMIN)).json()
    assert {str(mine), str(theirs)} <= {item["patient_id"] for item in admin}
    other = client.get("/api/v1/baselines/waiting", headers=tenants.b.auth(Role.MUNICIPALITY_ADMIN)).json()
    assert not {str(mine), str(theirs)} & {item["patient_id"] for item in other}


def _alert(
    url: str, patient: uuid.UUID, rule: str, alert_class: str, opened: datetime, resolved: datetime | None
) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO alerts (patient_id, rule, alert_class, severity, state, auto_resolve, opened_at, updated_at, "
            "resolved_at, message) VALUES (%s, %s, %s, 'yellow', %s, true, %s, %s, %s, 'test')",
            (patient, rule, alert_class, "triggered" if resolved is None else "resolved", opened, opened, resolved),
        )


def test_proposals_skip_alert_days_and_say_how_many(client: TestClient, db: TestDatabase, tenants: Tenants) -> None:
    patient = _patient(db.runtime_url, tenants, days=20)
    today = datetime.now(OSLO).replace(hour=0, minute=0, second=0, microsecond=0)
    # A clinical alert open from 22:30 six days ago to 00:30 four days ago covers three Oslo days; an episode
    # still open since yesterday covers yesterday and today; a gateway alert and an older alert count for none.
    _alert(db.runtime_url, patient, "hf.spo2", "clinical", today - timedelta(days=6, hours=-22.5),
           today - timedelta(days=4, hours=-0.5))  # fmt: skip
    _alert(db.runtime_url, patient, "episode.clinical", "clinical", today - timedelta(days=1, hours=-12), None)
    _alert(db.runtime_url, patient, "sys.gateway_offline", "liveness", today - timedelta(days=9), None)
    _alert(db.runtime_url, patient, "hf.heart_rate", "clinical", today - timedelta(days=40),
           today - timedelta(days=39))  # fmt: skip
    _propose(db.runtime_url)
    nurse = tenants.a.auth(Role.NURSE)
    [proposal] = client.get(f"/api/v1/patients/{patient}/baselines", headers=nurse).json()
    expected = [(today - timedelta(days=d)).date().isoformat() for d in (6, 5, 4, 1, 0)]
    assert (proposal["left_out_days"], proposal["left_out_count"]) == (expected, 5)
    for rule in proposal["rules"]:
        # Two readings a day: those of the five days are left out, and the rest still make a proposal.
        assert set(rule["left_out_days"]) <= set(expected) and len(rule["left_out_days"]) >= 4, rule
        assert rule["left_out_readings"] >= 2 * len(rule["left_out_days"]) - 2 and rule["readings"] >= 10
    assert "left_out" in proposal["method"]
    page = client.get(f"/patients/{patient}", headers={**nurse, "Accept": "text/html", "Accept-Language": "nb"})
    assert page.status_code == 200
    assert "Målingene fra 5 dager med et åpent klinisk varsel er holdt utenfor" in page.text
    english = client.get(f"/patients/{patient}", headers={**nurse, "Accept": "text/html", "Accept-Language": "en"})
    assert "The readings of 5 days with an open clinical alert were left out" in english.text
