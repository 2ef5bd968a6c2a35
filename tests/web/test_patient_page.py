"""The patient page (`/patients/{id}`) on the real application and database: what it shows (newest values with
their traffic lights, charts' data addresses, NEWS2 now and in history, limits, the waiting proposal, alerts,
devices), its forms through the same services and policies as the API (vitals at a visit, pause and resume,
the decision on a proposal), and what must never happen (another team's or municipality's patient, a form
without the CSRF token, an impossible value written). The end-to-end visit runs in Chromium against the real
service: a nurse enters all seven NEWS2 parameters by the form and the complete NEWS2 appears."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from cloud.access.roles import Role
from common.timefmt import OSLO
from tests.baselines.conftest import new_patient as baseline_patient
from tests.baselines.conftest import propose
from tests.support.db import drain, named_rows
from tests.support.services import TestDatabase
from tests.support.tenants import PASSWORD, Tenants, insert_patient
from tests.web.browser import SIZES, Watch, chromium
from tests.web.helpers import HTML, Alerting, alerting_patient, csrf_of, sign_in, wait_for_alerts
from tests.web.test_page_rules import Inline, Misses, recording

# All seven NEWS2 parameters (and the diastolic pressure): 22/min scores 2, SpO2 95 % 1, pulse 95 1: NEWS2 4.
VISIT = {"resp_rate": "22", "spo2": "95", "oxygen": "no", "bp_systolic": "132", "bp_diastolic": "78",
         "pulse": "95", "consciousness": "A", "temperature": "37,4", "measured_at": ""}  # fmt: skip
# Each form of the page with fields it would accept.
FORMS: tuple[tuple[str, dict[str, str]], ...] = (
    ("vitals", VISIT),
    ("pause", {"reason": "Innlagt"}),
    ("resume", {}),
    ("baseline", {"decision": "approve", "reason": "abc", "review_by": "2099-01-01"}),
)


@pytest.fixture(scope="module")
def alerting(app: TestClient, web_db: TestDatabase, tenants: Tenants) -> Alerting:
    """A patient of the nurse's team whose falling SpO2 and alarm press have opened alerts (read-only here)."""
    return alerting_patient(app, web_db.runtime_url, tenants.a, "Pasient Side")


def _page(app: TestClient, patient: uuid.UUID, language: str = "nb", query: str = "") -> httpx.Response:
    answer: httpx.Response = app.get(f"/patients/{patient}{query}", headers={**HTML, "Accept-Language": language})
    return answer


def _post(app: TestClient, patient: uuid.UUID, form: str, data: dict[str, str]) -> httpx.Response:
    answer: httpx.Response = app.post(f"/patients/{patient}/{form}", data=data, headers=HTML, follow_redirects=False)
    return answer


def _nurse(app: TestClient, tenants: Tenants, patient: uuid.UUID) -> str:
    """Sign the nurse in; the CSRF token of the patient page's forms."""
    sign_in(app, tenants.a.usernames[Role.NURSE])
    return csrf_of(_page(app, patient).text)


def _on_new_patient(app: TestClient, web_db: TestDatabase, tenants: Tenants, name: str) -> tuple[str, uuid.UUID, str]:
    """A new patient of the nurse's team with the nurse signed in: the database, the patient, the CSRF token."""
    patient = insert_patient(web_db.runtime_url, tenants.a.municipality_id, tenants.a.teams["Nord"], name)
    return web_db.runtime_url, patient, _nurse(app, tenants, patient)


def _written(url: str, patient: uuid.UUID) -> dict[str, int]:
    """What the page's forms can write for the patient, counted. The evaluation worker's minute sweep queues a
    row without a metric for every active patient (cloud/evaluation/queue.py `enqueue_sweep`), whatever the
    forms did, so only rows for a metric count (a CI run caught the sweep between two posts)."""
    counts = {}
    for table in ("observations", "pending_evaluations", "patient_pauses", "rule_overrides"):
        only = " AND metric IS NOT NULL" if table == "pending_evaluations" else ""
        query = f"SELECT count(*) AS n FROM {table} WHERE patient_id = %s{only}"  # noqa: S608 - fixed names
        counts[table] = named_rows(url, query, patient)[0]["n"]
    return counts


