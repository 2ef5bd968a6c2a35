"""One batch that crosses a device move and a kit swap: each reading goes where its own moment says.

Ingest remembers a device's answer over the period where it holds (cloud/ingest/store.py); this batch
visits the periods out of order, so a remembered answer that leaked past its period would misplace a reading.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from tests.support.kits import Kit, batch, enrol_kit, reading
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants


def test_ingest_batch_across_a_move_and_a_kit_swap(
    client: TestClient, kit: Kit, ingest_db: TestDatabase, tenants: Tenants
) -> None:
    now = datetime.now(UTC)
    moved, swapped = now - timedelta(minutes=40), now - timedelta(minutes=20)
    nord, sor = tenants.a.patients["nord"], tenants.a.patients["sor"]
    other = enrol_kit(client, ingest_db.runtime_url, tenants.a.municipality_id, sor)
    device = kit.device_ids[kit.scale]
    with psycopg.connect(ingest_db.runtime_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE device_assignments SET valid = tstzrange(lower(valid), %s) WHERE device_id = %s", (moved, device)
        )
        conn.execute(
            "INSERT INTO device_assignments (device_id, patient_id, valid) VALUES (%s, %s, tstzrange(%s, NULL))",
            (device, sor, moved),
        )
        conn.execute(
            "UPDATE device_registrations SET valid = tstzrange(lower(valid), %s) WHERE device_id = %s",
            (swapped, device),
        )
        conn.execute(
            "INSERT INTO device_registrations (device_id, gateway_id, valid) VALUES (%s, %s, tstzrange(%s, NULL))",
            (device, other.gateway_id, swapped),
        )
    minutes = {1: 50, 2: 30, 3: 45, 4: 10, 5: 35, 6: 55, 7: 25, 8: 41, 9: 39, 10: 19, 11: 60 * 25}
    body = batch(
        kit,
        [reading(seq, kit.scale, value=70 + seq, measured_at=now - timedelta(minutes=m)) for seq, m in minutes.items()],
    )
    response = client.post("/api/v1/ingest", json=body, headers=kit.auth)
    assert response.status_code == 200, response.text
    assert response.json()["committed"] == sorted(minutes)
    with psycopg.connect(ingest_db.runtime_url) as conn:
        stored = dict(
            conn.execute("SELECT seq, patient_id FROM observations WHERE gateway_id = %s", (kit.gateway_id,)).fetchall()
        )
        quarantined = dict(
            conn.execute("SELECT seq, reason FROM quarantine WHERE gateway_id = %s", (kit.gateway_id,)).fetchall()
        )
    assert stored == {1: nord, 3: nord, 6: nord, 8: nord, 2: sor, 5: sor, 7: sor, 9: sor}
    assert quarantined == {4: "foreign_device", 10: "foreign_device", 11: "unknown_device"}
