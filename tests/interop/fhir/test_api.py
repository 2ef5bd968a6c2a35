"""The `/fhir/` read API and the export on the real application and database: every resource kind validates,
searches page, bad input answers 400 OperationOutcomes, access and audit are the JSON API's."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from cloud.interop.fhir import codes
from tests.interop.fhir.seed import BP_READINGS, FNR, Record
from tests.interop.fhir.validate import valid
from tests.support.proc import env_with, run_cli
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, audit_rows

pytestmark = pytest.mark.xdist_group("fhir")  # one worker builds the package's database once
FHIR_JSON = "application/fhir+json"


def _get(client: TestClient, tenants: Tenants, path: str, **params: Any) -> Any:
    response = client.get(path, params=params or None, headers=tenants.a.auth(Role.NURSE))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    return valid(response.json())


def _outcome(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body = valid(response.json())
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == code
    return str(body["issue"][0]["diagnostics"])


def test_metadata_lists_what_is_served(client: TestClient) -> None:
    statement = valid(client.get("/fhir/metadata").json())
    served = {r["type"]: {p["name"] for p in r["searchParam"]} for r in statement["rest"][0]["resource"]}
    assert served["Observation"] == {"patient", "code", "date", "_count", "_cursor"}
    assert set(served) == {"Patient", "Observation", "Device", "QuestionnaireResponse", "DetectedIssue"}


def test_every_resource_kind_reads_and_validates(client: TestClient, tenants: Tenants, record: Record) -> None:
    patient = _get(client, tenants, f"/fhir/Patient/{record.patient_id}")
    assert patient["identifier"][0] == {"use": "official", "system": codes.FNR_OID, "value": FNR}
    found = _get(client, tenants, "/fhir/Patient", identifier=f"{codes.FNR_OID}|{FNR}")
    assert [e["resource"]["id"] for e in found["entry"]] == [str(record.patient_id)]
    panel = _get(client, tenants, f"/fhir/Observation/{record.systolic[0]}")
    assert [c["code"]["coding"][0]["code"] for c in panel["component"]] == ["8480-6", "8462-4"]
    assert "valueQuantity" not in panel
    missing = client.get(f"/fhir/Observation/{record.diastolic[0]}", headers=tenants.a.auth(Role.NURSE))
    assert f"Observation/{record.systolic[0]}" in _outcome(missing, 404, "not-found")
    device = _get(client, tenants, f"/fhir/Device/{record.device_id}")
    assert device["parent"] == {"reference": f"Device/{record.gateway_id}"}
    gateway = _get(client, tenants, f"/fhir/Device/{record.gateway_id}")
    assert gateway["type"]["coding"][0]["code"] == "531981"
    devices = _get(client, tenants, "/fhir/Device", patient=f"Patient/{record.patient_id}")
    assert {e["resource"]["id"] for e in devices["entry"]} == {str(record.device_id), str(record.gateway_id)}
    answers = _get(client, tenants, "/fhir/QuestionnaireResponse", patient=str(record.patient_id))
    [response] = [e["resource"] for e in answers["entry"]]
    assert response["id"] == str(record.answers[0]) and len(response["item"]) == 4
    assert _get(client, tenants, f"/fhir/QuestionnaireResponse/{record.answers[0]}")["status"] == "completed"
    issue = _get(client, tenants, f"/fhir/DetectedIssue/{record.alert_id}")
    assert issue["severity"] == "high" and issue["mitigation"][0]["action"]["text"] == "Visited, oxygen given"
    # ge.news2 reads SpO2, respiratory rate and temperature at the visit: those are what it rests on.
    wanted = {f"Observation/{record.visit[m]}" for m in ("spo2", "resp.rate", "body.temperature")}
    assert {i["reference"] for i in issue["implicated"]} == wanted
    episode = _get(client, tenants, f"/fhir/DetectedIssue/{record.episode_id}")
    assert {i["reference"] for i in episode["implicated"]} == wanted  # an episode rests on its members' readings
    issues = _get(client, tenants, "/fhir/DetectedIssue", patient=str(record.patient_id))
    assert [e["resource"]["id"] for e in issues["entry"]] == [str(record.alert_id), str(record.episode_id)]


def test_observation_search_pages_by_key(client: TestClient, tenants: Tenants, record: Record) -> None:
    seen: list[str] = []
    page = _get(client, tenants, "/fhir/Observation", patient=str(record.patient_id), code="85354-9", _count="3")
    assert page["total"] == BP_READINGS
    while True:
        seen += [e["resource"]["id"] for e in page["entry"]]
        following = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not following:
            break
        page = _get(client, tenants, following[0].split("://", 1)[1].split("/", 1)[1].join(["/", ""]))
    assert seen == [str(i) for i in record.systolic]
    diastolic = _get(
        client, tenants, "/fhir/Observation", patient=str(record.patient_id), code="http://loinc.org|8462-4"
    )
    assert diastolic["total"] == BP_READINGS  # a diastolic search finds the panels it is part of


def test_date_prefixes_and_code_narrow_the_search(client: TestClient, tenants: Tenants, record: Record) -> None:
    def ids(**params: Any) -> list[str]:
        query = {"patient": str(record.patient_id), **params}
        return [e["resource"]["id"] for e in _get(client, tenants, "/fhir/Observation", **query).get("entry", [])]

    assert ids(date=["ge2026-11-07", "lt2026-11-08"]) == [str(record.visit[m]) for m in record.visit]
    assert ids(date="2026-11-02", code="8480-6") == [str(i) for i in record.systolic[:2]]
    assert ids(date="gt2026-11-02T20:00:00+00:00", code="85354-9") == [str(i) for i in record.systolic[2:]]
    assert ids(code="http://snomed.info/sct|431314004") == [str(record.visit["spo2"])]
    assert ids(code="0000-0") == []


def test_bad_search_input_is_a_400_operation_outcome(client: TestClient, tenants: Tenants, record: Record) -> None:
    nurse = tenants.a.auth(Role.NURSE)
    patient = str(record.patient_id)
    for params, said in (
        ({"patient": patient, "date": "2026-13-40"}, "date"),
        ({"patient": patient, "colour": "red"}, "colour"),
        ({"patient": patient, "date": "sa2026-11-01"}, "prefix sa"),
        ({"patient": patient, "code:text": "blood"}, "modifiers"),
        ({"patient": patient, "_count": "-1"}, "_count"),
        ({"patient": patient, "_cursor": "not-ours"}, "_cursor"),
        ({"patient": "Practitioner/1"}, "patient"),
    ):
        assert said in _outcome(client.get("/fhir/Observation", params=params, headers=nurse), 400, "invalid")


def test_a_huge_count_is_capped_and_said_so(client: TestClient, tenants: Tenants, record: Record) -> None:
    page = _get(client, tenants, "/fhir/Observation", patient=str(record.patient_id), _count="1000000")
    [note] = [e for e in page["entry"] if e["search"]["mode"] == "outcome"]
    assert "capped to 200" in note["resource"]["issue"][0]["diagnostics"]
    assert len([e for e in page["entry"] if e["search"]["mode"] == "match"]) == page["total"]


def test_other_municipality_is_404_and_audited(
    client: TestClient, tenants: Tenants, fhir_db: TestDatabase, record: Record
) -> None:
    foreign = tenants.b.patients["nord"]
    for path, params in ((f"/fhir/Patient/{foreign}", {}), ("/fhir/Observation", {"patient": str(foreign)})):
        request_id = uuid.uuid4().hex
        headers = {**tenants.a.auth(Role.NURSE), "X-Request-ID": request_id}
        _outcome(client.get(path, params=params, headers=headers), 404, "not-found")
        rows = audit_rows(fhir_db.runtime_url, request_id)
        assert [(r["outcome"], r["patient_id"]) for r in rows] == [("denied", foreign)] * 2
        assert {r["municipality_id"] for r in rows} == {tenants.a.municipality_id, tenants.b.municipality_id}
    request_id = uuid.uuid4().hex
    _get(client, tenants, "/fhir/Observation", patient=str(record.patient_id))
    headers = {**tenants.a.auth(Role.NURSE), "X-Request-ID": request_id}
    client.get(f"/fhir/Observation/{record.visit['spo2']}", headers=headers)
    [row] = audit_rows(fhir_db.runtime_url, request_id)
    assert (row["action"], row["outcome"], row["patient_id"]) == ("fhir.observation.read", "allowed", record.patient_id)


def test_errors_on_fhir_routes_are_operation_outcomes(client: TestClient, tenants: Tenants) -> None:
    _outcome(client.get("/fhir/Patient"), 401, "login")
    _outcome(client.post("/fhir/Patient", headers=tenants.a.auth(Role.NURSE)), 405, "not-supported")
    _outcome(client.get("/fhir/Encounter", headers=tenants.a.auth(Role.NURSE)), 404, "not-found")
    _outcome(client.get("/fhir/Patient/not-a-uuid", headers=tenants.a.auth(Role.NURSE)), 400, "invalid")
    assert client.get("/api/v1/patients").json().keys() == {"detail"}  # the JSON API keeps its own errors


def test_export_streams_the_whole_record_audited(
    client: TestClient, tenants: Tenants, fhir_db: TestDatabase, record: Record
) -> None:
    request_id = uuid.uuid4().hex
    headers = {**tenants.a.auth(Role.NURSE), "X-Request-ID": request_id}
    response = client.get(f"/api/v1/patients/{record.patient_id}/export?format=fhir-ndjson", headers=headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/fhir+ndjson")
    resources = [valid(json.loads(line)) for line in response.text.splitlines()]
    kinds = [r["resourceType"] for r in resources]
    assert kinds[0] == "Patient" and kinds.count("Device") == 2
    assert kinds.count("Observation") == BP_READINGS + len(record.visit) + len(record.answers)
    assert kinds.count("QuestionnaireResponse") == 1 and kinds.count("DetectedIssue") == 2
    [row] = audit_rows(fhir_db.runtime_url, request_id)
    assert (row["action"], row["patient_id"]) == ("patient.export", record.patient_id)
    assert client.get(f"/api/v1/patients/{record.patient_id}/export?format=csv", headers=headers).status_code == 422


def test_admin_export_command(fhir_db: TestDatabase, record: Record, tmp_path: Any) -> None:
    out = tmp_path / "record.ndjson"
    env = env_with(TRYGGHEIM_DATABASE_URL=fhir_db.runtime_url)
    done = run_cli(
        "admin", "export", "--patient", str(record.patient_id), "--format", "fhir-ndjson", "--out", str(out), env=env
    )
    assert done.returncode == 0, done.stderr
    lines = out.read_text().splitlines()
    assert json.loads(lines[0])["id"] == str(record.patient_id) and len(lines) == 3 + BP_READINGS + 9 + 1 + 2
    missing = run_cli("admin", "export", "--patient", str(uuid.uuid4()), env=env)
    assert missing.returncode != 0 and "no patient" in missing.stderr
