"""Vitals entered by hand at a home visit: stored as `manual` readings with their author and audit record,
evaluated like a gateway's readings (a complete NEWS2 once all seven parameters are in), and refused field by
field, in the reader's language, with nothing written, when a value is impossible. Symptom answers and the
CAT go the same way: whole numbers within their scales, the CAT's eight answers added up and kept with it, a
CAT with an unanswered question or a total that does not match its answers refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from tests.support.db import drain, named_rows
from tests.support.kits import batch, enrol_kit, reading
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, audit_rows, insert_patient

FULL = {
    "resp_rate": 22,  # NEWS2 subscore 2
    "spo2": 95,  # 1
    "oxygen": False,  # 0
    "bp_systolic": 132,  # 0
    "bp_diastolic": 78,
    "pulse": 95,  # 1
    "consciousness": "A",  # 0
    "temperature": 37.4,  # 0
}
CAT_ITEMS = [3, 2, 4, 3, 2, 3, 1, 2]  # 20


def _patient(db: TestDatabase, tenants: Tenants, team: str = "Nord") -> uuid.UUID:
    return insert_patient(db.runtime_url, tenants.a.municipality_id, tenants.a.teams[team], "Kari Besøk")


def _post(
    client: TestClient, patient: uuid.UUID, body: Any, role: Role, tenants: Tenants, language: str = "nb-NO"
) -> tuple[Any, str]:
    request_id = uuid.uuid4().hex
    headers = {**tenants.a.auth(role), "X-Request-ID": request_id, "Accept-Language": language}
    return client.post(f"/api/v1/patients/{patient}/vitals", json=body, headers=headers), request_id


def _written(db: TestDatabase, patient: uuid.UUID) -> tuple[int, int]:
    """(observations, queued evaluations) of the patient."""
    stored = named_rows(db.runtime_url, "SELECT count(*) AS n FROM observations WHERE patient_id = %s", patient)
    queued = named_rows(db.runtime_url, "SELECT count(*) AS n FROM pending_evaluations WHERE patient_id = %s", patient)
    return stored[0]["n"], queued[0]["n"]


def _news2_alert(db: TestDatabase, patient: uuid.UUID) -> dict[str, Any]:
    """The patient's one NEWS2 alert (general elderly protocol), after evaluation."""
    [alert] = named_rows(
        db.runtime_url, "SELECT severity, explanation FROM alerts WHERE patient_id = %s AND rule = 'ge.news2'", patient
    )
    return alert


def test_an_entry_is_stored_with_its_author_and_audit_record(
    client: TestClient, visits_db: TestDatabase, tenants: Tenants
) -> None:
    patient = _patient(visits_db, tenants)
    measured = (datetime.now(UTC) - timedelta(minutes=20)).replace(microsecond=0)
    response, request_id = _post(client, patient, {**FULL, "measured_at": measured.isoformat()}, Role.NURSE, tenants)
    assert response.status_code == 201, response.text
    assert {r["metric"] for r in response.json()["readings"]} == {
        "resp.rate", "spo2", "oxygen.supplemental", "bp.systolic", "bp.diastolic", "heart_rate", "consciousness",
        "body.temperature",
    }  # fmt: skip
    [audit] = audit_rows(visits_db.runtime_url, request_id)
    assert (audit["action"], audit["outcome"], audit["patient_id"]) == ("vitals.enter", "allowed", patient)
    rows = named_rows(
        visits_db.runtime_url,
        "SELECT metric, value, unit, source, entered_by, audit_id, t, gateway_id, device_id FROM observations "
        "WHERE patient_id = %s",
        patient,
    )
    by_metric = {r["metric"]: r for r in rows}
    assert {r["source"] for r in rows} == {"manual"}
    assert {r["entered_by"] for r in rows} == {tenants.a.staff[Role.NURSE]}
    assert {r["audit_id"] for r in rows} == {audit["id"]}
    assert {r["t"] for r in rows} == {measured}
    assert {r["gateway_id"] for r in rows} == {r["device_id"] for r in rows} == {None}
    # Labelled states are stored as the index of their level, as ingest stores them.
    assert (by_metric["consciousness"]["value"], by_metric["oxygen.supplemental"]["value"]) == (0.0, 0.0)
    assert by_metric["body.temperature"]["value"] == 37.4
    assert _written(visits_db, patient)[1] == len(rows)  # every metric queued for evaluation
    # The patient page's newest values show where each came from and who entered it.
    latest = client.get(f"/api/v1/patients/{patient}/latest", headers=tenants.a.auth(Role.NURSE)).json()
    shown = {r["metric"]: r for r in latest}
    assert shown["consciousness"]["label"] == "A"
    assert {r["source"] for r in latest} == {"manual"}
    assert {r["entered_by"] for r in latest} == {str(tenants.a.staff[Role.NURSE])}
    assert {r["device_id"] for r in latest} == {None}


