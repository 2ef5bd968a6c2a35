"""A person acknowledges and resolves alerts; alarm-class alerts close only this way."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from tests.support.db import drain, rows
from tests.support.kits import Kit, batch, reading
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants


def _alarm(client: TestClient, kit: Kit, eval_db: TestDatabase, seq: int = 1) -> int:
    press = reading(seq, kit.button, metric="alarm.button", value=1, unit="1")
    assert client.post("/api/v1/ingest", json=batch(kit, [press]), headers=kit.auth).json()["stored"] == 1
    drain(eval_db.runtime_url)
    found = rows(eval_db.runtime_url, "SELECT id FROM alerts WHERE patient_id = %s AND rule = 'wf.alarm_button' "
                 "AND resolved_at IS NULL", kit.patient_id)  # fmt: skip
    assert len(found) == 1
    return int(found[0][0])


def test_acknowledge_then_resolve_an_alarm(
    client: TestClient, kit: Kit, eval_db: TestDatabase, tenants: Tenants
) -> None:
    alert = _alarm(client, kit, eval_db)
    nurse = tenants.a.auth(Role.NURSE)
    acked = client.post(f"/api/v1/alerts/{alert}/acknowledge", headers=nurse)
    assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
    resolved = client.post(f"/api/v1/alerts/{alert}/resolve", json={"resolution": "called: pressed by mistake"},
                           headers=nurse)  # fmt: skip
    assert resolved.status_code == 200 and resolved.json()["state"] == "resolved"
    again = client.post(f"/api/v1/alerts/{alert}/resolve", json={"resolution": "twice"}, headers=nurse)
    assert again.status_code == 409
    log = rows(eval_db.runtime_url, "SELECT event FROM alert_transitions WHERE alert_id = %s ORDER BY id", alert)
    assert [e for (e,) in log] == ["triggered", "acknowledged", "resolved"]
    with psycopg.connect(eval_db.runtime_url) as conn:
        who = conn.execute(
            "SELECT acknowledged_by, resolved_by, resolution FROM alerts WHERE id = %s", (alert,)
        ).fetchone()
    assert who == (tenants.a.staff[Role.NURSE], tenants.a.staff[Role.NURSE], "called: pressed by mistake")

    # The same press evaluated again does not reopen what a person closed; a new press does.
    drain(eval_db.runtime_url)
    assert rows(eval_db.runtime_url, "SELECT count(*) FROM alerts WHERE patient_id = %s", kit.patient_id) == [(1,)]
    second = _alarm(client, kit, eval_db, seq=2)
    assert second != alert


def test_alert_actions_are_scoped(client: TestClient, kit: Kit, eval_db: TestDatabase, tenants: Tenants) -> None:
    alert = _alarm(client, kit, eval_db)
    assert client.post(f"/api/v1/alerts/{alert}/acknowledge", headers=tenants.b.auth(Role.NURSE)).status_code == 404
    assert client.post(f"/api/v1/alerts/{alert}/acknowledge", headers=tenants.a.auth(Role.INSTALLER)).status_code == 403
    resolve = client.post(
        f"/api/v1/alerts/{alert}/resolve", json={"resolution": ""}, headers=tenants.a.auth(Role.NURSE)
    )
    assert resolve.status_code == 422
