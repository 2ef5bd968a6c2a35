"""Every alert transition writes the same records whichever route causes it (cloud.alert_store).

Alerts are opened the real way (a reading through ingest, then detection) or by a dead-lettered notification,
and closed through each route a person has: `/resolve`, a closing outcome, and a discharge.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any
from uuid import UUID

import psycopg
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from cloud.access.roles import Role
from cloud.db.pool import make_pool
from cloud.escalation.outbox import DEAD_LETTER_RULE, OutboxSettings, deliver_next
from tests.support.db import drain
from tests.support.kits import Kit, batch, enrol_kit, reading
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, insert_patient

# The columns a transition may change; which of them are set is what must not depend on the route.
LIFECYCLE = ("state", "severity", "repeats", "updated_at", "snoozed_until", "acknowledged_at", "acknowledged_by",
             "resolved_at", "resolved_by", "resolution", "escalation", "next_step", "next_due_at",
             "on_site_at")  # fmt: skip
MANUAL_KEYS = {"by", "audit_id"}


def _one(url: str, query: str, *args: Any) -> dict[str, Any]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        row = conn.execute(query, args).fetchone()  # type: ignore[arg-type]
    assert row is not None, query
    return row


def _all(url: str, query: str, *args: Any) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(query, args).fetchall()  # type: ignore[arg-type]


def _alert(url: str, alert_id: int) -> dict[str, Any]:
    return _one(url, f"SELECT id, patient_id, last_input_at, {', '.join(LIFECYCLE)} FROM alerts WHERE id = %s",  # noqa: S608
                alert_id)  # fmt: skip


def _transitions(url: str, alert_id: int) -> list[dict[str, Any]]:
    return _all(url, "SELECT event, notify, suppressed_by, message, detail, at, last_input_at FROM alert_transitions "
                "WHERE alert_id = %s ORDER BY id", alert_id)  # fmt: skip


def _set(row: dict[str, Any]) -> dict[str, bool]:
    return {name: row[name] is not None for name in LIFECYCLE}


def _patient(client: TestClient, url: str, tenants: Tenants, protocol: str | None = None) -> Kit:
    patient = insert_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"], "Pasient lagring")
    if protocol is not None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO patient_protocols (patient_id, protocols) VALUES (%s, %s)", (patient, [protocol]))
    return enrol_kit(client, url, tenants.a.municipality_id, patient)


def _send(client: TestClient, kit: Kit, readings: list[dict[str, Any]]) -> None:
    answer = client.post("/api/v1/ingest", json=batch(kit, readings), headers=kit.auth)
    assert answer.status_code == 200, answer.text


def _alarm(client: TestClient, url: str, tenants: Tenants) -> tuple[Kit, int]:
    """A patient whose alarm button was pressed, and the alert detection opened for it."""
    kit = _patient(client, url, tenants)
    _send(client, kit, [reading(1, kit.button, metric="alarm.button", value=1, unit="1")])
    drain(url)
    found = _one(url, "SELECT id FROM alerts WHERE patient_id = %s AND resolved_at IS NULL", kit.patient_id)
    return kit, int(found["id"])


def test_a_person_resolving_writes_the_same_records_by_every_route(
    client: TestClient, store_db: TestDatabase, tenants: Tenants
) -> None:
    url, nurse, lead = store_db.runtime_url, tenants.a.auth(Role.NURSE), tenants.a.auth(Role.TEAM_LEAD)
    closed: dict[str, tuple[int, UUID]] = {}
    _kit, alert = _alarm(client, url, tenants)
    answer = client.post(f"/api/v1/alerts/{alert}/resolve", json={"resolution": "done"}, headers=nurse)
    assert answer.status_code == 200
    closed["resolve"] = (alert, tenants.a.staff[Role.NURSE])
    _kit, alert = _alarm(client, url, tenants)
    answer = client.post(f"/api/v1/alerts/{alert}/outcomes", json={"outcome": "done"}, headers=nurse)
    assert answer.status_code == 201
    closed["outcome"] = (alert, tenants.a.staff[Role.NURSE])
    kit, alert = _alarm(client, url, tenants)
    answer = client.post(f"/api/v1/patients/{kit.patient_id}/lifecycle", json={"to": "discharged",
                         "reason": "flyttet"}, headers=lead)  # fmt: skip
    assert answer.status_code == 200
    closed["discharge"] = (alert, tenants.a.staff[Role.TEAM_LEAD])

    shapes, details = {}, {}
    for route, (alert, person) in closed.items():
        row = _alert(url, alert)
        assert row["state"] == "resolved", route
        # Nobody had acknowledged: resolving records the person and the time as the acknowledgement too.
        assert row["resolved_by"] == row["acknowledged_by"] == person, route
        assert row["acknowledged_at"] == row["resolved_at"], route
        assert row["next_due_at"] is None, route  # the chain ended
        handled = _one(url, "SELECT handled_until FROM alert_handled WHERE patient_id = %s AND rule = "
                       "'wf.alarm_button'", row["patient_id"])  # fmt: skip
        assert handled["handled_until"] == row["last_input_at"], route
        last = _transitions(url, alert)[-1]
        assert (last["event"], last["notify"], last["suppressed_by"]) == ("resolved", False, None), route
        assert last["message"].startswith(f"resolved by {person}: "), route
        assert last["at"] == row["resolved_at"] and last["detail"]["by"] == str(person), route
        shapes[route], details[route] = _set(row), set(last["detail"])
    assert shapes["resolve"] == shapes["outcome"] == shapes["discharge"], shapes
    assert details["resolve"] == details["outcome"] == details["discharge"], details


def test_acknowledge_and_snooze_through_the_api(client: TestClient, store_db: TestDatabase, tenants: Tenants) -> None:
    url, nurse, who = store_db.runtime_url, tenants.a.auth(Role.NURSE), tenants.a.staff[Role.NURSE]
    _kit, alert = _alarm(client, url, tenants)
    assert client.post(f"/api/v1/alerts/{alert}/snooze", json={"minutes": 30}, headers=nurse).status_code == 200
    snoozed = _alert(url, alert)
    assert snoozed["state"] == "triggered" and snoozed["snoozed_until"] is not None
    assert snoozed["next_due_at"] == snoozed["updated_at"]  # the chain is looked at again at once
    assert client.post(f"/api/v1/alerts/{alert}/acknowledge", headers=nurse).status_code == 200
    acked = _alert(url, alert)
    assert (acked["state"], acked["acknowledged_by"]) == ("acknowledged", who)
    assert acked["acknowledged_at"] == acked["updated_at"] == acked["next_due_at"]
    assert client.post(f"/api/v1/alerts/{alert}/resolve", json={"resolution": "done"}, headers=nurse).status_code == 200
    resolved = _alert(url, alert)
    assert resolved["acknowledged_at"] == acked["acknowledged_at"] < resolved["resolved_at"]  # the first one stays
    log = _transitions(url, alert)
    assert [(t["event"], t["notify"], t["suppressed_by"]) for t in log] == [
        ("triggered", True, None), ("snoozed", False, "snoozed"), ("acknowledged", False, None),
        ("resolved", False, None),
    ]  # fmt: skip
    detection = set(log[0]["detail"])
    assert all(set(t["detail"]) == detection | MANUAL_KEYS for t in log[1:])


def _dead_letter(url: str, alert_id: int) -> None:
    """Queue one e-mail step for the alert and let the outbox give up on it (no endpoint, one attempt)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO notifications (alert_id, step, kind, channel, target, idempotency_key, due_at, created_at, "
            "next_attempt_at) VALUES (%s, (SELECT count(*) + 1 FROM notifications WHERE alert_id = %s), 'step', "
            "'email', 'team_lead', %s, now(), now(), now())",
            (alert_id, alert_id, uuid.uuid4()),
        )

    async def run() -> None:
        pool = make_pool(url, min_size=1, max_size=1, timeout_s=5)
        await pool.open()
        try:
            settings = OutboxSettings(max_attempts=1, backoff_s=1, public_url="http://localhost", process="test")
            delivered = await deliver_next(pool, {}, time.time(), settings)
            assert delivered is not None and delivered.status == "dead"
        finally:
            await pool.close()

    asyncio.run(run())


