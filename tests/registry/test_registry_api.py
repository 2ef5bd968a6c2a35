"""The registry API: precise 4xx for bad input with nothing half-written, periods at their boundaries,
masking, tenancy and the audit trail."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from cloud.access.roles import Role
from common.timefmt import OSLO
from tests.registry.conftest import DOOR
from tests.support.db import rows
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

FNR = "15108695088"


def _patient(client: TestClient, tenants: Tenants, **extra: Any) -> UUID:
    body = {"display_name": f"Reg {uuid.uuid4().hex[:6]}", "care_team_id": str(tenants.a.teams["Nord"]), **extra}
    response = client.post("/api/v1/patients", json=body, headers=tenants.a.auth(Role.MUNICIPALITY_ADMIN))
    assert response.status_code == 201, response.text
    return UUID(response.json()["id"])


def _device(client: TestClient, auth: dict[str, str], profile: str = DOOR) -> UUID:
    response = client.post(
        "/api/v1/devices", json={"profile_id": profile, "address": f"dev-{uuid.uuid4().hex[:8]}"}, headers=auth
    )
    assert response.status_code == 201, response.text
    return UUID(response.json()["id"])


def test_patient_with_contacts_identity_masked_in_lists_full_on_the_page(
    client: TestClient, tenants: Tenants, registry_db: TestDatabase
) -> None:
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    home = client.post("/api/v1/homes", json={"address": "Storgata 1, 0155 Oslo", "access_notes": "Nøkkelboks 1234"},
                       headers=admin).json()["id"]  # fmt: skip
    contacts = [{"name": "Ola", "relation": "sønn", "phone": "+47 900 00 001", "next_of_kin": True},
                {"name": "Nabo", "relation": "nabo", "phone": "+47 900 00 002"}]  # fmt: skip
    patient = _patient(client, tenants, national_id=FNR, home_id=home, contacts=contacts,
                       gp={"name": "Dr. Lege", "office": "Legesenteret"}, lifecycle="active")  # fmt: skip
    listed = client.get("/api/v1/patients", headers=tenants.a.auth(Role.NURSE)).json()
    mine = next(p for p in listed if p["id"] == str(patient))
    assert mine["national_id_masked"] == "*********88" and FNR not in str(listed)
    page = client.get(f"/api/v1/patients/{patient}", headers=tenants.a.auth(Role.NURSE)).json()
    assert page["national_id"] == FNR and page["national_id_kind"] == "fnr"
    assert [c["name"] for c in page["contacts"]] == ["Ola", "Nabo"] and page["contacts"][0]["next_of_kin"]
    assert page["gp"]["name"] == "Dr. Lege" and page["home_id"] == home
    homes = client.get("/api/v1/homes", headers=tenants.a.auth(Role.NURSE)).json()
    assert any(h["id"] == home and h["residents"][0]["id"] == str(patient) for h in homes)
    # the same person twice in one municipality: 409
    again = client.post("/api/v1/patients", json={"display_name": "Dup", "national_id": FNR}, headers=admin)
    assert again.status_code == 409
    # the identity number never reaches the audit log
    assert not rows(registry_db.runtime_url, "SELECT 1 FROM audit_log WHERE resource LIKE %s OR reason LIKE %s",
                    f"%{FNR}%", f"%{FNR}%")  # fmt: skip


def test_bad_input_is_refused_precisely_and_writes_nothing(
    client: TestClient, tenants: Tenants, registry_db: TestDatabase
) -> None:
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    count = "SELECT count(*) FROM patients WHERE municipality_id = %s"
    before = rows(registry_db.runtime_url, count, tenants.a.municipality_id)
    bad_contacts = [{"name": "X", "relation": "y", "phone": "1"}]  # phone too short: 422 before any write
    for body, message in (
        ({"display_name": "Feil", "national_id": "15108695077"}, "check digits"),
        ({"display_name": "Syntetisk", "national_id": "17912099997"}, "synthetic"),
        ({"display_name": "Feil lag", "care_team_id": str(tenants.b.teams["Nord"])}, "care team"),
        ({"display_name": "Feil kontakt", "contacts": bad_contacts}, "phone"),
    ):
        response = client.post("/api/v1/patients", json=body, headers=admin)
        assert response.status_code == 422, response.text
        assert message in response.text
    assert rows(registry_db.runtime_url, count, tenants.a.municipality_id) == before
    bad_orgnr = client.patch("/api/v1/municipality", json={"orgnr": "974760674"}, headers=admin)
    assert bad_orgnr.status_code == 422 and "organisation number" in bad_orgnr.text
    good = client.patch("/api/v1/municipality", json={"orgnr": "974760673"}, headers=admin).json()
    assert good["orgnr"] == "974760673" and good["official_name"] == "Oslo"


def test_assignment_periods_are_half_open_and_overlaps_are_409(
    client: TestClient, tenants: Tenants, registry_db: TestDatabase
) -> None:
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    device = _device(client, admin)
    first, second = _patient(client, tenants), _patient(client, tenants)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    t1 = t0 + timedelta(days=10)
    url = f"/api/v1/devices/{device}/assignments"
    a = client.post(url, json={"patient_id": str(first), "valid_from": t0.isoformat(), "valid_to": t1.isoformat()},
                    headers=admin)  # fmt: skip
    assert a.status_code == 201, a.text
    # [t1, open) touches [t0, t1) at t1 but does not overlap it
    b = client.post(url, json={"patient_id": str(second), "valid_from": t1.isoformat()}, headers=admin)
    assert b.status_code == 201, b.text
    # one microsecond into the first period overlaps it
    inside = (t1 - timedelta(microseconds=1)).isoformat()
    clash = client.post(url, json={"patient_id": str(second), "valid_from": inside,
                                   "valid_to": (t1 + timedelta(days=1)).isoformat()}, headers=admin)  # fmt: skip
    assert clash.status_code == 409 and "overlaps" in clash.json()["detail"] and "2026-01-01" in clash.text
    empty = client.post(url, json={"patient_id": str(second), "valid_from": t1.isoformat(),
                                   "valid_to": t1.isoformat()}, headers=admin)  # fmt: skip
    assert empty.status_code == 422 and "half-open" in empty.text
    both = client.post(url, json={"patient_id": str(second), "home_id": str(uuid.uuid4())}, headers=admin)
    assert both.status_code == 422
    history = client.get(f"/api/v1/devices/{device}/history", headers=admin).json()["assignments"]
    assert [(h["target_id"], h["valid_to"]) for h in history] == [(str(first), "2026-01-11T00:00:00Z"),
                                                                   (str(second), None)]  # fmt: skip
    ended = client.post(f"{url}/{b.json()['id']}/end", json={"at": t0.isoformat()}, headers=admin)
    assert ended.status_code == 422 and "after the period's start" in ended.text


def test_devices_and_patients_of_another_municipality_are_out_of_reach(
    client: TestClient, tenants: Tenants, registry_db: TestDatabase
) -> None:
    admin_a, admin_b = tenants.a.auth(Role.MUNICIPALITY_ADMIN), tenants.b.auth(Role.MUNICIPALITY_ADMIN)
    foreign_device = _device(client, admin_b)
    mine = _patient(client, tenants)
    response = client.post(f"/api/v1/devices/{foreign_device}/assignments", json={"patient_id": str(mine)},
                           headers=admin_a)  # fmt: skip
    assert response.status_code == 404 and "your municipality" in response.text
    my_device = _device(client, admin_a)
    other = client.post(f"/api/v1/devices/{my_device}/assignments",
                        json={"patient_id": str(tenants.b.patients["nord"])}, headers=admin_a)  # fmt: skip
    assert other.status_code == 404
    assert not rows(registry_db.runtime_url, "SELECT 1 FROM device_assignments WHERE device_id = ANY(%s)",
                    [foreign_device, my_device])  # fmt: skip
    nurse = client.post(f"/api/v1/devices/{my_device}/assignments", json={"patient_id": str(mine)},
                        headers=tenants.a.auth(Role.NURSE))  # fmt: skip
    assert nurse.status_code == 403


def test_consent_needs_a_review_date_and_a_supervision_sensor(
    client: TestClient, tenants: Tenants, registry_db: TestDatabase
) -> None:
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    patient = _patient(client, tenants)
    door = _device(client, admin)
    scale = _device(client, admin, "and-uc-352ble")
    url = f"/api/v1/patients/{patient}/consents"
    nurse = tenants.a.auth(Role.NURSE)
    missing = client.post(url, json={"device_id": str(door), "basis": "consent", "note": "samtykke gitt"},
                          headers=nurse)  # fmt: skip
    assert missing.status_code == 422 and "review_by" in missing.text
    past = client.post(url, json={"device_id": str(door), "basis": "consent", "note": "samtykke gitt",
                                  "review_by": "2020-01-01"}, headers=nurse)  # fmt: skip
    assert past.status_code == 422 and "has passed" in past.text
    not_supervision = client.post(url, json={"device_id": str(scale), "basis": "consent", "note": "samtykke",
                                             "review_by": (datetime.now(OSLO).date() + timedelta(days=90)).isoformat()},
                                  headers=nurse)  # fmt: skip
    assert not_supervision.status_code == 422 and "not a supervision sensor" in not_supervision.text
    assert not rows(registry_db.runtime_url, "SELECT 1 FROM supervision_consents WHERE patient_id = %s", patient)
    review = (datetime.now(OSLO).date() + timedelta(days=90)).isoformat()
    ok = client.post(url, json={"device_id": str(door), "basis": "assessment", "note": "vurdering: mangler "
                                "samtykkekompetanse", "review_by": review}, headers=nurse)  # fmt: skip
    assert ok.status_code == 201 and ok.json()["status"] == "valid"
    withdrawn = client.post(f"{url}/{ok.json()['id']}/withdraw", headers=nurse)
    assert withdrawn.json()["status"] == "withdrawn"
    audit = rows(registry_db.runtime_url, "SELECT action, outcome FROM audit_log WHERE patient_id = %s ORDER BY id",
                 patient)  # fmt: skip
    assert ("consent.create", "allowed") in audit and ("consent.withdraw", "allowed") in audit


def test_text_postgresql_cannot_store_is_a_422_with_nothing_written(
    client: TestClient, tenants: Tenants, registry_db: TestDatabase
) -> None:
    """JSON allows `\\u0000` and unpaired surrogates such as `\\ud800`; PostgreSQL text refuses both. The answer
    is a precise 422 and no row, never a 500."""
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    # NUL passes validation and is refused by PostgreSQL; the surrogate is refused by validation, whose
    # answer echoes the input (with the surrogate replaced, or the answer itself could not be encoded).
    for bad, expected in (("\\u0000", "cannot be stored"), ("\\ud800", "string_unicode")):
        marker = f"Unstorable {uuid.uuid4().hex[:8]}"
        body = f'{{"address": "{marker} {bad}", "access_notes": "x"}}'.encode()
        response = client.post("/api/v1/homes", content=body, headers={**admin, "Content-Type": "application/json"})
        assert response.status_code == 422, (bad, response.status_code, response.text)
        assert expected in response.text
        assert rows(registry_db.runtime_url, "SELECT 1 FROM homes WHERE address LIKE %s", f"{marker}%") == []
