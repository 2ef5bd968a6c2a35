"""The installer does what docs/installer.md says, through the API alone: creates the home, gets the enrolment
code, registers and assigns the devices, and ends an assignment; and still reaches no health data (readings,
alerts, quarantined values, the patient record), each refusal audited."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

from fastapi.testclient import TestClient

from cloud.access.roles import Role
from tests.registry.conftest import new_patient
from tests.support.db import rows
from tests.support.kits import Kit
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants


def test_an_installer_following_the_guide_is_not_refused(
    client: TestClient, tenants: Tenants, registry_db: TestDatabase
) -> None:
    installer = tenants.a.auth(Role.INSTALLER)
    created = client.post("/api/v1/homes", json={"address": "Installatørveien 1"}, headers=installer)
    assert created.status_code == 201, created.text
    home = UUID(created.json()["id"])
    moved = client.patch(f"/api/v1/homes/{home}", json={"address": "Installatørveien 2"}, headers=installer)
    assert moved.status_code == 204, moved.text
    patient = new_patient(registry_db.runtime_url, tenants)
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    assert client.patch(f"/api/v1/patients/{patient}", json={"home_id": str(home)}, headers=admin).status_code == 204
    listed = client.get("/api/v1/kits/homes", headers=installer)
    assert listed.status_code == 200, listed.text
    mine = next(h for h in listed.json() if h["id"] == str(home))
    assert mine["address"] == "Installatørveien 2" and mine["residents"][0]["display_name"] == "Pasient register"
    code = client.post(f"/api/v1/homes/{home}/enrolment-codes", headers=installer)
    assert code.status_code == 201, code.text
    assert code.json()["enrolment_url"].endswith(f"/enrol#code={code.json()['code']}")
    scale = {"profile_id": "and-uc-352ble", "address": f"s-{uuid.uuid4().hex[:8]}"}
    device = client.post("/api/v1/devices", json=scale, headers=installer)
    assert device.status_code == 201, device.text
    device_id = device.json()["id"]
    since = datetime.now(UTC) - timedelta(minutes=5)
    period = {"patient_id": str(patient), "valid_from": since.isoformat()}
    assigned = client.post(f"/api/v1/devices/{device_id}/assignments", json=period, headers=installer)
    assert assigned.status_code == 201, assigned.text
    ended = client.post(f"/api/v1/devices/{device_id}/assignments/{assigned.json()['id']}/end",
                        json={"at": datetime.now(UTC).isoformat()}, headers=installer)  # fmt: skip
    assert ended.status_code == 204, ended.text


def test_the_installer_still_reaches_no_health_data(
    client: TestClient, tenants: Tenants, registry_db: TestDatabase, kit: Kit
) -> None:
    installer = tenants.a.auth(Role.INSTALLER)
    patient = kit.patient_id
    for path in (f"/api/v1/patients/{patient}", f"/api/v1/patients/{patient}/series/spo2", "/api/v1/worklist",
                 "/api/v1/quarantine", "/api/v1/homes", "/api/v1/patients"):  # fmt: skip
        answer = client.get(path, headers=installer)
        assert answer.status_code == 403, (path, answer.status_code)
    query = "SELECT count(*) FROM audit_log WHERE patient_id = %s AND outcome = 'denied' AND role = 'installer'"
    denied = rows(registry_db.runtime_url, query, patient)
    assert denied[0][0] >= 1
    assert "lifecycle" not in str(client.get("/api/v1/kits/homes", headers=installer).json())
