"""Worsening episodes through the database (docs/detection.md, "Worsening episodes"): three rules of one
heart-failure patient firing within 72 hours give one `episode.clinical` alert with three pieces of evidence,
one escalation chain and one item in the worklist; the episode takes the highest severity of its evidence;
acknowledging it touches nothing else and resolving it resolves its members with the same resolution.

Readings are stored as a gateway's and evaluated by the real worker; the escalation engine is stepped here, so
every notification the test sees was decided by the chain of the alert it belongs to.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import UUID

import psycopg
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from cloud.db.pool import make_pool
from cloud.escalation import engine
from tests.support.db import drain, named_rows
from tests.support.episodes import MEMBERS, WORSENING, heart_failure_patient, store
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

EPISODE = "episode.clinical"


def _alerts(url: str, patient: UUID) -> dict[str, dict[str, Any]]:
    found = named_rows(
        url, "SELECT id, rule, severity, state, episode_id, escalation, next_step, resolved_by, resolution, "
        "last_value FROM alerts WHERE patient_id = %s ORDER BY id", patient,
    )  # fmt: skip
    return {row["rule"]: row for row in found}


def _escalate(url: str, now: float) -> int:
    """Run every chain that is due at `now` until none is; returns how many steps ran."""

    async def run() -> int:
        pool = make_pool(url, min_size=1, max_size=2, timeout_s=5)
        await pool.open()
        try:
            steps = 0
            while await engine.step_next(pool, now, 60.0, "test") is not None:
                steps += 1
            return steps
        finally:
            await pool.close()

    return asyncio.run(run())


def _notifications(url: str, patient: UUID) -> list[tuple[int, int]]:
    rows = named_rows(url, "SELECT n.alert_id, n.step FROM notifications n JOIN alerts a ON a.id = n.alert_id "
                      "WHERE a.patient_id = %s ORDER BY n.id", patient)  # fmt: skip
    return [(row["alert_id"], row["step"]) for row in rows]


def _worsen(url: str, patient: UUID) -> None:
    """Each member rule fires in its own evaluation, as readings arrive over the day."""
    for rule in MEMBERS:
        metric, values = WORSENING[rule]
        store(url, patient, metric, values)
        drain(url)


def test_three_rules_within_72_hours_give_one_episode_one_escalation_and_one_worklist_item(
    client: TestClient, store_db: TestDatabase, tenants: Tenants
) -> None:
    url, nurse = store_db.runtime_url, tenants.a.auth(Role.NURSE)
    patient = heart_failure_patient(url, tenants.a, "Hanna Hjertesvikt")
    _worsen(url, patient)
    alerts = _alerts(url, patient)
    assert set(alerts) == {EPISODE, *MEMBERS}
    episode = alerts[EPISODE]
    assert [e["rule"] for e in episode["last_value"]["evidence"]] == list(MEMBERS)  # three pieces, in order
    assert {rule: alerts[rule]["episode_id"] for rule in MEMBERS} == dict.fromkeys(MEMBERS, episode["id"])
    assert episode["episode_id"] is None and episode["severity"] == "yellow"
    # The episode alone is escalated: its chain started, the members have none.
    assert episode["escalation"]["event_class"] == "clinical" and episode["next_step"] == 0
    assert all(alerts[rule]["escalation"] is None for rule in MEMBERS)
    log = named_rows(url, "SELECT rule, event, notify FROM alert_transitions WHERE patient_id = %s ORDER BY id",
                     patient)  # fmt: skip
    assert [(t["event"], t["notify"]) for t in log if t["rule"] == EPISODE] == [
        ("triggered", True), ("evidence_added", True), ("evidence_added", True),
    ]  # fmt: skip
    assert all(not t["notify"] for t in log if t["rule"] in MEMBERS)
    now = time.time()
    assert _escalate(url, now) == 1
    assert _notifications(url, patient) == [(episode["id"], 0)]  # the first notification, once

    # The nurse sees one item: the episode, worded with its three signs.
    listed = client.get("/api/v1/worklist", headers={**nurse, "Accept-Language": "nb"}).json()
    [group] = [g for g in listed["patients"] if g["patient_id"] == str(patient)]
    assert [a["rule"] for a in group["alerts"]] == [EPISODE] and group["counts"]["total"] == 1
    assert group["alerts"][0]["title"] == "Forverring"
    assert group["alerts"][0]["sentence"].startswith("Forverring hos Hanna Hjertesvikt: 3 tegn: ")
    detail = client.get(f"/api/v1/alerts/{episode['id']}", headers=nurse).json()
    assert [(e["rule"], e["alert_id"], e["state"]) for e in detail["evidence"]] == [
        (rule, alerts[rule]["id"], "triggered") for rule in MEMBERS
    ]
    assert all(e["title"] and e["sentence"] for e in detail["evidence"])
    assert {r["metric"] for r in detail["readings"]} == {"body.weight", "heart_rate", "spo2"}
    member = client.get(f"/api/v1/alerts/{alerts['hf.spo2']['id']}", headers=nurse).json()
    assert member["alert"]["episode_id"] == episode["id"] and member["evidence"] == []

    # SpO2 falls to red: the episode turns red with it and follows the red policy; nothing is sent twice.
    # Two red readings: the heart-failure limits confirm the red band too (docs/detection.md#rule-vitals).
    last = WORSENING["hf.spo2"][1][-1][1]
    store(url, patient, "spo2", [(88.0, last * 2 / 3), (87.0, last / 3)])
    drain(url)
    alerts = _alerts(url, patient)
    assert alerts[EPISODE]["severity"] == alerts["hf.spo2"]["severity"] == "red"
    assert alerts[EPISODE]["escalation"]["policy"]["name"] == "red_vitals"
    assert _escalate(url, time.time()) == 1  # the raised chain was looked at once and waits for its next step
    assert _notifications(url, patient) == [(episode["id"], 0)]


def test_acknowledging_an_episode_takes_only_it_and_resolving_it_closes_its_members(
    client: TestClient, store_db: TestDatabase, tenants: Tenants
) -> None:
    url, nurse, who = store_db.runtime_url, tenants.a.auth(Role.NURSE), tenants.a.staff[Role.NURSE]
    patient = heart_failure_patient(url, tenants.a, "Harald Hjertesvikt")
    _worsen(url, patient)
    episode = _alerts(url, patient)[EPISODE]["id"]
    assert client.post(f"/api/v1/alerts/{episode}/acknowledge", headers=nurse).status_code == 200
    alerts = _alerts(url, patient)
    assert alerts[EPISODE]["state"] == "acknowledged"
    assert {alerts[rule]["state"] for rule in MEMBERS} == {"triggered"}  # members are evidence, not taken
    answer = client.post(f"/api/v1/alerts/{episode}/resolve", json={"resolution": "lege kontaktet"}, headers=nurse)
    assert answer.status_code == 200 and answer.json()["state"] == "resolved"
    alerts = _alerts(url, patient)
    closed = {rule: (row["state"], row["resolved_by"], row["resolution"]) for rule, row in alerts.items()}
    assert closed == dict.fromkeys((EPISODE, *MEMBERS), ("resolved", who, "lege kontaktet"))
    log = named_rows(url, "SELECT rule, detail->>'by' AS by FROM alert_transitions WHERE patient_id = %s "
                     "AND event = 'resolved' ORDER BY id", patient)  # fmt: skip
    assert [(t["rule"], t["by"]) for t in log] == [(rule, str(who)) for rule in (EPISODE, *MEMBERS)]  # each logged
    handled = named_rows(url, "SELECT rule FROM alert_handled WHERE patient_id = %s", patient)
    assert {row["rule"] for row in handled} == {EPISODE, *MEMBERS}  # every resolve writes the same records
    listed = client.get("/api/v1/worklist", headers=nurse).json()
    assert str(patient) not in {g["patient_id"] for g in listed["patients"]}


def test_an_alert_from_before_episodes_stays_on_its_own_until_its_rise_joins_an_episode(
    client: TestClient, store_db: TestDatabase, tenants: Tenants
) -> None:
    url, nurse = store_db.runtime_url, tenants.a.auth(Role.NURSE)
    patient = heart_failure_patient(url, tenants.a, "Helga Hjertesvikt")
    metric, values = WORSENING["hf.spo2"]
    store(url, patient, metric, values)
    drain(url)
    # As the database holds it after migration 0013: the rule's open alert with no episode, and none open.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE alerts SET episode_id = NULL WHERE patient_id = %s", (patient,))
        conn.execute("UPDATE alerts SET state = 'resolved', resolved_at = now() WHERE patient_id = %s AND rule = %s",
                     (patient, EPISODE))  # fmt: skip
    listed = client.get("/api/v1/worklist", headers=nurse).json()
    [group] = [g for g in listed["patients"] if g["patient_id"] == str(patient)]
    assert [a["rule"] for a in group["alerts"]] == ["hf.spo2"]  # it keeps showing on its own
    # Red twice (the heart-failure limits confirm red too): the rise opens an episode and joins it.
    store(url, patient, metric, [(88.0, values[-1][1] * 2 / 3), (87.0, values[-1][1] / 3)])
    drain(url)
    alerts = named_rows(url, "SELECT id, rule, severity, episode_id FROM alerts WHERE patient_id = %s "
                        "AND resolved_at IS NULL", patient)  # fmt: skip
    opened = {row["rule"]: row for row in alerts}
    assert opened["hf.spo2"]["episode_id"] == opened[EPISODE]["id"] and opened[EPISODE]["severity"] == "red"
    listed = client.get("/api/v1/worklist", headers=nurse).json()
    [group] = [g for g in listed["patients"] if g["patient_id"] == str(patient)]
    assert [a["rule"] for a in group["alerts"]] == [EPISODE]
