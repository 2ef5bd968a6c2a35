"""Every patient-data route in the OpenAPI document writes exactly one audit record per call, and no
nurse ever reaches another municipality's patient. Routes are discovered, not listed, so a route added
later is covered by construction: path parameters naming something of a patient (`{alert_id}`) are filled
with that patient's own, other path parameters and required query parameters with their schema's first
example, and request bodies come from the schema's first example."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from cloud.access.roles import STAFF_ROLES, Role
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, audit_rows, insert_patient


@pytest.fixture(scope="module")
def alert_ids(access_db: TestDatabase, tenants: Tenants) -> dict[uuid.UUID, int]:
    """One open alert per patient, so that alert routes have something of each patient to act on."""
    found = {}
    with psycopg.connect(access_db.runtime_url, autocommit=True, row_factory=dict_row) as conn:
        for patient in (*tenants.a.patients.values(), *tenants.b.patients.values()):
            row = conn.execute(
                "INSERT INTO alerts (patient_id, rule, alert_class, severity, auto_resolve, opened_at, updated_at, "
                "message) VALUES (%s, 'ge.temperature', 'clinical', 'yellow', true, now(), now(), 'test') RETURNING id",
                (patient,),
            ).fetchone()
            assert row is not None
            found[patient] = row["id"]
    return found


# (patient, FHIR resource type) -> an id of that patient's resource, for the FHIR reads `/fhir/<type>/{id}`.
FHIR_IDS: dict[tuple[uuid.UUID, str], str] = {}


@pytest.fixture(scope="module", autouse=True)
def fhir_ids(access_db: TestDatabase, tenants: Tenants) -> None:
    """Per patient, an answer they gave themselves (an Observation and a QuestionnaireResponse) and a device
    assigned to them, so that the FHIR reads by id have something of each patient to read."""
    with psycopg.connect(access_db.runtime_url, autocommit=True, row_factory=dict_row) as conn:
        for tenant in (tenants.a, tenants.b):
            for patient in tenant.patients.values():
                reading = conn.execute(
                    "INSERT INTO observations (source, entered_by, audit_id, patient_id, metric, value, unit, t, "
                    "received_at) VALUES ('manual', %s, 1, %s, 'symptom.wellbeing', 3, '{score}', now(), now()) "
                    "RETURNING id",
                    (patient, patient),
                ).fetchone()
                device = conn.execute(
                    "INSERT INTO devices (municipality_id, profile_id, address) VALUES (%s, 'omron-evolv-hem-7600t', "
                    "%s) RETURNING id",
                    (tenant.municipality_id, f"fhir-{patient}"),
                ).fetchone()
                assert reading is not None and device is not None
                conn.execute(
                    "INSERT INTO device_assignments (device_id, patient_id, valid) VALUES (%s, %s, tstzrange(now(), "
                    "NULL))",
                    (device["id"], patient),
                )
                FHIR_IDS[(patient, "Observation")] = FHIR_IDS[(patient, "QuestionnaireResponse")] = str(reading["id"])
                FHIR_IDS[(patient, "Device")] = str(device["id"])


@pytest.fixture(scope="module")
def waiting_proposals(access_db: TestDatabase, tenants: Tenants) -> None:
    """A baseline proposal waiting for each patient, so that the decision route has something to decide."""
    with psycopg.connect(access_db.runtime_url, autocommit=True) as conn:
        for tenant in (tenants.a, tenants.b):
            for patient in tenant.patients.values():
                conn.execute(
                    "INSERT INTO baseline_proposals (patient_id, municipality_id, occasion, period_from, period_to, "
                    "method, rules) VALUES (%s, %s, 'trial_ended', now() - interval '14 days', now(), '{}', '[]')",
                    (patient, tenant.municipality_id),
                )


def _example(document: dict[str, Any], operation: dict[str, Any]) -> Any:
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return None
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema["examples"][0]


def _with_examples(path: str, operation: dict[str, Any]) -> str:
    """The path with other path parameters and required query parameters filled from their examples."""
    query = []
    for parameter in operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        if name in {"patient_id", "alert_id"} or _fhir_read(path) or not parameter.get("required"):
            continue
        value = parameter["schema"]["examples"][0]
        if where == "path":
            path = path.replace("{" + name + "}", str(value))
        elif where == "query":
            query.append((name, str(value)))
    return path + ("?" + urlencode(query) if query else "")


def _patient_operations(client: TestClient) -> list[tuple[str, str, Any]]:
    """(method, path, example body) of every patient-data route."""
    return [(method, path, body) for method, path, body, _ in _operations_with_roles(client)]


def _operations_with_roles(client: TestClient) -> list[tuple[str, str, Any, list[str]]]:
    """The same with the roles a route is narrowed to (`x-roles`; empty: every role with patient scope). The
    citizens' own-record routes answer citizens only; tests/access/test_federated_sign_in.py audits them, and
    tests/access/test_relatives.py the relatives' routes."""
    document = client.get("/openapi.json").json()
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if operation.get("x-patient-data") and operation.get("x-access") not in {"own_record", "relative_record"}:
                found.append(
                    (
                        method.upper(),
                        _with_examples(path, operation),
                        _example(document, operation),
                        operation.get("x-roles", []),
                    )
                )
                if "text/event-stream" in operation.get("responses", {}).get("200", {}).get("content", {}):
                    STREAMS.add(_with_examples(path, operation))
    return found