def test_a_visit_completes_news2_with_the_gateways_readings(
    client: TestClient, visits_db: TestDatabase, tenants: Tenants
) -> None:
    """SpO2 and pulse arrive from the home's oximeter; the nurse adds what no sensor measures. The rules
    evaluate both sources alike: one NEWS2 alert, complete, with every parameter scored."""
    patient = _patient(visits_db, tenants)
    kit = enrol_kit(client, visits_db.runtime_url, tenants.a.municipality_id, patient)
    sent = [
        reading(1, kit.oximeter, "spo2", 95, "%"),
        reading(2, kit.oximeter, "heart_rate", 95, "/min"),
    ]
    assert client.post("/api/v1/ingest", json=batch(kit, sent), headers=kit.auth).status_code == 200
    drain(visits_db.runtime_url)
    before = named_rows(visits_db.runtime_url, "SELECT rule FROM alerts WHERE patient_id = %s", patient)
    assert "ge.news2" not in {r["rule"] for r in before}  # partial NEWS2 of 2: below the rule's 3

    manual = {k: v for k, v in FULL.items() if k not in {"spo2", "pulse"}}
    response, _ = _post(client, patient, manual, Role.TEAM_LEAD, tenants)
    assert response.status_code == 201, response.text
    drain(visits_db.runtime_url)
    alert = _news2_alert(visits_db, patient)
    news2 = alert["explanation"]["explanation"]
    assert news2["values"]["score"] == 4
    assert news2["values"]["subscores"] == {
        "rr": 2, "spo2": 1, "oxygen": 0, "sbp": 0, "pulse": 1, "consciousness": 0, "temp": 0,
    }  # fmt: skip
    assert not any(note.startswith("partial") for note in news2["notes"])
    assert (news2["inputs"]["consciousness"], news2["inputs"]["oxygen"]) == ("A", False)
    assert alert["severity"] == "yellow"


def test_consciousness_and_oxygen_change_the_score(
    client: TestClient, visits_db: TestDatabase, tenants: Tenants
) -> None:
    """New confusion scores 3 and supplemental oxygen 2: both must reach NEWS2 from the stored levels."""
    patient = _patient(visits_db, tenants)
    response, _ = _post(client, patient, {**FULL, "consciousness": "c", "oxygen": True}, Role.NURSE, tenants)
    assert response.status_code == 201, response.text
    drain(visits_db.runtime_url)
    alert = _news2_alert(visits_db, patient)
    values = alert["explanation"]["explanation"]["values"]
    assert values["subscores"]["consciousness"] == 3
    assert values["subscores"]["oxygen"] == 2
    assert values["score"] == 9
    assert alert["severity"] == "red"


def _future() -> str:
    return (datetime.now(UTC) + timedelta(minutes=30)).isoformat()


