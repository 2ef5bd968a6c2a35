"""The pages on the real application (in this process, on a real database): sign-in and the way back to a deep
link, the worklist and the alert page, their forms through the same services and access policy as the API,
and what a browser must never get (another team's or municipality's alert, a change without the CSRF token,
an open redirect)."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from tests.support.db import named_rows
from tests.support.services import TestDatabase
from tests.support.tenants import PASSWORD, Tenants
from tests.web.helpers import HTML, alerting_patient, csrf_of, nurse_on_alert_page, sign_in, transitions


def test_the_sign_in_form_works_without_javascript_and_returns_to_the_deep_link(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    found = alerting_patient(app, web_db.runtime_url, tenants.a, "Deep Link")
    app.cookies.clear()
    signed_out = app.get(f"/alerts/{found.news2}", headers=HTML, follow_redirects=False)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == f"/signin?next=/alerts/{found.news2}"
    form = app.get(signed_out.headers["location"])
    assert f'name="next" value="/alerts/{found.news2}"' in form.text and "<script" not in form.text
    signed_in = sign_in(app, tenants.a.usernames[Role.NURSE], f"/alerts/{found.news2}")
    assert signed_in.status_code == 303 and signed_in.headers["location"] == f"/alerts/{found.news2}"
    cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = app.get(signed_in.headers["location"], headers=HTML)
    assert page.status_code == 200 and "Deep Link" in page.text
    # The worklist sends a signed-out browser to sign-in whatever it accepts: it is only ever a page.
    app.cookies.clear()
    assert app.get("/", follow_redirects=False).headers["location"] == "/signin?next=/"


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "/%0d%0aX: y"]
)
def test_sign_in_returns_only_to_paths_of_this_service(app: TestClient, tenants: Tenants, target: str) -> None:
    response = sign_in(app, tenants.a.usernames[Role.NURSE], target)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/") and not location.startswith("//") and "evil" not in location
    assert "\r" not in location and "\n" not in location


def test_a_sign_in_posted_from_another_site_is_refused(app: TestClient, tenants: Tenants) -> None:
    app.cookies.clear()
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site", "Origin": "null"},
                    {"Origin": "null"}):  # fmt: skip
        response = app.post(
            "/signin", data={"username": tenants.a.usernames[Role.NURSE], "password": PASSWORD, "next": "/"},
            headers={**HTML, **headers}, follow_redirects=False,
        )  # fmt: skip
        assert response.status_code == 403 and "set-cookie" not in response.headers, headers
    same = {"Sec-Fetch-Site": "same-origin", "Origin": "null"}  # what Chromium sends under no-referrer
    response = app.post("/signin", data={"username": tenants.a.usernames[Role.NURSE], "password": PASSWORD},
                        headers={**HTML, **same}, follow_redirects=False)  # fmt: skip
    assert response.status_code == 303


def test_the_form_and_the_json_sign_in_share_one_throttle(app: TestClient) -> None:
    username = f"nobody.{uuid.uuid4().hex[:8]}"
    for _ in range(5):  # the free failures of one user from one client (TRYGGHEIM_LOGIN_FREE_FAILURES)
        wrong = app.post("/signin", data={"username": username, "password": "wrong", "next": "/"}, headers=HTML)
        assert wrong.status_code == 401 and "Feil brukernavn eller passord." in wrong.text
        assert 'aria-invalid="true"' in wrong.text
    assert app.post("/auth/login", json={"username": username, "password": "wrong"}).status_code == 429
    held = app.post("/signin", data={"username": username, "password": "wrong", "next": "/"}, headers=HTML)
    assert held.status_code == 429 and held.headers["retry-after"] and "prøv igjen om" in held.text


def test_the_worklist_groups_my_teams_alerts_and_filters_them(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    mine = alerting_patient(app, web_db.runtime_url, tenants.a, "Worklist Mine")
    other_team = alerting_patient(app, web_db.runtime_url, tenants.a, "Worklist Sor", team="Sør")
    sign_in(app, tenants.a.usernames[Role.NURSE])
    page = app.get("/", headers=HTML)
    assert page.status_code == 200
    assert "Worklist Mine" in page.text and "Worklist Sor" not in page.text
    assert f'data-alert-id="{mine.episode}"' in page.text and f'data-alert-id="{mine.button}"' in page.text
    assert f'data-alert-id="{mine.news2}"' not in page.text  # NEWS2 is shown through its worsening episode
    assert "Rød" in page.text and "icon-red" in page.text  # colour, icon and word
    assert 'class="spark"' in page.text and "86\u00a0%" in page.text  # the sparkline's label, Norwegian units
    fragment = app.get("/?severity=yellow", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<section id="worklist"') and "Worklist Mine" not in fragment.text
    wrong = app.get("/?severity=purple", headers=HTML)
    assert wrong.status_code == 422 and 'id="filter-severity-error"' in wrong.text
    assert f'data-alert-id="{other_team.episode}"' not in app.get("/?team=", headers=HTML).text


def test_forms_act_through_the_same_service_and_audit_as_the_api(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    found, csrf = nurse_on_alert_page(app, url, tenants.a, "Form Actions")
    for action, fields in (
        ("acknowledge", {}),
        ("comment", {"body": "Ringte datteren"}),
        ("outcome", {"outcome": "visit_dispatched", "at": "", "note": ""}),
        ("outcome", {"outcome": "done", "at": "", "note": "Alt i orden"}),
    ):
        answer = app.post(f"/alerts/{found.news2}/{action}", data={"csrf_token": csrf, **fields}, headers=HTML,
                          follow_redirects=False)  # fmt: skip
        assert answer.status_code == 303, (action, answer.text)
        assert answer.headers["location"].startswith(f"/alerts/{found.news2}?done=")
    assert transitions(url, found.news2)[1:] == ["acknowledged", "commented", "outcome", "outcome", "resolved"]
    audited = named_rows(url, "SELECT action FROM audit_log WHERE patient_id = %s AND action LIKE 'alerts.%%' "
                              "AND outcome = 'allowed' ORDER BY id", found.patient_id)  # fmt: skip
    assert [r["action"] for r in audited][-4:] == ["alerts.acknowledge", "alerts.comment", "alerts.outcome",
                                                   "alerts.outcome"]  # fmt: skip
    page = app.get(f"/alerts/{found.news2}?done=outcome", headers=HTML).text
    assert "Utfallet er registrert." in page and "Ringte datteren" in page and "nurse a" in page


def test_a_snooze_that_ends_in_the_past_or_an_outcome_in_the_future_is_refused_next_to_the_field(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    found, csrf = nurse_on_alert_page(app, url, tenants.a, "Bad Times")
    before = transitions(url, found.news2)
    for action, fields, field, message in (
        ("snooze", {"until": "2020-01-01T10:00"}, "snooze-until", "Sluttidspunktet har passert"),
        ("snooze", {"until": ""}, "snooze-until", "Velg når pausen slutter."),
        ("snooze", {"until": "tomorrow"}, "snooze-until", "Oppgi slutten som dato og klokkeslett."),
        ("outcome", {"outcome": "on_site", "at": "2999-01-01T10:00"}, "outcome-at", "kan ikke være i fremtiden"),
        ("outcome", {"outcome": "maybe"}, "outcome-outcome", "Velg hva som ble gjort."),
        ("outcome", {"outcome": "on_site", "at": "2000-01-01T10:00"}, "outcome-at", "før varselet ble åpnet"),
        ("resolve", {"resolution": " x "}, "resolve-resolution", "Skriv hvordan varselet endte"),
        ("comment", {"body": "   "}, "comment-body", "Skriv en kommentar."),
    ):
        answer = app.post(f"/alerts/{found.news2}/{action}", data={"csrf_token": csrf, **fields}, headers=HTML)
        assert answer.status_code == 422, (action, fields, answer.status_code)
        assert f'id="{field}-error"' in answer.text and message in answer.text, (action, fields)
        assert f'aria-describedby="{field}-error"' in answer.text
    assert transitions(url, found.news2) == before


FORMS = (
    ("acknowledge", {}),
    ("comment", {"body": "x"}),
    ("resolve", {"resolution": "abc"}),
    ("snooze", {"until": "2099-01-01T10:00"}),
    ("outcome", {"outcome": "done"}),
)


def test_forms_without_or_with_a_forged_csrf_token_change_nothing(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    found = alerting_patient(app, url, tenants.a, "Forged Form")
    sign_in(app, tenants.a.usernames[Role.NURSE])
    before = transitions(url, found.news2)
    for token in (None, "", "forged-token-0123456789"):
        for action, fields in FORMS:
            data = fields if token is None else {**fields, "csrf_token": token}
            answer = app.post(f"/alerts/{found.news2}/{action}", data=data, headers=HTML)
            assert answer.status_code == 403, (action, token)
            assert "Ingenting ble lagret" in answer.text
    assert app.post("/signout", data={"csrf_token": "forged"}, headers=HTML).status_code == 403
    assert transitions(url, found.news2) == before
    assert app.get("/", headers=HTML).status_code == 200  # the session survived the forged sign-out


def test_another_teams_or_municipalitys_alert_is_a_page_of_its_own_with_nothing_written_and_audited(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    south = alerting_patient(app, url, tenants.a, "Other Team", team="Sør")
    foreign = alerting_patient(app, url, tenants.b, "Other Town")
    sign_in(app, tenants.a.usernames[Role.NURSE])
    nurse = str(tenants.a.staff[Role.NURSE])
    for alert, status, words in ((south.news2, 403, "hører ikke til teamene dine"),
                                 (foreign.news2, 404, "hører til en annen kommune")):  # fmt: skip
        page = app.get(f"/alerts/{alert}", headers=HTML)
        assert page.status_code == status and words in page.text and "Feilkode" in page.text
        csrf = csrf_of(page.text)  # the header's sign-out form: the person is still shown as signed in
        before = transitions(url, alert)
        posted = app.post(f"/alerts/{alert}/acknowledge", data={"csrf_token": csrf}, headers=HTML)
        assert posted.status_code == status
        assert transitions(url, alert) == before
        denied = named_rows(url, "SELECT action FROM audit_log WHERE principal_id = %s AND outcome = 'denied' "
                                 "AND resource = ANY(%s)", nurse,
                            [f"GET /alerts/{alert}", f"POST /alerts/{alert}/acknowledge"])  # fmt: skip
        assert {r["action"] for r in denied} == {"alerts.read", "alerts.acknowledge"}
    assert app.get("/alerts/999999999", headers=HTML).status_code == 404


def test_api_clients_keep_their_json(app: TestClient, web_db: TestDatabase, tenants: Tenants) -> None:
    found = alerting_patient(app, web_db.runtime_url, tenants.a, "Json Client")
    app.cookies.clear()
    nurse = {**tenants.a.auth(Role.NURSE), "Accept-Language": "en"}
    link = app.get(f"/alerts/{found.news2}", headers=nurse)
    assert link.headers["content-type"] == "application/json"
    assert link.json() == app.get(f"/api/v1/alerts/{found.news2}", headers=nurse).json()
    # API clients get the refusal in words too: bokmål unless they ask for English.
    assert app.get("/alerts/999999999", headers=nurse).json() == {"detail": "No such alert."}
    norwegian = {**nurse, "Accept-Language": "nb-NO"}
    assert app.get("/alerts/999999999", headers=norwegian).json() == {"detail": "Varselet finnes ikke."}
    assert app.get(f"/alerts/{found.news2}", headers={"Accept-Language": "en"}).json() == {"detail": "Sign in first."}
    assert app.get(f"/alerts/{found.news2}").json() == {"detail": "Logg inn først."}
    assert app.get("/no/such/page").json() == {"detail": "Not Found"}


def test_the_language_switch_is_remembered(app: TestClient, tenants: Tenants) -> None:
    sign_in(app, tenants.a.usernames[Role.NURSE])
    assert '<html lang="nb">' in app.get("/", headers=HTML).text
    switched = app.post("/language", data={"language": "en", "next": "/?state=triggered"}, follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/?state=triggered"
    page = app.get("/", headers={**HTML, "Accept-Language": "nb-NO"}).text
    assert '<html lang="en">' in page and "Worklist" in page and "Demo mode" in page
    app.post("/language", data={"language": "nb", "next": "//evil.example"})
    assert '<html lang="nb">' in app.get("/", headers=HTML).text