STREAMS: set[str] = set()  # server-sent-event routes: read up to the first event, then hang up


def _request(client: TestClient, method: str, url: str, path: str, **kwargs: Any) -> tuple[int, str]:
    """Status and body text; for an event stream, only what arrives first (the stream does not end)."""
    if path not in STREAMS:
        response = client.request(method, url, **kwargs)
        return response.status_code, response.text
    with client.stream(method, url, **kwargs) as streamed:
        return streamed.status_code, next(streamed.iter_text(), "")


def _caller(roles: list[str]) -> Role:
    """A nurse of the patient's team where allowed, else the team lead, else the administrator."""
    for role in (Role.NURSE, Role.TEAM_LEAD, Role.MUNICIPALITY_ADMIN):
        if not roles or role.value in roles:
            return role
    raise AssertionError(f"no test caller for roles {roles}")


def _fhir_read(path: str) -> str | None:
    """The resource type of a FHIR read by id (`/fhir/Observation/{id}`), else None."""
    found = re.match(r"^/fhir/(\w+)/\{id\}$", path)
    return found[1] if found else None


def _url(path: str, patient_id: uuid.UUID, alert_ids: dict[uuid.UUID, int]) -> str:
    if (kind := _fhir_read(path)) is not None:
        return path.replace("{id}", FHIR_IDS[(patient_id, kind)])
    url = re.sub(r"\{patient_id\}", str(patient_id), path)
    return re.sub(r"\{alert_id\}", str(alert_ids[patient_id]), url)


def _names_a_patient(path: str) -> bool:
    return "{patient_id}" in path or "{alert_id}" in path or _fhir_read(path) is not None


def _call(
    client: TestClient,
    method: str,
    path: str,
    patient_id: uuid.UUID,
    headers: dict[str, str],
    alert_ids: dict[uuid.UUID, int],
    body: Any = None,
) -> tuple[int, str]:
    request_id = uuid.uuid4().hex
    url = _url(path, patient_id, alert_ids)
    status, _ = _request(client, method, url, path, json=body, headers={**headers, "X-Request-ID": request_id})
    return status, request_id


def test_patient_routes_are_discovered(client: TestClient) -> None:
    paths = {path.split("?")[0] for _, path, _ in _patient_operations(client)}
    assert {"/api/v1/patients", "/api/v1/patients/{patient_id}", "/api/v1/alerts/{alert_id}/snooze"} <= paths
    assert "/api/v1/patients/{patient_id}/series/heart_rate/buckets" in paths


@pytest.mark.usefixtures("waiting_proposals")
def test_every_patient_route_writes_exactly_one_audit_record(
    client: TestClient, tenants: Tenants, access_db: TestDatabase, alert_ids: dict[uuid.UUID, int]
) -> None:
    for method, path, body, roles in _operations_with_roles(client):
        role = _caller(roles)
        status, request_id = _call(
            client, method, path, tenants.a.patients["nord"], tenants.a.auth(role), alert_ids, body
        )
        # Access is granted; a write whose example names records that do not exist (a device) may still be
        # refused by the registry with a 4xx after the audit record.
        assert status < 300 or status in (404, 409, 422), (method, path, status)
        rows = audit_rows(access_db.runtime_url, request_id)
        assert len(rows) == 1, (method, path, rows)
        assert rows[0]["outcome"] == "allowed"
        assert rows[0]["principal_id"] == str(tenants.a.staff[role])
        assert rows[0]["municipality_id"] == tenants.a.municipality_id
        if _names_a_patient(path):
            assert rows[0]["patient_id"] == tenants.a.patients["nord"]


def test_a_nurse_never_reaches_another_municipalitys_patient(
    client: TestClient, tenants: Tenants, access_db: TestDatabase, alert_ids: dict[uuid.UUID, int]
) -> None:
    nurse = tenants.a.auth(Role.NURSE)
    for method, path, body in _patient_operations(client):
        if not _names_a_patient(path):
            continue
        status, request_id = _call(client, method, path, tenants.b.patients["nord"], nurse, alert_ids, body)
        assert status in (403, 404), (method, path, status)
        rows = audit_rows(access_db.runtime_url, request_id)
        # One record in the nurse's chain and one in the probed municipality's, so B's auditors see it too.
        assert [r["outcome"] for r in rows] == ["denied", "denied"], (method, path)
        assert {r["municipality_id"] for r in rows} == {tenants.a.municipality_id, tenants.b.municipality_id}
        assert all(r["patient_id"] == tenants.b.patients["nord"] for r in rows)
        assert all(r["principal_id"] == str(tenants.a.staff[Role.NURSE]) for r in rows)


