"""Pause, silence, snooze and inhibition through the database path: what is suppressed, what is not, and
that each suppression is recorded (docs/detection.md, "Suppression")."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from cloud.alert_store import suppression
from cloud.db.pool import connect
from tests.support.db import drain, rows
from tests.support.kits import Kit, batch, reading
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants


def _ingest(client: TestClient, kit: Kit, *readings: dict[str, Any]) -> None:
    response = client.post("/api/v1/ingest", json=batch(kit, list(readings)), headers=kit.auth)
    assert response.status_code == 200 and response.json()["stored"] == len(readings), response.text


def _fever(seq: int, kit: Kit, value: float = 40.0) -> dict[str, Any]:
    return reading(seq, kit.oximeter, metric="body.temperature", value=value, unit="Cel")


def _press(seq: int, kit: Kit) -> dict[str, Any]:
    return reading(seq, kit.button, metric="alarm.button", value=1, unit="1")


def _open(url: str, kit: Kit) -> dict[str, tuple[Any, ...]]:
    found = rows(url, "SELECT rule, severity, repeats, snoozed_until FROM alerts WHERE patient_id = %s "
                 "AND resolved_at IS NULL", kit.patient_id)  # fmt: skip
    return {r[0]: r[1:] for r in found}


def _log(url: str, kit: Kit, rule: str) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT event, suppressed_by, notify FROM alert_transitions WHERE patient_id = %s AND rule = %s "
                "ORDER BY id", kit.patient_id, rule)  # fmt: skip


def test_a_pause_suspends_vitals_but_not_alarms_and_is_recorded(
    client: TestClient, kit: Kit, eval_db: TestDatabase, tenants: Tenants
) -> None:
    nurse = tenants.a.auth(Role.NURSE)
    paused = client.post(f"/api/v1/patients/{kit.patient_id}/pause", json={"reason": "Innlagt"}, headers=nurse)
    assert paused.status_code == 201
    _ingest(client, kit, _fever(1, kit), _press(2, kit))
    drain(eval_db.runtime_url)
    open_alerts = _open(eval_db.runtime_url, kit)
    assert "wf.alarm_button" in open_alerts  # alarms run during a pause
    assert "ge.temperature" not in open_alerts
    assert _log(eval_db.runtime_url, kit, "ge.temperature") == [("suppressed", "paused", False)]
    listed = client.get(f"/api/v1/patients/{kit.patient_id}/alerts", headers=nurse).json()
    assert {(s["rule"], s["suppressed_by"]) for s in listed["suppressed"]} >= {("ge.temperature", "paused")}


def test_an_ended_pause_is_reminded_once(client: TestClient, kit: Kit, eval_db: TestDatabase, tenants: Tenants) -> None:
    now = datetime.now(UTC)
    body = {"reason": "Innlagt", "starts_at": (now - timedelta(hours=3)).isoformat(), "until": now.isoformat()}
    assert client.post(f"/api/v1/patients/{kit.patient_id}/pause", json=body,
                       headers=tenants.a.auth(Role.NURSE)).status_code == 201  # fmt: skip
    for seq in (1, 2):
        _ingest(client, kit, _fever(seq, kit, 36.8))
        drain(eval_db.runtime_url)
    assert _log(eval_db.runtime_url, kit, "patient.pause") == [("pause_ended", None, True)]
    assert rows(eval_db.runtime_url, "SELECT reminded_at IS NOT NULL FROM patient_pauses WHERE patient_id = %s",
                kit.patient_id) == [(True,)]  # fmt: skip


def test_an_ended_pause_is_reminded_by_a_reading_no_rule_reads(
    client: TestClient, kit: Kit, eval_db: TestDatabase, tenants: Tenants
) -> None:
    """A weight under the default protocols (no weight rule) is judged with no rules and without reading the
    patient's devices (cloud/evaluation/queue.py): the ended pause is still reminded, once, and nothing else."""
    now = datetime.now(UTC)
    body = {"reason": "Innlagt", "starts_at": (now - timedelta(hours=3)).isoformat(), "until": now.isoformat()}
    assert client.post(f"/api/v1/patients/{kit.patient_id}/pause", json=body,
                       headers=tenants.a.auth(Role.NURSE)).status_code == 201  # fmt: skip
    for seq in (1, 2):
        _ingest(client, kit, reading(seq, kit.scale))
        drain(eval_db.runtime_url)
    assert rows(eval_db.runtime_url, "SELECT rule, event FROM alert_transitions WHERE patient_id = %s",
                kit.patient_id) == [("patient.pause", "pause_ended")]  # fmt: skip


def _end_pause(url: str, kit: Kit) -> list[suppression.Stored]:
    async def run() -> list[suppression.Stored]:
        async with await connect(url) as conn:
            return await suppression.end_pause(conn, kit.patient_id)

    return asyncio.run(run())


