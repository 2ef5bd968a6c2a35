"""The response centre's screen on the real application (in this process, on a real database): safety alarms
only with what the operator needs, taking an alarm and recording its outcome through the same triage actions,
audit records and access policy as the API, the share taken within 60 s, and what must never happen (a form
without the session's token, another municipality's alarm, a role that is not the centre's)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from cloud.access.roles import Role
from tests.support.db import named_rows
from tests.support.kits import reading
from tests.support.services import TestDatabase
from tests.support.tenants import Tenant, Tenants, build_tenant
from tests.web.helpers import (
    ACCESS,
    ADDRESS,
    HOME_PHONE,
    HTML,
    UUID_TEXT,
    Alerting,
    alarm_patient,
    csrf_of,
    ingest,
    sign_in,
    transitions,
    visible_text,
)

SCREEN = "/response-centre"


def _operator(app: TestClient, tenant: Tenant) -> str:
    """The tenant's response-centre operator signed in on the screen: the CSRF token of its forms."""
    app.cookies.clear()
    sign_in(app, tenant.usernames[Role.RESPONSE_CENTRE])
    return csrf_of(app.get(SCREEN, headers=HTML).text)


def _on_duty(app: TestClient, tenant: Tenant, url: str, name: str) -> tuple[Alerting, str]:
    """A new patient of the tenant with an alarm, and the tenant's operator signed in on the screen: the
    patient's alerts and the CSRF token of the screen's forms."""
    found = alarm_patient(app, url, tenant, name)
    return found, _operator(app, tenant)


def _alarm(page: str, alert_id: int) -> str:
    """The markup of one open alarm on the screen."""
    found = re.search(rf'<article class="alarm[^"]*" id="alarm-{alert_id}".*?</article>', page, re.DOTALL)
    assert found, f"alarm {alert_id} is not open on the screen"
    return found.group(0)