def test_the_page_shows_values_lights_charts_news2_alerts_and_devices(
    app: TestClient, web_db: TestDatabase, tenants: Tenants, alerting: Alerting
) -> None:
    sign_in(app, tenants.a.usernames[Role.NURSE])
    request_id = uuid.uuid4().hex
    page = app.get(f"/patients/{alerting.patient_id}", headers={**HTML, "X-Request-ID": request_id})
    assert page.status_code == 200 and "Pasient Side" in page.text
    query = "SELECT action, outcome, patient_id FROM audit_log WHERE correlation_id = %s"
    [audit] = named_rows(web_db.runtime_url, query, request_id)
    assert audit == {"action": "patient.read", "outcome": "allowed", "patient_id": alerting.patient_id}
    latest = page.text[page.text.index('id="latest"') : page.text.index('id="charts"')]
    # SpO2 86 %: no threshold rule in the default protocol, so NEWS2's 3 points make it red.
    assert "86\u00a0%" in latest and "light-red" in latest and "etter NEWS2-poeng" in latest
    news2 = page.text[page.text.index('id="news2"') : page.text.index('id="visit"')]
    assert "NEWS2 3" in news2 and "Delvis" in news2 and f'href="/alerts/{alerting.news2}"' in news2
    alerts = page.text[page.text.index('id="alerts"') : page.text.index('id="devices"')]
    assert f'href="/alerts/{alerting.button}"' in alerts and "severity-red" in alerts
    assert "Nonin" in page.text[page.text.index('id="devices"') :]
    [ranges] = re.findall(r"data-ranges='([^']+)'", page.text)
    addresses = {key: value["url"] for key, value in json.loads(ranges).items()}
    assert set(addresses) == {"24h", "7d", "30d", "90d"}
    raw = app.get(addresses["24h"], headers={"Accept": "application/json"}).json()
    assert [item["value"] for item in raw["items"]] == [97, 96, 95, 93, 90, 86]
    for key, bucket in (("7d", "1h"), ("30d", "6h"), ("90d", "1d")):
        answer = app.get(addresses[key], headers={"Accept": "application/json"})
        assert answer.status_code == 200 and answer.json()["bucket"] == bucket, key
        assert min(item["min"] for item in answer.json()["items"]) == 86
    assert 'data-green-low="96"' in page.text  # the NEWS2 zero band of SpO2 on scale 1


def _rendered(app: TestClient, web_db: TestDatabase, tenants: Tenants, alerting: Alerting) -> Iterator[tuple[str, str]]:
    """(name, html) of the page in each of its states, in both languages."""
    url = web_db.runtime_url
    proposed = baseline_patient(url, tenants, days=20)
    propose(url)
    for language in ("nb", "en"):
        headers = {**HTML, "Accept-Language": language}
        csrf = _nurse(app, tenants, alerting.patient_id)
        yield f"alerting {language}", _page(app, alerting.patient_id, language).text
        yield f"proposal {language}", _page(app, proposed, language).text
        refused = app.post(f"/patients/{proposed}/baseline", data={"csrf_token": csrf, "proposal_id": "1"},
                           headers=headers)  # fmt: skip
        yield f"refused decision {language}", refused.text
        for name, changed in (("refused visit", {"pulse": "500", "spo2": "x"}),
                              ("refused visit values", {"pulse": "500", "bp_diastolic": "150"})):  # fmt: skip
            visit = {**VISIT, "csrf_token": csrf, **changed}
            yield f"{name} {language}", app.post(f"/patients/{proposed}/vitals", data=visit, headers=headers).text
        pause = {"csrf_token": csrf, "reason": "x", "until": "2000-01-01T00:00"}
        yield f"refused pause {language}", app.post(f"/patients/{proposed}/pause", data=pause, headers=headers).text
        yield f"not paused {language}", app.post(f"/patients/{proposed}/resume", data={"csrf_token": csrf},
                                                 headers=headers).text  # fmt: skip