def test_other_municipality_looks_like_a_missing_patient(client: TestClient, tenants: Tenants) -> None:
    nurse = tenants.a.auth(Role.NURSE)
    foreign = client.get(f"/api/v1/patients/{tenants.b.patients['nord']}", headers=nurse)
    missing = client.get(f"/api/v1/patients/{uuid.uuid4()}", headers=nurse)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()


def test_a_nurse_reaches_only_her_care_teams(client: TestClient, tenants: Tenants, access_db: TestDatabase) -> None:
    nurse = tenants.a.auth(Role.NURSE)
    assert client.get(f"/api/v1/patients/{tenants.a.patients['nord']}", headers=nurse).status_code == 200
    other_team = client.get(f"/api/v1/patients/{tenants.a.patients['sor']}", headers=nurse)
    assert other_team.status_code == 403
    listed = {p["id"] for p in client.get("/api/v1/patients", headers=nurse).json()}
    assert listed == {str(tenants.a.patients["nord"])}


@pytest.mark.parametrize("role", [Role.MUNICIPALITY_ADMIN, Role.RESPONSE_CENTRE])
def test_municipality_wide_roles_see_the_whole_municipality_only(
    client: TestClient, tenants: Tenants, role: Role
) -> None:
    listed = {p["id"] for p in client.get("/api/v1/patients", headers=tenants.a.auth(role)).json()}
    assert listed == {str(p) for p in tenants.a.patients.values()}


@pytest.mark.parametrize("role", [Role.INSTALLER, Role.AUDITOR])
def test_roles_without_patient_scope_are_denied_and_audited(
    client: TestClient, tenants: Tenants, access_db: TestDatabase, role: Role, alert_ids: dict[uuid.UUID, int]
) -> None:
    status, request_id = _call(
        client, "GET", "/api/v1/patients/{patient_id}", tenants.a.patients["nord"], tenants.a.auth(role), alert_ids
    )
    assert status == 403
    assert [r["outcome"] for r in audit_rows(access_db.runtime_url, request_id)] == ["denied"]
    assert client.get("/api/v1/patients", headers=tenants.a.auth(role)).status_code == 403


def test_no_response_to_a_contains_b_markers(
    client: TestClient, tenants: Tenants, alert_ids: dict[uuid.UUID, int]
) -> None:
    for role in sorted(STAFF_ROLES):
        for method, path, example in _patient_operations(client):
            for patient in (*tenants.a.patients.values(), *tenants.b.patients.values()):
                url = _url(path, patient, alert_ids)
                _, body = _request(client, method, url, path, json=example, headers=tenants.a.auth(role))
                assert tenants.b.marker not in body, (role, method, url)


def test_anonymous_access_to_a_patient_is_refused_and_audited(
    client: TestClient, tenants: Tenants, access_db: TestDatabase, alert_ids: dict[uuid.UUID, int]
) -> None:
    status, request_id = _call(
        client, "GET", "/api/v1/patients/{patient_id}", tenants.a.patients["nord"], {}, alert_ids
    )
    assert status == 401
    rows = audit_rows(access_db.runtime_url, request_id)
    assert [(r["principal_kind"], r["outcome"]) for r in rows] == [("anonymous", "denied")]


def test_refusals_are_worded_in_the_readers_language(
    client: TestClient, tenants: Tenants, access_db: TestDatabase
) -> None:
    """What a nurse reads when refused: bokmål first, English on request, the role in words, never an id."""
    # A patient of its own: the walks above post every route's example, emergency access to Sør's patient too.
    other = insert_patient(access_db.runtime_url, tenants.a.municipality_id, tenants.a.teams["Sør"], "Pasient sør")
    other_team = f"/api/v1/patients/{other}"
    nurse = tenants.a.auth(Role.NURSE)
    assert client.get(other_team, headers=nurse).json() == {"detail": "Denne pasienten hører ikke til teamene dine."}
    english = client.get(other_team, headers={**nurse, "Accept-Language": "en-GB"}).json()
    assert english == {"detail": "This patient is not in your care teams."}
    installer = client.get(f"/api/v1/patients/{tenants.a.patients['nord']}", headers=tenants.a.auth(Role.INSTALLER))
    assert installer.json() == {"detail": "Rollen din (installatør) har ikke tilgang til pasientdata."}
    assert client.get("/api/v1/patients").json() == {"detail": "Logg inn først."}
    foreign = client.get(f"/api/v1/patients/{tenants.b.patients['nord']}", headers=nurse)
    assert foreign.json() == {"detail": "Pasienten finnes ikke."}