def test_the_screen_shows_safety_alarms_only_with_what_the_operator_needs(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    found, _csrf = _on_duty(app, tenants.a, web_db.runtime_url, "Kari Alarmsen")
    for language, words in (
        ("nb", ("Trygghetsalarm utløst", "Ta alarmen", "Ring i denne rekkefølgen", "pårørende")),
        ("en", ("Alarm button pressed", "Take the alarm", "Call in this order", "next of kin")),
    ):
        page = app.get(SCREEN, headers={**HTML, "Accept-Language": language}).text
        alarm = _alarm(page, found.button)
        shown = visible_text(alarm)
        assert all(word in shown for word in words), (language, shown)
        assert ADDRESS in shown and ACCESS in shown and HOME_PHONE in shown and "911 22 333" in shown
        assert shown.index("Ola Nordmann") < shown.index("Nabo Hansen")  # next of kin in call order
        assert 'href="tel:90000001"' in alarm and "Kari Alarmsen" in shown
        assert 'class="clock"' in alarm and "data-since=" in alarm and 'data-target="60000"' in alarm
        assert f'id="alarm-{found.news2}"' not in page  # a clinical alert is not the response centre's
        assert not UUID_TEXT.search(visible_text(page))
    # The newest alarm nobody has taken has the focus when the screen opens: Enter takes it.
    first = re.search(r'<button[^>]*id="take-(\d+)"[^>]*autofocus', app.get(SCREEN, headers=HTML).text)
    assert first and int(first.group(1)) >= found.button


def test_a_second_press_on_an_open_alarm_is_shown_and_announced_on_the_screen(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    found, _csrf = _on_duty(app, tenants.a, web_db.runtime_url, "Per Trykker")
    before = _alarm(app.get(SCREEN, headers=HTML).text, found.button)
    assert 'data-pressed-again="0"' in before and "Utløst igjen" not in visible_text(before.split("</dl>")[0])
    ingest(app, found.kit, [reading(100, found.kit.button, "alarm.button", 1, "1", measured_at=datetime.now(UTC))])
    deadline = time.monotonic() + 10
    while named_rows(web_db.runtime_url, "SELECT repeats FROM alerts WHERE id = %s", found.button)[0]["repeats"] < 1:
        assert time.monotonic() < deadline, "the second press was not counted on the open alarm"
        time.sleep(0.05)
    after = _alarm(app.get(SCREEN, headers=HTML).text, found.button)
    assert 'data-pressed-again="1"' in after and 'data-announce-again="Utløst igjen: Trygghetsalarm utløst' in after
    assert re.search(r"Utløst igjen 1 gang, sist kl\. \d\d:\d\d:\d\d", visible_text(after)), visible_text(after)
    english = _alarm(app.get(SCREEN, headers={**HTML, "Accept-Language": "en"}).text, found.button)
    assert re.search(r"Raised again 1 time, last at \d\d:\d\d:\d\d", visible_text(english))


def test_taking_an_alarm_and_recording_its_outcome_go_through_the_triage_actions(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    found, csrf = _on_duty(app, tenants.a, url, "Kari Tatt")
    taken = app.post(f"{SCREEN}/{found.button}/take", data={"csrf_token": csrf}, headers=HTML, follow_redirects=False)
    assert taken.status_code == 303 and taken.headers["location"] == f"{SCREEN}?alarm={found.button}&done=taken"
    page = app.get(taken.headers["location"], headers=HTML).text
    assert "Alarmen er tatt." in page
    alarm = _alarm(page, found.button)
    assert "Tatt av response_centre a kl." in visible_text(alarm)
    # The next step has the focus: the first outcome of the alarm just taken.
    assert re.search(rf'id="outcome-{found.button}-resolved_by_phone"[^>]*autofocus', alarm)
    for outcome, note in (("visit_dispatched", "Hjemmetjenesten varslet"), ("done", "")):
        data = {"csrf_token": csrf, "outcome": outcome, "note": note}
        posted = app.post(f"{SCREEN}/{found.button}/outcome", data=data, headers=HTML, follow_redirects=False)
        assert posted.status_code == 303 and posted.headers["location"].endswith("&done=outcome")
        if outcome == "visit_dispatched":  # still open: what follows help sent is offered
            after = _alarm(app.get(SCREEN, headers=HTML).text, found.button)
            assert 'value="on_site"' in after and 'value="done"' in after and 'value="visit_dispatched"' not in after
            assert "Så langt: Hjelp sendt (response_centre a," in visible_text(after)
    assert transitions(url, found.button)[1:] == ["acknowledged", "outcome", "outcome", "resolved"]
    stored = named_rows(url, "SELECT o.outcome, o.note, o.recorded_by, a.acknowledged_by FROM alert_outcomes o "
                        "JOIN alerts a ON a.id = o.alert_id WHERE a.id = %s ORDER BY o.id", found.button)  # fmt: skip
    operator = tenants.a.staff[Role.RESPONSE_CENTRE]
    assert stored == [
        {"outcome": "visit_dispatched", "note": "Hjemmetjenesten varslet", "recorded_by": operator,
         "acknowledged_by": operator},
        {"outcome": "done", "note": None, "recorded_by": operator, "acknowledged_by": operator},
    ]  # fmt: skip
    audited = named_rows(url, "SELECT action FROM audit_log WHERE patient_id = %s AND principal_id = %s "
                         "AND outcome = 'allowed' ORDER BY id", found.patient_id, str(operator))  # fmt: skip
    assert [r["action"] for r in audited] == ["alerts.acknowledge", "alerts.outcome", "alerts.outcome"]
    handled = visible_text(app.get(SCREEN, headers=HTML).text.split('id="handled-heading"')[1])
    assert "Trygghetsalarm utløst: Kari Tatt etter " in handled and "Ferdig" in handled


def test_the_share_taken_within_60_seconds_is_shown(app: TestClient, web_db: TestDatabase) -> None:
    town = build_tenant(web_db.runtime_url, "c", "1103")  # a municipality of its own: only this test's alarms
    _operator(app, town)
    empty = visible_text(app.get(SCREEN, headers=HTML).text)
    assert "Ingen alarmer å telle det siste døgnet" in empty and "Ingen åpne alarmer." in empty
    found = alarm_patient(app, web_db.runtime_url, town, "Kari Sekunder")
    csrf = csrf_of(app.get(SCREEN, headers=HTML).text)
    app.post(f"{SCREEN}/{found.button}/take", data={"csrf_token": csrf}, headers=HTML)
    assert "Tatt innen 60 sekunder det siste døgnet: 100\u00a0% (1 av 1 alarm)" in visible_text(
        app.get(SCREEN, headers=HTML).text
    )
    english = visible_text(app.get(SCREEN, headers={**HTML, "Accept-Language": "en"}).text)
    assert "Taken within 60 seconds over the last 24 hours: 100% (1 of 1 alarm)" in english


def test_refusals_are_shown_at_the_alarm_and_nothing_is_written(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    found, csrf = _on_duty(app, tenants.a, url, "Kari Avvist")
    app.post(f"{SCREEN}/{found.button}/take", data={"csrf_token": csrf}, headers=HTML)
    before = transitions(url, found.button)
    for data, status, words in (
        ({"outcome": "maybe"}, 422, "Velg hva som ble gjort."),
        ({"outcome": "false_alarm", "note": "x" * 2001}, 422, "Teksten er for lang."),
    ):
        refused = app.post(f"{SCREEN}/{found.button}/outcome", data={"csrf_token": csrf, **data}, headers=HTML)
        assert refused.status_code == status and words in _alarm(refused.text, found.button)
        assert f'id="alarm-{found.button}-error"' in refused.text
    assert transitions(url, found.button) == before
    app.post(f"{SCREEN}/{found.button}/outcome", data={"csrf_token": csrf, "outcome": "false_alarm"}, headers=HTML)
    again = app.post(f"{SCREEN}/{found.button}/outcome", data={"csrf_token": csrf, "outcome": "false_alarm"},
                     headers=HTML)  # fmt: skip
    assert again.status_code == 409 and "Noen har allerede avsluttet dette varselet." in again.text
    assert transitions(url, found.button) == [*before, "outcome", "resolved"]


def test_forms_without_the_sessions_token_change_nothing(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    found, _csrf = _on_duty(app, tenants.a, web_db.runtime_url, "Kari Forfalsket")
    for token in (None, "", "forged-token-0123456789"):
        for action, fields in (("take", {}), ("outcome", {"outcome": "false_alarm"})):
            data = fields if token is None else {**fields, "csrf_token": token}
            answer = app.post(f"{SCREEN}/{found.button}/{action}", data=data, headers=HTML)
            assert answer.status_code == 403 and "Ingenting ble lagret" in answer.text, (action, token)
    assert transitions(web_db.runtime_url, found.button) == ["triggered"]


def test_another_municipalitys_alarm_is_not_found_nothing_written_and_audited_in_both(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    foreign = alarm_patient(app, url, tenants.b, "Kari Utenbys")
    csrf = _operator(app, tenants.a)
    assert f'id="alarm-{foreign.button}"' not in app.get(SCREEN, headers=HTML).text
    for action, fields in (("take", {}), ("outcome", {"outcome": "false_alarm"})):
        answer = app.post(f"{SCREEN}/{foreign.button}/{action}", data={"csrf_token": csrf, **fields}, headers=HTML)
        assert answer.status_code == 404 and "hører til en annen kommune" in answer.text
    assert transitions(url, foreign.button) == ["triggered"]
    denied = named_rows(url, "SELECT municipality_id, action FROM audit_log WHERE principal_id = %s AND "
                        "outcome = 'denied' AND patient_id = %s", str(tenants.a.staff[Role.RESPONSE_CENTRE]),
                        foreign.patient_id)  # fmt: skip
    assert {(r["municipality_id"], r["action"]) for r in denied} == {
        (town, action) for town in (tenants.a.municipality_id, tenants.b.municipality_id)
        for action in ("alerts.acknowledge", "alerts.outcome")
    }  # fmt: skip


def test_a_nurse_neither_opens_the_screen_nor_uses_its_forms(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    mine = alarm_patient(app, url, tenants.a, "Kari Sykepleier")  # in the nurse's own team
    app.cookies.clear()
    sign_in(app, tenants.a.usernames[Role.NURSE])
    refused = app.get(SCREEN, headers=HTML)
    assert refused.status_code == 403 and "Kari Sykepleier" not in refused.text
    assert 'href="/response-centre"' not in refused.text  # not in her menu either
    answer = app.post(f"{SCREEN}/{mine.button}/take", data={"csrf_token": csrf_of(refused.text)}, headers=HTML)
    assert answer.status_code == 403 and transitions(url, mine.button) == ["triggered"]
    denied = named_rows(url, "SELECT action FROM audit_log WHERE principal_id = %s AND outcome = 'denied' AND "
                        "resource = ANY(%s)", str(tenants.a.staff[Role.NURSE]),
                        [f"GET {SCREEN}", SCREEN, f"POST {SCREEN}/{mine.button}/take"])  # fmt: skip
    assert {r["action"] for r in denied} >= {"response_centre.read", "alerts.acknowledge"}