def test_every_state_of_the_page_renders_in_both_languages_with_nothing_missing_from_bokmal_and_nothing_inline(
    app: TestClient, web_db: TestDatabase, tenants: Tenants, alerting: Alerting
) -> None:
    misses = Misses()
    app.app.state.pages = recording(misses)  # type: ignore[attr-defined]
    try:
        pages = list(_rendered(app, web_db, tenants, alerting))
    finally:
        app.app.state.pages = None  # type: ignore[attr-defined]
    assert misses.texts == set()
    for name, html in pages:
        assert f'<html lang="{name[-2:]}">' in html, name
        parser = Inline()
        parser.feed(html)
        assert parser.found == [], name
    by_name = dict(pages)
    assert "Nyeste verdier" in by_name["alerting nb"] and "Newest values" in by_name["alerting en"]
    assert "Foreslåtte personlige grenser" in by_name["proposal nb"]
    assert "Approve the personal limits" in by_name["proposal en"]
    assert "Skriv et tall" in by_name["refused visit nb"] and "Enter a number" in by_name["refused visit en"]
    assert "Puls må være mellom 20 og 300" in by_name["refused visit values nb"]
    assert "Heart rate must be between 20 and 300" in by_name["refused visit values en"]


def test_another_teams_patient_is_403_and_another_municipalitys_404_with_nothing_written_and_audited(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    sign_in(app, tenants.a.usernames[Role.NURSE])
    nurse = str(tenants.a.staff[Role.NURSE])
    for tenant, team, status, words in ((tenants.a, "Sør", 403, "hører ikke til teamene dine"),
                                        (tenants.b, "Nord", 404, "annen kommune")):  # fmt: skip
        patient = insert_patient(url, tenant.municipality_id, tenant.teams[team], "Ikke Min Pasient")
        page = _page(app, patient)
        assert page.status_code == status and words in page.text and "Ikke Min Pasient" not in page.text
        csrf = csrf_of(page.text)  # the header's sign-out form
        before = _written(url, patient)
        for form, data in FORMS:
            assert _post(app, patient, form, {**data, "csrf_token": csrf}).status_code == status, form
        assert _written(url, patient) == before
        denied = named_rows(url, "SELECT action FROM audit_log WHERE principal_id = %s AND patient_id = %s "
                                 "AND outcome = 'denied'", nurse, patient)  # fmt: skip
        assert {r["action"] for r in denied} == {"patient.read", "vitals.enter", "alerts.pause", "alerts.resume",
                                                 "baselines.decide"}  # fmt: skip
    assert _page(app, uuid.uuid4()).status_code == 404
    assert _page(app, "not-a-uuid").status_code == 422  # type: ignore[arg-type]


def test_forms_without_or_with_a_forged_csrf_token_change_nothing(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    patient = insert_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"], "Forfalsket")
    sign_in(app, tenants.a.usernames[Role.NURSE])
    for token in (None, "", "forged-token-0123456789"):
        for form, data in FORMS:
            sent = data if token is None else {**data, "csrf_token": token}
            answer = _post(app, patient, form, sent)
            assert answer.status_code == 403 and "Ingenting ble lagret" in answer.text, (form, token)
    assert _written(url, patient) == {"observations": 0, "pending_evaluations": 0, "patient_pauses": 0,
                                      "rule_overrides": 0}  # fmt: skip


def test_a_visit_value_outside_the_catalogues_range_is_refused_next_to_its_field_and_nothing_is_written(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url, patient, csrf = _on_new_patient(app, web_db, tenants, "Feil Verdi")
    future = (datetime.now(OSLO) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    for changed, field, words in (
        ({"pulse": "500"}, "pulse", "Puls må være mellom 20 og 300 /min."),
        ({"temperature": "37..4"}, "temperature", "Skriv et tall"),
        ({"bp_diastolic": "140"}, "bp_diastolic", "Det diastoliske trykket må være lavere"),
        ({"measured_at": future}, "measured_at", "Måletidspunktet kan ikke være fram i tid."),
        ({"oxygen": "maybe"}, "oxygen", "Velg en av verdiene i listen."),
        ({"dyspnoea": "7"}, "dyspnoea", "besvares med et helt tall fra 0 til 4."),
        ({"cat": "2,5"}, "cat", "besvares med et helt tall fra 0 til 40."),
    ):
        answer = _post(app, patient, "vitals", {**VISIT, **changed, "csrf_token": csrf})
        assert answer.status_code == 422, (changed, answer.status_code)
        assert f'id="visit-{field}-error"' in answer.text and words in answer.text, changed
        assert f'aria-describedby="visit-{field}-error"' in answer.text
        assert f'value="{next(iter(changed.values()))}"' in answer.text or field == "oxygen"  # kept as typed
    empty = {name: "" for name in VISIT} | {"csrf_token": csrf}
    answer = _post(app, patient, "vitals", empty)
    assert answer.status_code == 422 and "Registrer minst én måling." in answer.text
    assert _written(url, patient)["observations"] == 0 and _written(url, patient)["pending_evaluations"] == 0


def test_the_patients_answers_about_symptoms_are_entered_at_a_visit(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url, patient, csrf = _on_new_patient(app, web_db, tenants, "Symptomsvar")
    page = _page(app, patient).text
    assert 'id="visit-dyspnoea"' in page and 'id="visit-cat"' in page and "{score}" not in page
    answers = {name: "" for name in VISIT} | {"dyspnoea": "3", "oedema": "1", "wellbeing": "2", "cat": "20"}
    answer = _post(app, patient, "vitals", {**answers, "csrf_token": csrf})
    assert answer.status_code == 303, answer.text
    stored = named_rows(url, "SELECT metric, value FROM observations WHERE patient_id = %s", patient)
    assert {(r["metric"], r["value"]) for r in stored} == {
        ("symptom.dyspnoea", 3.0),
        ("symptom.oedema", 1.0),
        ("symptom.wellbeing", 2.0),
        ("cat.score", 20.0),
    }


def test_a_complete_visit_gives_a_complete_news2_now_and_in_the_history_once_evaluated(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url, patient, csrf = _on_new_patient(app, web_db, tenants, "Hjemmebesøk")
    request_id = uuid.uuid4().hex
    answer = app.post(f"/patients/{patient}/vitals", data={**VISIT, "csrf_token": csrf},
                      headers={**HTML, "X-Request-ID": request_id}, follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == f"/patients/{patient}?done=vitals#news2"
    [audit] = named_rows(url, "SELECT id, action, outcome FROM audit_log WHERE correlation_id = %s", request_id)
    stored = named_rows(url, "SELECT metric, source, entered_by, audit_id FROM observations WHERE patient_id = %s",
                        patient)  # fmt: skip
    assert len(stored) == 8 and {(r["source"], r["entered_by"], r["audit_id"]) for r in stored} == {
        ("manual", tenants.a.staff[Role.NURSE], audit["id"])
    }
    page = app.get(answer.headers["location"], headers=HTML).text
    news2 = page[page.index('id="news2"') : page.index('id="visit"')]
    assert "Målingene er lagret." in page and "NEWS2 4" in news2 and "Fullstendig" in news2
    assert "22\u00a0/min" in news2 and "37,4\u00a0°C" in news2 and "Våken" in news2 and "Romluft" in news2
    assert "Registrert av nurse a" in page
    drain(url)
    alert = wait_for_alerts(url, patient, {"ge.news2"})["ge.news2"]
    history = _page(app, patient).text
    history = history[history.index("NEWS2 som reglene reagerte på") : history.index('id="visit"')]
    assert f'href="/alerts/{alert}"' in history and "<td>4</td>" in history and "delvis" not in history


def test_pause_and_resume_through_the_page(app: TestClient, web_db: TestDatabase, tenants: Tenants) -> None:
    url, patient, csrf = _on_new_patient(app, web_db, tenants, "Pause Side")
    for data, field, words in (
        ({"reason": " "}, "pause-reason", "Skriv hvorfor varslene settes på pause."),
        ({"reason": "Innlagt", "until": "2020-01-01T10:00"}, "pause-until", "har passert"),
    ):
        answer = _post(app, patient, "pause", {**data, "csrf_token": csrf})
        assert answer.status_code == 422 and f'id="{field}-error"' in answer.text and words in answer.text
    assert _written(url, patient)["patient_pauses"] == 0
    until = (datetime.now(OSLO) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    paused = _post(app, patient, "pause", {"reason": "Innlagt på sykehus", "until": until, "csrf_token": csrf})
    assert paused.status_code == 303 and paused.headers["location"].endswith("?done=paused#pause")
    page = _page(app, patient).text
    assert "Satt på pause, unntatt trygghetsalarmer" in page and "Innlagt på sykehus (nurse a)" in page
    resumed = _post(app, patient, "resume", {"csrf_token": csrf})
    assert resumed.status_code == 303
    [row] = named_rows(url, "SELECT until, reminded_at FROM patient_pauses WHERE patient_id = %s", patient)
    assert row["until"] is not None and row["until"] < datetime.now(OSLO) and row["reminded_at"] is not None
    page = _page(app, patient, query="?done=resumed").text
    assert "Alle varsler er i gang igjen." in page and 'id="pause-form"' in page
    again = _post(app, patient, "resume", {"csrf_token": csrf})
    assert again.status_code == 409 and "Varslene var ikke satt på pause" in again.text


def test_the_waiting_proposal_is_approved_through_the_decision_service(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    patient = baseline_patient(url, tenants, days=20)
    propose(url)
    csrf = _nurse(app, tenants, patient)
    [waiting] = named_rows(url, "SELECT id FROM baseline_proposals WHERE patient_id = %s AND status = 'proposed'",
                           patient)  # fmt: skip
    base = {"csrf_token": csrf, "proposal_id": str(waiting["id"]), "decision": "approve"}
    today = datetime.now(OSLO).date()
    for data, field, words in (
        ({"reason": "", "review_by": (today + timedelta(days=30)).isoformat()}, "baseline-reason", "minst 3 tegn"),
        ({"reason": "Kjent lav metning", "review_by": today.isoformat()}, "baseline-review_by", "etter i dag"),
        ({"reason": "Kjent lav metning", "review_by": ""}, "baseline-review_by", "Velg datoen"),
    ):
        answer = _post(app, patient, "baseline", {**base, **data})
        assert answer.status_code == 422 and f'id="{field}-error"' in answer.text and words in answer.text, data
    review = (today + timedelta(days=60)).isoformat()
    decided = _post(app, patient, "baseline", {**base, "reason": "Kjent lav metning", "review_by": review})
    assert decided.status_code == 303 and decided.headers["location"].endswith("?done=approved#baseline")
    overrides = named_rows(url, "SELECT rule, reason, review_by FROM rule_overrides WHERE patient_id = %s", patient)
    assert {r["rule"] for r in overrides} == {"hf.heart_rate", "hf.spo2", "hf.systolic"}
    assert {str(r["review_by"]) for r in overrides} == {review}
    page = _page(app, patient, query="?done=approved").text
    assert "De personlige grensene er godkjent og gjelder nå." in page
    assert "Personlige grenser for denne pasienten" in page
    assert "Ingen forslag venter på en beslutning." in page
    again = _post(app, patient, "baseline", {**base, "reason": "Kjent lav metning", "review_by": review})
    assert again.status_code == 409 and "venter ikke lenger" in again.text
    assert len(named_rows(url, "SELECT 1 FROM rule_overrides WHERE patient_id = %s", patient)) == 3


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.mark.slow
def test_a_nurse_enters_a_home_visit_in_the_browser_and_the_complete_news2_appears(
    browser: Browser, server: str, web_db: TestDatabase, tenants: Tenants
) -> None:
    patient = insert_patient(web_db.runtime_url, tenants.a.municipality_id, tenants.a.teams["Nord"], "Besøk Nettleser")
    context = browser.new_context(base_url=server, viewport=SIZES["phone"], locale="nb-NO")  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"/patients/{patient}")
    page.locator("#username").fill(tenants.a.usernames[Role.NURSE])
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    page.wait_for_url(f"**/patients/{patient}")
    fields: dict[str, Any] = {name: value for name, value in VISIT.items() if name not in {"oxygen", "consciousness"}}
    for name, value in fields.items():
        if value:
            page.locator(f"#visit-{name}").fill(value)
    page.locator("#visit-consciousness").select_option("A")
    page.get_by_label("Nei, romluft").check()
    page.locator("#visit-form button[type=submit]").press("Enter")
    page.wait_for_url(f"**/patients/{patient}?done=vitals#news2")
    news2 = page.locator("#news2").inner_text()
    assert "NEWS2 4" in news2 and "Fullstendig" in news2, news2
    page.get_by_role("link", name="7 døgn").click()
    page.wait_for_selector(".patient-chart .chart:not([data-drawn='7d'])", state="detached")
    assert "range=7d" in page.url and page.locator(".patient-chart canvas").count() == 6
    assert watch.refused == [] and watch.errors == []