def _old() -> str:
    return (datetime.now(UTC) - timedelta(days=3)).isoformat()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"pulse": 500}, "pulse", "Puls må være mellom 20 og 300 /min."),
        ({"spo2": 101}, "spo2", "Oksygenmetning må være mellom 40 og 100 %."),
        ({"temperature": 45.5}, "temperature", "Kroppstemperatur må være mellom 25 og 45 °C."),
        ({"resp_rate": 1.5}, "resp_rate", "Respirasjonsfrekvens må være mellom 2 og 80 /min."),
        ({"consciousness": "X"}, "consciousness", "Bevissthetsnivå (ACVPU) må være en av A, C, V, P, U."),
        ({"bp_systolic": 120, "bp_diastolic": 130}, "bp_diastolic", "Det diastoliske trykket må være lavere"),
        ({"pulse": 70, "measured_at": _future()}, "measured_at", "Måletidspunktet kan ikke være fram i tid."),
        ({"pulse": 70, "measured_at": _old()}, "measured_at", "Måletidspunktet er mer enn 24 timer siden."),
        ({}, "values", "Registrer minst én måling."),
        ({"oxygen": None, "pulse": None}, "values", "Registrer minst én måling."),
        ({"dyspnoea": 2.5}, "dyspnoea", "Tung pust (0 ingen – 4 verst) besvares med et helt tall fra 0 til 4."),
        ({"oedema": 5}, "oedema", "Hevelse (0 ingen – 4 verst) besvares med et helt tall fra 0 til 4."),
        ({"cat": 40.5}, "cat", "CAT-skår (KOLS) besvares med et helt tall fra 0 til 40."),
        ({"cat_items": [3, 2, None, 3, 2, 3, 1, 3]}, "cat_items", "Spørsmål 3 i CAT er ikke besvart; en CAT med"),
        ({"cat_items": [3, 2, 4, 3, 2, 3, 1]}, "cat_items", "CAT har 8 spørsmål; 7 svar ble gitt."),
        (
            {"cat_items": [3, 2, 4, 3, 2, 3, 1, 6]},
            "cat_items",
            "Spørsmål 8 i CAT besvares med et helt tall fra 0 til 5",
        ),
        ({"cat_items": CAT_ITEMS, "cat": 18}, "cat", "CAT-skåren 18 stemmer ikke med svarene, som til sammen gir 20."),
        ({"wellbeing": 3, "measured_at": _future()}, "measured_at", "Måletidspunktet kan ikke være fram i tid."),
    ],
)
def test_a_bad_value_is_named_and_nothing_is_written(
    client: TestClient, visits_db: TestDatabase, tenants: Tenants, body: dict[str, Any], field: str, message: str
) -> None:
    patient = _patient(visits_db, tenants)
    response, request_id = _post(client, patient, body, Role.NURSE, tenants)
    assert response.status_code == 422, response.text
    errors = {tuple(e["loc"]): e["msg"] for e in response.json()["detail"]}
    assert errors[("body", field)].startswith(message), errors
    assert _written(visits_db, patient) == (0, 0)
    [audit] = audit_rows(visits_db.runtime_url, request_id)
    assert (audit["action"], audit["patient_id"]) == ("vitals.enter", patient)


def test_every_bad_field_is_named_at_once_in_english_too(
    client: TestClient, visits_db: TestDatabase, tenants: Tenants
) -> None:
    patient = _patient(visits_db, tenants)
    body = {"pulse": 500, "spo2": 30, "temperature": 37.0, "measured_at": _future()}
    response, _ = _post(client, patient, body, Role.NURSE, tenants, language="en-GB")
    assert response.status_code == 422
    errors = {e["loc"][1]: e["msg"] for e in response.json()["detail"]}
    assert errors == {
        "pulse": "Heart rate must be between 20 and 300 /min.",
        "spo2": "Oxygen saturation must be between 40 and 100 %.",
        "measured_at": "The time measured cannot be in the future.",
    }
    assert _written(visits_db, patient) == (0, 0)


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ('{"pulse": NaN}', "pulse"),
        ('{"pulse": "fast"}', "pulse"),
        ('{"oxygen": "maybe"}', "oxygen"),
        ('{"pulse": 70, "weight": 80}', "weight"),
        ('{"pulse": 70, "measured_at": "2026-12-03T10:00:00"}', "measured_at"),
        ('{"consciousness": "' + "A" * 50 + '"}', "consciousness"),
        ('{"cat_items": "3,2,4"}', "cat_items"),
    ],
)
def test_hostile_bodies_get_a_specific_422(
    client: TestClient, visits_db: TestDatabase, tenants: Tenants, raw: str, where: str
) -> None:
    patient = _patient(visits_db, tenants)
    headers = {**tenants.a.auth(Role.NURSE), "Content-Type": "application/json"}
    response = client.post(f"/api/v1/patients/{patient}/vitals", content=raw, headers=headers)
    assert response.status_code == 422, response.text
    assert where in {str(part) for error in response.json()["detail"] for part in error["loc"]}
    assert _written(visits_db, patient) == (0, 0)


