"""Ingest stores every valid reading exactly once and tells the gateway what it may delete."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from tests.support.kits import Kit, batch, reading
from tests.support.services import TestDatabase


def _stored(db: TestDatabase, kit: Kit) -> list[tuple[str, int, str, float]]:
    with psycopg.connect(db.runtime_url) as conn:
        rows = conn.execute(
            "SELECT outbox_epoch::text, seq, metric, value FROM observations WHERE gateway_id = %s ORDER BY 1, 2",
            (kit.gateway_id,),
        ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def test_ingest_same_batch_twice_is_stored_once(client: TestClient, kit: Kit, ingest_db: TestDatabase) -> None:
    body = batch(
        kit,
        [
            reading(1, kit.scale),
            reading(2, kit.oximeter, "spo2", 96, "%"),
            reading(3, kit.button, "alarm.button", 1, "1"),
        ],
    )
    first = client.post("/api/v1/ingest", json=body, headers=kit.auth)
    assert first.status_code == 200, first.text
    assert first.json() == {"committed": [1, 2, 3], "stored": 3, "duplicates": 0, "resent": 0, "quarantined": {}}
    second = client.post("/api/v1/ingest", json=body, headers=kit.auth)
    assert second.json() == {"committed": [1, 2, 3], "stored": 0, "duplicates": 3, "resent": 0, "quarantined": {}}
    assert len(_stored(ingest_db, kit)) == 3


def test_ingest_new_epoch_starting_at_one_is_stored(client: TestClient, kit: Kit, ingest_db: TestDatabase) -> None:
    client.post("/api/v1/ingest", json=batch(kit, [reading(1, kit.scale, value=80.0)]), headers=kit.auth)
    fresh = str(uuid.uuid4())
    later = datetime.now(UTC) - timedelta(seconds=5)
    response = client.post(
        "/api/v1/ingest",
        json=batch(kit, [reading(1, kit.scale, value=80.2, measured_at=later)], epoch=fresh),
        headers=kit.auth,
    )
    assert response.json()["stored"] == 1
    assert [(e, s) for e, s, _, _ in _stored(ingest_db, kit)] == sorted([(kit.epoch, 1), (fresh, 1)])


def test_ingest_same_key_different_payload_is_a_sequence_conflict(
    client: TestClient, kit: Kit, ingest_db: TestDatabase
) -> None:
    client.post("/api/v1/ingest", json=batch(kit, [reading(7, kit.scale, value=80.0)]), headers=kit.auth)
    response = client.post("/api/v1/ingest", json=batch(kit, [reading(7, kit.scale, value=95.0)]), headers=kit.auth)
    assert response.json()["quarantined"] == {"sequence_conflict": 1}
    assert response.json()["committed"] == [7]
    assert [v for _, _, _, v in _stored(ingest_db, kit)] == [80.0]
    with psycopg.connect(ingest_db.runtime_url) as conn:
        conflicts = conn.execute("SELECT sequence_conflicts FROM gateways WHERE id = %s", (kit.gateway_id,)).fetchone()
    assert conflicts == (1,)


def test_ingest_repeated_sequence_inside_one_batch(client: TestClient, kit: Kit) -> None:
    moment = datetime.now(UTC) - timedelta(minutes=3)
    same = reading(1, kit.scale, measured_at=moment)
    response = client.post(
        "/api/v1/ingest",
        json=batch(kit, [same, dict(same), reading(1, kit.scale, value=99.0, measured_at=moment)]),
        headers=kit.auth,
    )
    assert response.json()["stored"] == 1
    assert response.json()["duplicates"] == 1
    assert response.json()["quarantined"] == {"sequence_conflict": 1}


def test_ingest_device_resending_a_record_under_a_new_sequence_is_stored_once(
    client: TestClient, kit: Kit, ingest_db: TestDatabase
) -> None:
    moment = datetime.now(UTC) - timedelta(hours=2)
    client.post("/api/v1/ingest", json=batch(kit, [reading(1, kit.scale, measured_at=moment)]), headers=kit.auth)
    response = client.post(
        "/api/v1/ingest", json=batch(kit, [reading(2, kit.scale, measured_at=moment)]), headers=kit.auth
    )
    assert response.json() == {"committed": [2], "stored": 0, "duplicates": 0, "resent": 1, "quarantined": {}}
    assert len(_stored(ingest_db, kit)) == 1


def test_ingest_record_repeated_inside_one_batch_under_two_sequences_is_stored_once(
    client: TestClient, kit: Kit, ingest_db: TestDatabase
) -> None:
    """A meter that replays its memory twice during one connection: the second copy is a re-send."""
    moment = datetime.now(UTC) - timedelta(hours=3)
    twice = [reading(seq, kit.scale, value=81.3, measured_at=moment) for seq in (1, 2)]
    response = client.post("/api/v1/ingest", json=batch(kit, [*twice, reading(3, kit.scale, value=81.4)]),
                           headers=kit.auth)  # fmt: skip
    assert response.json() == {"committed": [1, 2, 3], "stored": 2, "duplicates": 0, "resent": 1, "quarantined": {}}
    assert sorted(v for _, _, _, v in _stored(ingest_db, kit)) == [81.3, 81.4]


def test_ingest_revoked_gateway_is_401_at_once(client: TestClient, kit: Kit, ingest_db: TestDatabase) -> None:
    assert client.post("/api/v1/ingest", json=batch(kit, [reading(1, kit.scale)]), headers=kit.auth).status_code == 200
    with psycopg.connect(ingest_db.runtime_url) as conn:
        conn.execute("UPDATE gateways SET revoked_at = now() WHERE id = %s", (kit.gateway_id,))
    response = client.post("/api/v1/ingest", json=batch(kit, [reading(2, kit.scale)]), headers=kit.auth)
    assert response.status_code == 401


def test_ingest_backfilled_and_three_timestamps_kept(client: TestClient, kit: Kit, ingest_db: TestDatabase) -> None:
    old = datetime.now(UTC) - timedelta(hours=3)
    late = reading(1, kit.scale, measured_at=old)
    late["received_at"] = (old + timedelta(seconds=2)).isoformat()
    no_clock = reading(2, kit.oximeter, "spo2", 97, "%")
    no_clock["measured_at"] = None
    client.post("/api/v1/ingest", json=batch(kit, [late, no_clock]), headers=kit.auth)
    with psycopg.connect(ingest_db.runtime_url) as conn:
        rows = conn.execute(
            "SELECT seq, backfilled, measured_at IS NULL, t = received_at, stored_at > received_at, patient_id "
            "FROM observations WHERE gateway_id = %s ORDER BY seq",
            (kit.gateway_id,),
        ).fetchall()
    assert rows == [(1, True, False, False, True, kit.patient_id), (2, False, True, True, True, kit.patient_id)]


def test_ingest_accepts_gzip(client: TestClient, kit: Kit) -> None:
    import gzip
    import json

    body = gzip.compress(json.dumps(batch(kit, [reading(1, kit.scale)])).encode())
    headers = {**kit.auth, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    response = client.post("/api/v1/ingest", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 1


def test_ingest_two_events_in_the_same_second_are_both_stored(
    client: TestClient, kit: Kit, ingest_db: TestDatabase
) -> None:
    """Content de-duplication is for re-sent measurement records only; events are never merged."""
    moment = datetime.now(UTC) - timedelta(minutes=1)
    presses = [reading(seq, kit.button, metric="alarm.button", value=1, unit="1", measured_at=moment) for seq in (1, 2)]
    response = client.post("/api/v1/ingest", json=batch(kit, presses), headers=kit.auth)
    assert response.json()["stored"] == 2
    assert response.json()["resent"] == 0
