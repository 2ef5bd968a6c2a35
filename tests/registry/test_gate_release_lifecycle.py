"""The consent gate at ingest, release of quarantined readings, and lifecycle stopping alerts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from cloud.db.pool import connect, make_pool
from cloud.evaluation import inputs
from cloud.evaluation.queue import enqueue_sweep
from common.timefmt import OSLO
from tests.registry.conftest import add_door
from tests.support.db import drain, rows
from tests.support.kits import Kit, batch, reading
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants


def _door(seq: int, address: str, at: datetime) -> dict[str, object]:
    return reading(seq, address, metric="door.open", value=1, unit="1", measured_at=at)


def _send(client: TestClient, kit: Kit, readings: list[dict[str, object]]) -> dict[str, object]:
    response = client.post("/api/v1/ingest", json=batch(kit, readings), headers=kit.auth)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_supervision_sensor_quarantined_without_consent_stored_with_it_and_again_after_review(
    client: TestClient, kit: Kit, tenants: Tenants, registry_db: TestDatabase
) -> None:
    url = registry_db.runtime_url
    address, device = add_door(url, kit)
    now = datetime.now(UTC)
    _send(client, kit, [_door(1, address, now - timedelta(minutes=30))])
    assert rows(url, "SELECT reason FROM quarantine WHERE gateway_id = %s AND seq = 1", kit.gateway_id) == [
        ("no_consent",)
    ]
    # The consent covers readings from its start: one from before it stays quarantined.
    nurse = tenants.a.auth(Role.NURSE)
    recorded = client.post(
        f"/api/v1/patients/{kit.patient_id}/consents",
        json={"device_id": str(device), "basis": "consent", "note": "skriftlig samtykke",
              "review_by": (datetime.now(OSLO).date() + timedelta(days=1)).isoformat(),
              "valid_from": (now - timedelta(minutes=10)).isoformat()},
        headers=nurse,
    )  # fmt: skip
    assert recorded.status_code == 201, recorded.text
    _send(client, kit, [_door(2, address, now - timedelta(minutes=5)), _door(3, address, now - timedelta(minutes=20))])
    stored = rows(url, "SELECT seq, patient_id FROM observations WHERE gateway_id = %s ORDER BY seq", kit.gateway_id)
    assert stored == [(2, kit.patient_id)]
    assert rows(url, "SELECT seq, reason FROM quarantine WHERE gateway_id = %s ORDER BY seq", kit.gateway_id) == [
        (1, "no_consent"),
        (3, "no_consent"),
    ]
    # After the review date has passed, the record lapses and readings are quarantined again.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE supervision_consents SET review_by = current_date - 1, expires_at = now() - interval '1 minute' "
            "WHERE device_id = %s",
            (device,),
        )
    _send(client, kit, [_door(4, address, now)])
    assert rows(url, "SELECT reason FROM quarantine WHERE gateway_id = %s AND seq = 4", kit.gateway_id) == [
        ("no_consent",)
    ]
    listed = client.get(f"/api/v1/patients/{kit.patient_id}/consents", headers=nurse).json()
    assert [c["status"] for c in listed] == ["expired"]


def test_shared_sensor_of_a_couple_needs_both_consents(
    client: TestClient, kit: Kit, tenants: Tenants, registry_db: TestDatabase
) -> None:
    url = registry_db.runtime_url
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    address, device = add_door(url, kit, assign=False)
    spouse = client.post("/api/v1/patients", json={"display_name": "Ektefelle", "home_id": str(kit.home_id),
                                                    "lifecycle": "active"}, headers=admin).json()["id"]  # fmt: skip
    client.patch(f"/api/v1/patients/{kit.patient_id}", json={"home_id": str(kit.home_id)}, headers=admin)
    since = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    assert client.post(f"/api/v1/devices/{device}/assignments", json={"home_id": str(kit.home_id),
                       "valid_from": since}, headers=admin).status_code == 201  # fmt: skip
    review = (datetime.now(OSLO).date() + timedelta(days=30)).isoformat()
    consent = {"device_id": str(device), "basis": "consent", "note": "samtykke", "review_by": review,
               "valid_from": since}  # fmt: skip
    client.post(f"/api/v1/patients/{kit.patient_id}/consents", json=consent, headers=admin)
    _send(client, kit, [_door(1, address, datetime.now(UTC) - timedelta(minutes=3))])
    assert rows(url, "SELECT reason FROM quarantine WHERE gateway_id = %s", kit.gateway_id) == [("no_consent",)]
    client.post(f"/api/v1/patients/{spouse}/consents", json=consent, headers=admin)
    _send(client, kit, [_door(2, address, datetime.now(UTC) - timedelta(minutes=2))])
    assert rows(url, "SELECT seq, patient_id FROM observations WHERE gateway_id = %s", kit.gateway_id) == [(2, None)]
    queued = rows(url, "SELECT patient_id FROM pending_evaluations WHERE metric = 'door.open' AND patient_id = ANY(%s)",
                  [kit.patient_id, UUID(spouse)])  # fmt: skip
    assert {str(p) for (p,) in queued} == {str(kit.patient_id), spouse}


def test_release_moves_unassigned_readings_once(
    client: TestClient, kit: Kit, tenants: Tenants, registry_db: TestDatabase
) -> None:
    url = registry_db.runtime_url
    # A scale installed before anyone assigned it: its first readings are quarantined as unassigned.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM device_assignments WHERE device_id = %s", (kit.device_ids[kit.scale],))
    now = datetime.now(UTC)
    weights = [reading(i, kit.scale, value=70.0 + i, measured_at=now - timedelta(hours=i)) for i in (1, 2, 3)]
    _send(client, kit, weights)
    assert (
        len(rows(url, "SELECT 1 FROM quarantine WHERE gateway_id = %s AND reason = 'unassigned'", kit.gateway_id)) == 3
    )
    body = {"device_id": str(kit.device_ids[kit.scale]), "start": (now - timedelta(hours=2, minutes=30)).isoformat(),
            "end": now.isoformat()}  # fmt: skip
    url_release = f"/api/v1/patients/{kit.patient_id}/quarantine-release"
    nurse = client.post(url_release, json=body, headers=tenants.a.auth(Role.NURSE))
    assert nurse.status_code == 403
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    first = client.post(url_release, json=body, headers=admin)
    assert first.status_code == 200 and first.json()["released"] == 2, first.text
    again = client.post(url_release, json=body, headers=admin)
    assert again.json() == {"release_id": None, "released": 0, "without_consent": 0}
    stored = rows(url, "SELECT seq, value, patient_id, unit FROM observations WHERE gateway_id = %s ORDER BY seq",
                  kit.gateway_id)  # fmt: skip
    assert stored == [(1, 71.0, kit.patient_id, "kg"), (2, 72.0, kit.patient_id, "kg")]
    marked = rows(url, "SELECT seq, release_id IS NOT NULL FROM quarantine WHERE gateway_id = %s ORDER BY seq",
                  kit.gateway_id)  # fmt: skip
    assert marked == [(1, True), (2, True), (3, False)]  # the quarantine keeps every reading
    audit = rows(url, "SELECT outcome FROM audit_log WHERE action = 'quarantine.release' AND patient_id = %s",
                 kit.patient_id)  # fmt: skip
    assert audit == [("denied",), ("allowed",), ("allowed",)]
    backwards = client.post(url_release, json={**body, "end": body["start"]}, headers=admin)
    assert backwards.status_code == 422


def test_discharge_stops_all_alerts_and_keeps_the_record(
    client: TestClient, kit: Kit, tenants: Tenants, registry_db: TestDatabase
) -> None:
    url = registry_db.runtime_url
    _send(client, kit, [reading(1, kit.button, metric="alarm.button", value=1, unit="1")])
    drain(url)
    assert rows(url, "SELECT rule FROM alerts WHERE patient_id = %s AND resolved_at IS NULL", kit.patient_id)
    lead = tenants.a.auth(Role.TEAM_LEAD)
    nurse = client.post(f"/api/v1/patients/{kit.patient_id}/lifecycle", json={"to": "discharged", "reason": "flyttet"},
                        headers=tenants.a.auth(Role.NURSE))  # fmt: skip
    assert nurse.status_code == 403
    done = client.post(f"/api/v1/patients/{kit.patient_id}/lifecycle", json={"to": "discharged",
                       "reason": "flyttet til sykehjem"}, headers=lead)  # fmt: skip
    assert done.json() == {"from": "active", "to": "discharged"}
    assert not rows(url, "SELECT 1 FROM alerts WHERE patient_id = %s AND resolved_at IS NULL", kit.patient_id)
    # A press after discharge is kept (quarantined: the kit is no longer assigned), and raises nothing.
    after = datetime.now(UTC) + timedelta(seconds=2)
    _send(client, kit, [reading(2, kit.button, metric="alarm.button", value=1, unit="1", measured_at=after)])
    assert rows(url, "SELECT reason FROM quarantine WHERE gateway_id = %s AND seq = 2", kit.gateway_id) == [
        ("unassigned",)
    ]
    # Even a reading queued for the patient by other means is not evaluated, and the sweep skips them.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO pending_evaluations (patient_id, metric) VALUES (%s, 'alarm.button')",
                     (kit.patient_id,))  # fmt: skip
    drain(url)
    assert not rows(url, "SELECT 1 FROM alerts WHERE patient_id = %s AND resolved_at IS NULL", kit.patient_id)
    assert not rows(url, "SELECT 1 FROM pending_evaluations WHERE patient_id = %s", kit.patient_id)

    async def sweep() -> None:
        pool = make_pool(url, min_size=1, max_size=1, timeout_s=5)
        await pool.open()
        try:
            await enqueue_sweep(pool)
        finally:
            await pool.close()

    asyncio.run(sweep())
    assert not rows(url, "SELECT 1 FROM pending_evaluations WHERE patient_id = %s", kit.patient_id)
    page = client.get(f"/api/v1/patients/{kit.patient_id}", headers=lead).json()
    assert page["lifecycle"] == "discharged" and page["lifecycle_history"][-1]["reason"] == "flyttet til sykehjem"
    deceased = client.post(f"/api/v1/patients/{kit.patient_id}/lifecycle", json={"to": "active", "reason": "tilbake"},
                           headers=lead)  # fmt: skip
    assert deceased.status_code == 409 and "allowed: deceased, referral" in deceased.text


def test_liveness_counts_a_supervision_sensor_only_with_consent_and_shared_sensors_for_each_resident(
    client: TestClient, kit: Kit, tenants: Tenants, registry_db: TestDatabase
) -> None:
    url = registry_db.runtime_url
    _, door = add_door(url, kit)

    def facts(patient: object) -> set[str]:
        async def load() -> set[str]:
            async with await connect(url, autocommit=False) as conn:
                found = await inputs.liveness_facts(conn, patient, datetime.now(UTC).timestamp())  # type: ignore[arg-type]
                return {d.device_id for d in found.devices}

        return asyncio.run(load())

    assert str(door) not in facts(kit.patient_id)  # not activated: its silence is no fault
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    review = (datetime.now(OSLO).date() + timedelta(days=30)).isoformat()
    body = {"device_id": str(door), "basis": "consent", "note": "samtykke", "review_by": review}
    assert client.post(f"/api/v1/patients/{kit.patient_id}/consents", json=body, headers=admin).status_code == 201
    assert str(door) in facts(kit.patient_id)
    # Moved to the home, shared with a spouse who has not consented: counted for the patient, not the spouse.
    spouse = client.post("/api/v1/patients", json={"display_name": "Ektefelle 2", "home_id": str(kit.home_id),
                                                    "lifecycle": "active"}, headers=admin).json()["id"]  # fmt: skip
    client.patch(f"/api/v1/patients/{kit.patient_id}", json={"home_id": str(kit.home_id)}, headers=admin)
    history = client.get(f"/api/v1/devices/{door}/history", headers=admin).json()["assignments"]
    now = datetime.now(UTC).isoformat()
    client.post(f"/api/v1/devices/{door}/assignments/{history[0]['id']}/end", json={"at": now}, headers=admin)
    moved = client.post(f"/api/v1/devices/{door}/assignments", json={"home_id": str(kit.home_id), "valid_from": now},
                        headers=admin)  # fmt: skip
    assert moved.status_code == 201, moved.text
    assert str(door) in facts(kit.patient_id) and str(door) not in facts(UUID(spouse))