def test_detection_and_a_dead_letter_open_and_repeat_alike(
    client: TestClient, store_db: TestDatabase, tenants: Tenants
) -> None:
    url = store_db.runtime_url
    kit, alarm = _alarm(client, url, tenants)
    _dead_letter(url, alarm)
    internal = _one(url, "SELECT id FROM alerts WHERE patient_id = %s AND rule = %s", kit.patient_id,
                    DEAD_LETTER_RULE)["id"]  # fmt: skip
    opened = {"detection": _alert(url, alarm), "dead letter": _alert(url, internal)}
    assert _set(opened["detection"]) == _set(opened["dead letter"])
    for route, row in opened.items():
        assert (row["state"], row["next_step"], row["repeats"]) == ("triggered", 0, 0), route
        assert row["next_due_at"] is not None, route
    assert opened["detection"]["escalation"]["event_class"] == "alarm"
    assert opened["dead letter"]["escalation"]["event_class"] == "internal"
    _send(client, kit, [reading(2, kit.button, metric="alarm.button", value=1, unit="1")])
    drain(url)
    _dead_letter(url, alarm)
    repeated = {"detection": _alert(url, alarm), "dead letter": _alert(url, internal)}
    assert _set(repeated["detection"]) == _set(repeated["dead letter"])
    logs = {"detection": _transitions(url, alarm), "dead letter": _transitions(url, internal)}
    for route, log in logs.items():
        assert [(t["event"], t["notify"]) for t in log] == [("triggered", True), ("repeated", True)], route
        assert repeated[route]["repeats"] == 1, route
    assert {k: set(log[0]["detail"]) for k, log in logs.items()}["detection"] == set(logs["dead letter"][0]["detail"])


