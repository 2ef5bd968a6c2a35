"""Symptom answers and the CAT entered at a home visit: stored as `manual` readings with their catalogue metrics
(the CAT's eight answers added up and kept with it), scored by the patient's rules; an answer outside its
scale or not a whole number, a CAT with an unanswered question or a total that does not match its answers,
and a time in the future are refused field by field, in the reader's language, with nothing written."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from tests.support.db import drain, named_rows
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, insert_patient

ITEMS = [3, 2, 4, 3, 2, 3, 1, 2]  # 20


def _patient(db: TestDatabase, tenants: Tenants, protocol: str) -> uuid.UUID:
    patient = insert_patient(db.runtime_url, tenants.a.municipality_id, tenants.a.teams["Nord"], "Ola Skjema")
    with psycopg.connect(db.runtime_url, autocommit=True) as conn:
        conn.execute("INSERT INTO patient_protocols (patient_id, protocols) VALUES (%s, %s)", (patient, [protocol]))
    return patient


def _post(client: TestClient, patient: uuid.UUID, body: dict[str, Any], tenants: Tenants) -> Any:
    headers = {**tenants.a.auth(Role.NURSE), "Accept-Language": "nb-NO"}
    return client.post(f"/api/v1/patients/{patient}/vitals", json=body, headers=headers)


def _stored(db: TestDatabase, patient: uuid.UUID) -> dict[str, tuple[float, Any]]:
    rows = named_rows(db.runtime_url, "SELECT metric, value, context FROM observations WHERE patient_id = %s", patient)
    return {r["metric"]: (r["value"], r["context"]) for r in rows}


def test_answers_are_stored_with_the_cat_added_up_and_scored_by_the_rules(
    client: TestClient, visits_db: TestDatabase, tenants: Tenants
) -> None:
    patient = _patient(visits_db, tenants, "copd")
    body = {"dyspnoea": 3, "oedema": 1, "wellbeing": 2, "cat_items": ITEMS, "cat": 20, "consciousness": "A"}
    response = _post(client, patient, body, tenants)
    assert response.status_code == 201, response.text
    assert {(r["metric"], r["value"]) for r in response.json()["readings"]} == {
        ("symptom.dyspnoea", 3.0), ("symptom.oedema", 1.0), ("symptom.wellbeing", 2.0), ("cat.score", 20.0),
        ("consciousness", 0.0),
    }  # fmt: skip
    assert _stored(visits_db, patient) == {
        "symptom.dyspnoea": (3.0, None), "symptom.oedema": (1.0, None), "symptom.wellbeing": (2.0, None),
        "cat.score": (20.0, {"cat_items": ITEMS}), "consciousness": (0.0, {"label": "A"}),
    }  # fmt: skip
    drain(visits_db.runtime_url)
    rules = {r["rule"] for r in named_rows(visits_db.runtime_url, "SELECT rule FROM alerts WHERE patient_id = %s",
                                           patient)}  # fmt: skip
    assert "copd.dyspnoea" in rules
    # The CAT entered as its total alone is a reading too.
    response = _post(client, patient, {"cat": 24}, tenants)
    assert response.status_code == 201 and response.json()["readings"][0]["value"] == 24.0


def test_impossible_answers_are_refused_field_by_field_and_nothing_is_written(
    client: TestClient, visits_db: TestDatabase, tenants: Tenants
) -> None:
    patient = _patient(visits_db, tenants, "heart_failure")
    cases = [
        ({"dyspnoea": 2.5}, "dyspnoea", "besvares med et helt tall fra 0 til 4"),
        ({"oedema": 5}, "oedema", "besvares med et helt tall fra 0 til 4"),
        ({"cat": 40.5}, "cat", "besvares med et helt tall fra 0 til 40"),
        ({"cat_items": [3, 2, None, 3, 2, 3, 1, 3]}, "cat_items", "Spørsmål 3 i CAT er ikke besvart"),
        ({"cat_items": [3, 2, 4, 3, 2, 3, 1]}, "cat_items", "CAT har 8 spørsmål; 7 svar ble gitt"),
        ({"cat_items": [3, 2, 4, 3, 2, 3, 1, 6]}, "cat_items", "Spørsmål 8 i CAT besvares med et helt tall"),
        ({"cat_items": ITEMS, "cat": 18}, "cat", "CAT-skåren 18 stemmer ikke med svarene, som til sammen gir 20"),
        ({"dyspnoea": 1, "measured_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}, "measured_at",
         "kan ikke være fram i tid"),
    ]  # fmt: skip
    for body, field, message in cases:
        response = _post(client, patient, {"wellbeing": 3, **body}, tenants)
        assert response.status_code == 422, (body, response.text)
        [problem] = response.json()["detail"]
        assert problem["loc"] == ["body", field] and message in problem["msg"], (body, problem)
    assert _stored(visits_db, patient) == {}
    assert named_rows(visits_db.runtime_url, "SELECT 1 FROM pending_evaluations WHERE patient_id = %s", patient) == []
