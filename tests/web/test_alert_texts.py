"""Alert texts for people on the worklist and the alert page and in their JSON: the title and the sentence name
the patient, the device and the measurement in the reader's language, with no id in anything a person reads,
and notes name their authors (the application in this process, on a real database)."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from tests.support.db import drain
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants
from tests.web.helpers import HTML, UUID_TEXT, alerting_patient, csrf_of, sign_in, visible_text, wait_for_alerts

# What each language calls the alarm button press, the worsening episode of the NEWS2 alert and the silent
# gateway (without the times).
WORDS = {
    "nb": {
        "wf.alarm_button": ("Trygghetsalarm utløst", "Kari Ordlyd trykket på trygghetsalarmen ("),
        "episode.clinical": ("Forverring", "Forverring hos Kari Ordlyd: 1 tegn: Forhøyet NEWS2."),
        "live.gateway_heartbeat": ("Ingen kontakt med gatewayen", "Gatewayen i Testveien 1 har ikke gitt lyd fra seg"),
    },
    "en": {
        "wf.alarm_button": ("Alarm button pressed", "Kari Ordlyd pressed the alarm button ("),
        "episode.clinical": ("Worsening episode", "Worsening at Kari Ordlyd: 1 sign: NEWS2 raised."),
        "live.gateway_heartbeat": ("Gateway not heard from", "The gateway at Testveien 1 has not been heard from"),
    },
}


def test_the_worklist_names_the_person_device_and_measurement_in_the_readers_language(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    found = alerting_patient(app, url, tenants.a, "Kari Ordlyd")
    with psycopg.connect(url, autocommit=True) as conn:  # the clock-driven rules, as the minute's sweep queues them
        conn.execute("INSERT INTO pending_evaluations (patient_id) VALUES (%s)", (found.patient_id,))
    drain(url)
    wait_for_alerts(url, found.patient_id, set(WORDS["nb"]))
    app.cookies.clear()
    sign_in(app, tenants.a.usernames[Role.NURSE])
    for language, words in WORDS.items():
        api = {**tenants.a.auth(Role.NURSE), "Accept-Language": "nb-NO" if language == "nb" else "en-GB"}
        answer = app.get("/api/v1/worklist", headers=api).json()
        group = next(g for g in answer["patients"] if g["patient_id"] == str(found.patient_id))
        texts = {alert["rule"]: (alert["title"], alert["sentence"]) for alert in group["alerts"]}
        for rule, (title, start) in words.items():
            assert texts[rule][0] == title and texts[rule][1].startswith(start), (language, rule, texts[rule])
        assert not any(UUID_TEXT.search(title + sentence) for title, sentence in texts.values())
        page = app.get("/", headers={**HTML, "Accept-Language": api["Accept-Language"]}).text
        shown = visible_text(page)
        for title, sentence in texts.values():
            assert title in shown and sentence in shown, (language, title)
        assert UUID_TEXT.search(page) and not UUID_TEXT.search(shown)  # ids in the markup, never in the words


def test_the_alert_json_and_page_word_it_and_name_the_authors_of_its_notes(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    found = alerting_patient(app, web_db.runtime_url, tenants.a, "Kari Ordlyd")
    app.cookies.clear()
    sign_in(app, tenants.a.usernames[Role.NURSE])
    csrf = csrf_of(app.get(f"/alerts/{found.button}", headers=HTML).text)
    for action, fields in (("comment", {"body": "Ringte datteren"}), ("outcome", {"outcome": "visit_dispatched"})):
        posted = app.post(f"/alerts/{found.button}/{action}", data={"csrf_token": csrf, **fields}, headers=HTML,
                          follow_redirects=False)  # fmt: skip
        assert posted.status_code == 303, posted.text
    for language, header in (("nb", "nb-NO"), ("en", "en")):
        title, start = WORDS[language]["wf.alarm_button"]
        for path in (f"/api/v1/alerts/{found.button}", f"/alerts/{found.button}"):
            detail = app.get(path, headers={**tenants.a.auth(Role.NURSE), "Accept-Language": header}).json()
            assert (detail["patient"], detail["title"]) == ("Kari Ordlyd", title)
            assert detail["sentence"].startswith(start) and not UUID_TEXT.search(detail["sentence"])
            assert [(n["kind"], n["author"]) for n in detail["notes"]] == [
                ("comment", "nurse a"), ("outcome:visit_dispatched", "nurse a"),
            ]  # fmt: skip
        shown = visible_text(app.get(f"/alerts/{found.button}", headers={**HTML, "Accept-Language": header}).text)
        assert title in shown and detail["sentence"] in shown and "nurse a" in shown
        assert not UUID_TEXT.search(shown)


def test_the_openapi_document_describes_the_words_and_deprecates_the_message(app: TestClient) -> None:
    schemas = app.get("/openapi.json").json()["components"]["schemas"]
    for model in ("WorklistAlert", "AlertDetail"):
        assert {"title", "sentence"} <= set(schemas[model]["required"]), model
        assert "reader's language" in schemas[model]["properties"]["sentence"]["description"]
    assert schemas["AlertOut"]["properties"]["message"]["deprecated"] is True
    assert schemas["Note"]["properties"]["author"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
