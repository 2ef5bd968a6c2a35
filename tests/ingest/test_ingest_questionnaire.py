"""Questionnaire answers through the gateway API: symptom scores and the CAT are readings with their catalogue
metrics, scored by the rules; an answer outside its scale or not a whole number, a CAT with an unanswered
question or answers that do not add up to its total, and answers dated in the future are quarantined with
the existing reasons and never reach the rules."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.ingest.validate import Rejection, ValidReading, validate
from device_profiles import load_catalogue
from tests.support.db import drain, named_rows
from tests.support.kits import Kit, batch, enrol_kit, reading
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, insert_patient

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ITEMS = [3, 2, 4, 3, 2, 3, 1, 2]  # 20


def _answer(metric: str, value: Any, items: Any = None, at: datetime = NOW) -> dict[str, Any]:
    sent = reading(1, "AA:BB:CC:DD:EE:FF", metric=metric, value=value, unit="{score}", measured_at=at)
    sent["received_at"] = NOW.isoformat()
    if items is not None:
        sent["context"] = {"cat_items": items}
    return sent


@pytest.mark.parametrize(
    ("sent", "reason", "detail"),
    [
        (_answer("symptom.dyspnoea", 5), "implausible_value", "outside 0..4"),
        (_answer("symptom.wellbeing", -1), "implausible_value", "outside 0..4"),
        (_answer("symptom.oedema", 2.5), "implausible_value", "answers are whole numbers"),
        (_answer("cat.score", 41), "implausible_value", "outside 0..40"),
        (_answer("cat.score", 17, [3, 2, None, 3, 2, 3, 1, 3]), "malformed", "question 3 is not answered"),
        (_answer("cat.score", 17, [3, 2, 4, 3, 2, 3]), "malformed", "6 answers were sent"),
        (_answer("cat.score", 17, "3,2,4"), "malformed", "must be a list"),
        (_answer("cat.score", 21, [3, 2, 4, 3, 2, 3, 1, 6]), "implausible_value", "question 8 must be answered"),
        (_answer("cat.score", 20, [3, 2, 4, 3, 2, 3, 1, 2.5]), "implausible_value", "question 8 must be answered"),
        (_answer("cat.score", 20, [3, 2, 4, 3, 2, 3, True, 2]), "implausible_value", "question 7 must be answered"),
        (_answer("cat.score", 18, ITEMS), "implausible_value", "does not match its answers, which add up to 20"),
        (_answer("symptom.dyspnoea", 1, at=NOW + timedelta(hours=1)), "implausible_time", "in the future"),
    ],
)
def test_bad_answers_get_the_existing_reasons(sent: dict[str, Any], reason: str, detail: str) -> None:
    checked = validate(sent, load_catalogue(), NOW)
    assert isinstance(checked, Rejection), checked
    assert (checked.reason, detail in checked.detail) == (reason, True), checked.detail


def test_answers_and_a_cat_with_all_its_answers_pass() -> None:
    for sent, value in ((_answer("symptom.dyspnoea", 3), 3.0), (_answer("symptom.wellbeing", 0.0), 0.0),
                        (_answer("cat.score", 20, ITEMS), 20.0), (_answer("cat.score", 17), 17.0)):  # fmt: skip
        checked = validate(sent, load_catalogue(), NOW)
        assert isinstance(checked, ValidReading) and checked.value == value, checked
    with_items = validate(_answer("cat.score", 20, ITEMS), load_catalogue(), NOW)
    assert isinstance(with_items, ValidReading) and with_items.context == {"cat_items": ITEMS}


def _symptom(seq: int, device: str, metric: str, value: Any, items: Any = None, **extra: Any) -> dict[str, Any]:
    sent = reading(seq, device, metric=metric, value=value, unit="{score}", **extra)
    if items is not None:
        sent["context"] = {"cat_items": items}
    return sent


def test_the_gateway_stores_answers_that_the_rules_score_and_quarantines_the_rest(
    client: TestClient, ingest_db: TestDatabase, tenants: Tenants
) -> None:
    url = ingest_db.runtime_url
    patient = insert_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"], "Hjertesvikt Skjema")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO patient_protocols (patient_id, protocols) VALUES (%s, '{heart_failure}')", (patient,))
    kit: Kit = enrol_kit(client, url, tenants.a.municipality_id, patient)
    screen = kit.oximeter  # any assigned device may carry catalogue metrics; the questionnaire has no profile yet
    future = datetime.now(UTC) + timedelta(hours=2)
    bad = [
        _symptom(1, screen, "symptom.dyspnoea", 4.5),
        _symptom(2, screen, "symptom.dyspnoea", 2.5),
        _symptom(3, screen, "symptom.dyspnoea", 3, measured_at=future),
        _symptom(4, screen, "cat.score", 17, [3, 2, None, 3, 2, 3, 1, 3]),
        _symptom(5, screen, "cat.score", 18, ITEMS),
    ]
    answer = client.post("/api/v1/ingest", json=batch(kit, bad), headers=kit.auth).json()
    assert (answer["stored"], answer["committed"]) == (0, [1, 2, 3, 4, 5])
    assert answer["quarantined"] == {"implausible_value": 3, "implausible_time": 1, "malformed": 1}
    drain(url)
    assert _alerts(url, patient) == [] and _stored(url, kit) == []

    good = [_symptom(6, screen, "symptom.dyspnoea", 3), _symptom(7, screen, "symptom.oedema", 0),
            _symptom(8, screen, "symptom.wellbeing", 2), _symptom(9, screen, "cat.score", 20, ITEMS)]  # fmt: skip
    answer = client.post("/api/v1/ingest", json=batch(kit, good), headers=kit.auth).json()
    assert (answer["stored"], answer["quarantined"]) == (4, {})
    # The application's own evaluation worker may have claimed the rows first (drain then skips them while
    # they are locked), so wait for whichever evaluation commits.
    drain(url)
    deadline = time.monotonic() + 15
    while "hf.dyspnoea" not in _alerts(url, patient) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "hf.dyspnoea" in _alerts(url, patient)  # with the worsening episode it opens
    assert _stored(url, kit) == [
        ("symptom.dyspnoea", 3.0, None),
        ("symptom.oedema", 0.0, None),
        ("symptom.wellbeing", 2.0, None),
        ("cat.score", 20.0, {"cat_items": ITEMS}),
    ]


def _alerts(url: str, patient: object) -> list[str]:
    query = "SELECT rule FROM alerts WHERE patient_id = %s AND alert_class = 'clinical'"
    return sorted(r["rule"] for r in named_rows(url, query, patient))


def _stored(url: str, kit: Kit) -> list[tuple[str, float, Any]]:
    rows = named_rows(url, "SELECT metric, value, context FROM observations WHERE gateway_id = %s ORDER BY seq",
                      kit.gateway_id)  # fmt: skip
    return [(r["metric"], r["value"], r["context"]) for r in rows]