def test_only_carers_of_the_patients_team_may_enter_and_every_try_is_audited(
    client: TestClient, visits_db: TestDatabase, tenants: Tenants
) -> None:
    other_team = _patient(visits_db, tenants, team="Sør")
    response, request_id = _post(client, other_team, FULL, Role.NURSE, tenants)
    assert response.status_code == 403
    assert [r["outcome"] for r in audit_rows(visits_db.runtime_url, request_id)] == ["denied"]

    foreign = tenants.b.patients["nord"]
    response, request_id = _post(client, foreign, FULL, Role.NURSE, tenants)
    missing, _ = _post(client, uuid.uuid4(), FULL, Role.NURSE, tenants)
    assert response.status_code == missing.status_code == 404
    assert response.json() == missing.json()
    denied = audit_rows(visits_db.runtime_url, request_id)
    assert {(r["outcome"], r["municipality_id"]) for r in denied} == {
        ("denied", tenants.a.municipality_id),
        ("denied", tenants.b.municipality_id),
    }

    # The response centre reaches every patient of the municipality, but does not enter vitals.
    own = _patient(visits_db, tenants)
    response, request_id = _post(client, own, FULL, Role.RESPONSE_CENTRE, tenants)
    assert response.status_code == 403
    assert [r["outcome"] for r in audit_rows(visits_db.runtime_url, request_id)] == ["denied"]
    for patient in (other_team, foreign, own):
        assert _written(visits_db, patient) == (0, 0)


def test_a_discharged_patient_gets_no_new_readings(
    client: TestClient, visits_db: TestDatabase, tenants: Tenants
) -> None:
    patient = insert_patient(
        visits_db.runtime_url, tenants.a.municipality_id, tenants.a.teams["Nord"], "Kari Utskrevet", "discharged"
    )
    response, _ = _post(client, patient, FULL, Role.NURSE, tenants)
    assert response.status_code == 409
    assert response.json()["detail"] == "Pasienten følges ikke lenger opp (avsluttet); ingenting ble lagret."
    assert _written(visits_db, patient) == (0, 0)


def test_symptom_answers_are_stored_with_the_cat_added_up_and_scored_by_the_rules(
    client: TestClient, visits_db: TestDatabase, tenants: Tenants
) -> None:
    patient = _patient(visits_db, tenants)
    with psycopg.connect(visits_db.runtime_url, autocommit=True) as conn:
        conn.execute("INSERT INTO patient_protocols (patient_id, protocols) VALUES (%s, '{copd}')", (patient,))
    body = {"dyspnoea": 3, "oedema": 1, "wellbeing": 2, "cat_items": CAT_ITEMS, "cat": 20, "consciousness": "A"}
    response, _ = _post(client, patient, body, Role.NURSE, tenants)
    assert response.status_code == 201, response.text
    assert {(r["metric"], r["value"]) for r in response.json()["readings"]} == {
        ("symptom.dyspnoea", 3.0), ("symptom.oedema", 1.0), ("symptom.wellbeing", 2.0), ("cat.score", 20.0),
        ("consciousness", 0.0),
    }  # fmt: skip
    rows = named_rows(visits_db.runtime_url, "SELECT metric, value, context FROM observations WHERE patient_id = %s",
                      patient)  # fmt: skip
    assert {r["metric"]: (r["value"], r["context"]) for r in rows} == {
        "symptom.dyspnoea": (3.0, None), "symptom.oedema": (1.0, None), "symptom.wellbeing": (2.0, None),
        "cat.score": (20.0, {"cat_items": CAT_ITEMS}), "consciousness": (0.0, {"label": "A"}),
    }  # fmt: skip
    drain(visits_db.runtime_url)
    alerts = named_rows(visits_db.runtime_url, "SELECT rule FROM alerts WHERE patient_id = %s", patient)
    assert "copd.dyspnoea" in {a["rule"] for a in alerts}
    response, _ = _post(client, patient, {"cat": 24}, Role.NURSE, tenants)  # the total alone is a CAT too
    assert response.status_code == 201 and response.json()["readings"][0]["value"] == 24.0
