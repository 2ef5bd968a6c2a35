"""Ingest queues evaluations in its own transaction; a worker drains them and applies the transitions."""

from __future__ import annotations

import asyncio

import psycopg
from fastapi.testclient import TestClient

from cloud.db.pool import make_pool
from cloud.evaluation.queue import enqueue_sweep
from tests.support.db import drain, rows
from tests.support.kits import Kit, batch, reading
from tests.support.services import TestDatabase


def _post(client: TestClient, kit: Kit, readings: list[dict[str, object]]) -> dict[str, object]:
    response = client.post("/api/v1/ingest", json=batch(kit, readings), headers=kit.auth)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_ingest_queues_one_row_per_patient_and_metric(client: TestClient, kit: Kit, eval_db: TestDatabase) -> None:
    readings = [reading(seq, kit.scale, value=80 + seq / 10) for seq in range(1, 6)]
    readings.append(reading(6, kit.oximeter, metric="spo2", value=96, unit="%"))
    assert _post(client, kit, readings)["stored"] == 6
    queued = rows(eval_db.runtime_url, "SELECT metric, alarm FROM pending_evaluations WHERE patient_id = %s "
                  "ORDER BY metric", kit.patient_id)  # fmt: skip
    assert queued == [("body.weight", False), ("spo2", False)]
    # A re-sent batch stores nothing, so it queues nothing either.
    assert _post(client, kit, readings)["stored"] == 0
    assert (
        len(rows(eval_db.runtime_url, "SELECT 1 FROM pending_evaluations WHERE patient_id = %s", kit.patient_id)) == 2
    )
    drain(eval_db.runtime_url)
    assert rows(eval_db.runtime_url, "SELECT 1 FROM pending_evaluations WHERE patient_id = %s", kit.patient_id) == []


def test_an_alarm_press_opens_one_alert_and_repeats_count(client: TestClient, kit: Kit, eval_db: TestDatabase) -> None:
    _post(client, kit, [reading(1, kit.button, metric="alarm.button", value=1, unit="1")])
    assert rows(eval_db.runtime_url, "SELECT alarm FROM pending_evaluations WHERE patient_id = %s", kit.patient_id) == [
        (True,)
    ]
    assert drain(eval_db.runtime_url) >= 1
    alerts = rows(eval_db.runtime_url, "SELECT rule, alert_class, severity, state, repeats, explanation "
                  "FROM alerts WHERE patient_id = %s", kit.patient_id)  # fmt: skip
    assert [a[:5] for a in alerts] == [("wf.alarm_button", "clinical", "red", "triggered", 0)]
    assert alerts[0][5]["parameters"]["detector"] == "event"
    _post(client, kit, [reading(2, kit.button, metric="alarm.button", value=1, unit="1")])
    drain(eval_db.runtime_url)
    again = rows(eval_db.runtime_url, "SELECT repeats FROM alerts WHERE patient_id = %s", kit.patient_id)
    assert again == [(1,)]
    log = rows(eval_db.runtime_url, "SELECT event, notify FROM alert_transitions WHERE patient_id = %s ORDER BY id",
               kit.patient_id)  # fmt: skip
    assert log == [("triggered", True), ("repeated", True)]


def test_a_failing_evaluation_never_fails_ingest_and_is_reported_and_retried(
    client: TestClient, kit: Kit, eval_db: TestDatabase
) -> None:
    url = eval_db.runtime_url
    with psycopg.connect(url, autocommit=True) as conn:  # a protocol that cannot be loaded
        conn.execute("INSERT INTO patient_protocols (patient_id, protocols) VALUES (%s, '{no_such_protocol}')",
                     (kit.patient_id,))  # fmt: skip
    assert _post(client, kit, [reading(1, kit.scale)])["stored"] == 1
    drain(url)
    assert rows(url, "SELECT event, rule FROM alert_transitions WHERE patient_id = %s", kit.patient_id) == [
        ("detector_failed", "evaluation")
    ]
    kept = rows(url, "SELECT attempts, retry_at > now() FROM pending_evaluations WHERE patient_id = %s", kit.patient_id)
    assert kept == [(1, True)]  # kept for a retry with back-off, not lost and not spinning


def test_the_sweep_is_safe_on_every_replica_at_once(eval_db: TestDatabase, kit: Kit) -> None:
    url = eval_db.runtime_url

    async def sweeps() -> list[int]:
        pools = [make_pool(url, min_size=1, max_size=1, timeout_s=5) for _ in range(3)]
        for pool in pools:
            await pool.open()
        try:
            return list(await asyncio.gather(*(enqueue_sweep(pool) for pool in pools)))
        finally:
            for pool in pools:
                await pool.close()

    first = asyncio.run(sweeps())
    again = asyncio.run(sweeps())
    assert sum(again) == 0  # patients whose sweep row still waits get no second one
    assert sum(first) >= 1
    assert rows(url, "SELECT count(*) FROM pending_evaluations WHERE patient_id = %s AND metric IS NULL",
                kit.patient_id) == [(1,)]  # fmt: skip
    drain(url)