def test_a_pause_ended_early_lets_the_vitals_rules_alert_again_without_a_reminder(
    client: TestClient, kit: Kit, eval_db: TestDatabase, tenants: Tenants
) -> None:
    url = eval_db.runtime_url
    assert _end_pause(url, kit) == []  # nothing paused: nothing ended
    body = {"reason": "Innlagt", "starts_at": (datetime.now(UTC) - timedelta(hours=3)).isoformat()}
    assert client.post(f"/api/v1/patients/{kit.patient_id}/pause", json=body,
                       headers=tenants.a.auth(Role.NURSE)).status_code == 201  # fmt: skip
    later = {**body, "starts_at": (datetime.now(UTC) + timedelta(days=2)).isoformat()}  # a pause planned ahead
    assert client.post(f"/api/v1/patients/{kit.patient_id}/pause", json=later,
                       headers=tenants.a.auth(Role.NURSE)).status_code == 201  # fmt: skip
    _ingest(client, kit, _fever(1, kit))
    drain(url)
    assert _log(url, kit, "ge.temperature") == [("suppressed", "paused", False)]
    [ended] = _end_pause(url, kit)
    assert ended.until is not None and ended.until <= datetime.now(UTC)
    assert _end_pause(url, kit) == []
    _ingest(client, kit, _fever(2, kit, 40.1))
    drain(url)
    assert "ge.temperature" in _open(url, kit)
    # The fever is evidence of a worsening episode: the episode is what notifies, not the rule's own alert.
    assert _log(url, kit, "ge.temperature")[-1] == ("triggered", None, False)
    assert _log(url, kit, "episode.clinical") == [("triggered", None, True)]
    assert _log(url, kit, "patient.pause") == []  # the nurse ended it: no "pause ended" reminder
    planned = rows(url, "SELECT until, reminded_at FROM patient_pauses WHERE patient_id = %s AND starts_at > now()",
                   kit.patient_id)  # fmt: skip
    assert planned == [(None, None)]  # the pause planned ahead is left as it was


def test_a_silence_blocks_its_rule_only_and_never_an_alarm(
    client: TestClient, kit: Kit, eval_db: TestDatabase, tenants: Tenants
) -> None:
    nurse = tenants.a.auth(Role.NURSE)
    url = f"/api/v1/patients/{kit.patient_id}/silences"
    body = {"rule": "ge.temperature", "minutes": 60, "reason": "Kjent infeksjon"}
    assert client.post(url, json=body, headers=nurse).status_code == 201
    refused = client.post(url, json={**body, "rule": "wf.alarm_button"}, headers=nurse)
    assert refused.status_code == 422
    assert client.post(url, json={**body, "rule": "no.such_rule"}, headers=nurse).status_code == 422
    _ingest(client, kit, _fever(1, kit), reading(2, kit.oximeter, metric="spo2", value=88, unit="%"))
    drain(eval_db.runtime_url)
    open_alerts = _open(eval_db.runtime_url, kit)
    assert "ge.temperature" not in open_alerts
    assert "ge.news2" in open_alerts  # another rule on the same patient is not silenced
    assert _log(eval_db.runtime_url, kit, "ge.temperature") == [("suppressed", "silenced", False)]


def test_a_snoozed_alert_stays_open_and_counts_repeats_without_notifying(
    client: TestClient, kit: Kit, eval_db: TestDatabase, tenants: Tenants
) -> None:
    _ingest(client, kit, _fever(1, kit))
    drain(eval_db.runtime_url)
    alert_id = rows(eval_db.runtime_url, "SELECT id FROM alerts WHERE patient_id = %s AND rule = 'ge.temperature'",
                    kit.patient_id)[0][0]  # fmt: skip
    snoozed = client.post(f"/api/v1/alerts/{alert_id}/snooze", json={"minutes": 30}, headers=tenants.a.auth(Role.NURSE))
    assert snoozed.status_code == 200 and snoozed.json()["snoozed_until"] is not None
    _ingest(client, kit, _fever(2, kit, 40.2))
    drain(eval_db.runtime_url)
    assert _open(eval_db.runtime_url, kit)["ge.temperature"][:2] == ("red", 1)
    # The rule's alert is evidence of the patient's worsening episode, so even its trigger did not notify.
    assert _log(eval_db.runtime_url, kit, "ge.temperature") == [
        ("triggered", None, False),
        ("snoozed", "snoozed", False),
        ("repeated", "snoozed", False),
    ]
    # Another nurse's team cannot snooze it: the alert's patient is scope-checked.
    other = client.post(f"/api/v1/alerts/{alert_id}/snooze", json={"minutes": 30}, headers=tenants.b.auth(Role.NURSE))
    assert other.status_code == 404


def _sweep(url: str, kit: Kit) -> None:
    """Queue the clock-driven rules of this patient (what the scheduled sweep does for every patient)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO pending_evaluations (patient_id) VALUES (%s)", (kit.patient_id,))
    drain(url)


def test_a_gateway_that_is_down_inhibits_the_silent_sensor_alerts_behind_it(
    client: TestClient, kit: Kit, eval_db: TestDatabase
) -> None:
    url = eval_db.runtime_url
    # The gateway has never sent a heartbeat and the alarm button has never been heard from.
    _sweep(url, kit)
    open_alerts = _open(url, kit)
    assert "live.gateway_heartbeat" in open_alerts
    assert "live.alarm_button_silent" not in open_alerts
    assert _log(url, kit, "live.alarm_button_silent") == [("suppressed", "inhibited", False)]
    # With the gateway up, the silent button is the installer's problem of its own.
    report = {"software_version": "t", "uptime_s": 5, "gateway_clock": datetime.now(UTC).isoformat(), "outbox_depth": 0}
    assert client.post(f"/api/v1/gateways/{kit.gateway_id}/status", json=report, headers=kit.auth).status_code == 200
    _sweep(url, kit)
    open_alerts = _open(url, kit)
    assert "live.alarm_button_silent" in open_alerts
    assert "live.gateway_heartbeat" not in open_alerts  # auto-resolved: heard again