def test_detection_auto_resolves_without_an_acknowledgement(
    client: TestClient, store_db: TestDatabase, tenants: Tenants
) -> None:
    url = store_db.runtime_url
    kit = _patient(client, url, tenants, protocol="copd")
    _send(client, kit, [reading(i, kit.oximeter, metric="spo2", value=87, unit="%") for i in (1, 2)])
    drain(url)
    alert = _one(url, "SELECT id FROM alerts WHERE patient_id = %s AND rule = 'copd.spo2'", kit.patient_id)["id"]
    _send(client, kit, [reading(i, kit.oximeter, metric="spo2", value=97, unit="%") for i in (3, 4)])
    drain(url)
    row = _alert(url, alert)
    assert row["state"] == "resolved" and row["resolution"].startswith("auto-resolved")
    # No person saw it: neither acknowledged nor resolved by anyone; the chain ended and the input is handled.
    assert (row["acknowledged_at"], row["acknowledged_by"], row["resolved_by"], row["next_due_at"]) == (
        None, None, None, None,
    )  # fmt: skip
    handled = _one(url, "SELECT handled_until FROM alert_handled WHERE patient_id = %s AND rule = 'copd.spo2'",
                   kit.patient_id)  # fmt: skip
    log = _transitions(url, alert)
    assert handled["handled_until"] == log[-1]["last_input_at"]  # the newest input the rule judged
    # The rule's alert is evidence of a worsening episode: the episode notified, the rule's trigger did not.
    assert [(t["event"], t["notify"]) for t in log] == [("triggered", False), ("resolved", False)]
    assert set(log[0]["detail"]) == set(log[1]["detail"])
