"""The shift handover page on the real application (in this process, on a real database): what happened to my
teams' patients since a chosen time, with outcomes and who acted, what is still open, paused patients and
waiting proposals; the default start; a start the service refuses shown next to the field; the start page
and the menu per role."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from common.timefmt import OSLO
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants
from tests.web.helpers import HTML, UUID_TEXT, alerting_patient, sign_in, visible_text


def _section(page: str, key: str) -> str:
    """The words of one section of the handover."""
    found = re.search(rf'<section class="panel" id="{key}".*?</section>', page, re.DOTALL)
    assert found, f"no section {key}"
    return visible_text(found.group(0))


def test_the_handover_says_what_happened_and_what_waits_in_both_languages(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    found = alerting_patient(app, url, tenants.a, "Kari Vaktskifte")
    other_team = alerting_patient(app, url, tenants.a, "Sør Vaktskifte", team="Sør")
    nurse = tenants.a.auth(Role.NURSE)
    outcome = {"outcome": "false_alarm", "note": "Trykket ved et uhell"}
    assert app.post(f"/api/v1/alerts/{found.button}/outcomes", json=outcome, headers=nurse).status_code == 201
    pause = {"reason": "Innlagt på sykehus", "until": (datetime.now(UTC) + timedelta(days=3)).isoformat()}
    assert app.post(f"/api/v1/patients/{found.patient_id}/pause", json=pause, headers=nurse).status_code == 201
    with psycopg.connect(url, autocommit=True) as conn:  # the hourly job's proposal, as it writes one
        conn.execute(
            "INSERT INTO baseline_proposals (patient_id, municipality_id, occasion, period_from, period_to, method, "
            "rules) VALUES (%s, %s, 'trial_ended', now() - interval '14 days', now(), '{}', '[]')",
            (found.patient_id, tenants.a.municipality_id),
        )
    app.cookies.clear()
    sign_in(app, tenants.a.usernames[Role.NURSE])
    words = {
        "nb": ("Vaktoverlevering", "Falsk alarm", "Løst", "Innlagt på sykehus", "Prøveperioden er over",
               "Forhøyet NEWS2"),
        "en": ("Shift handover", "False alarm", "Resolved", "Innlagt på sykehus", "The trial period has ended",
               "NEWS2 raised"),
    }  # fmt: skip
    for language, (heading, outcome_word, resolved_word, reason, occasion, news2) in words.items():
        page = app.get("/handover", headers={**HTML, "Accept-Language": language})
        assert page.status_code == 200 and f"<h1>{heading}</h1>" in page.text
        resolved = _section(page.text, "resolved")
        assert "Kari Vaktskifte" in resolved and f"{outcome_word}," in resolved
        assert "(nurse a): Trykket ved et uhell" in resolved
        assert f"{resolved_word} " in resolved
        still_open = _section(page.text, "still_open")
        assert news2 in still_open and "Kari Vaktskifte" in still_open
        assert "Kari Vaktskifte" in _section(page.text, "opened")
        assert reason in _section(page.text, "paused") and "(nurse a)" in _section(page.text, "paused")
        assert f"Kari Vaktskifte: {occasion}" in _section(page.text, "waiting")
        assert "Sør Vaktskifte" not in page.text  # another team's patient is not handed over to her
        assert f'href="/patients/{found.patient_id}"' in page.text  # the patient's page, from the rows
        assert not UUID_TEXT.search(visible_text(page.text))
    assert f"/alerts/{other_team.button}" not in app.get("/handover", headers=HTML).text


def test_the_default_start_is_eight_hours_ago_in_norwegian_time(app: TestClient, tenants: Tenants) -> None:
    app.cookies.clear()
    sign_in(app, tenants.a.usernames[Role.NURSE])
    page = app.get("/handover", headers=HTML).text
    typed = re.search(r'id="handover-since" name="since" value="([^"]+)"', page)
    assert typed
    expected = datetime.now(OSLO) - timedelta(hours=8)
    start = datetime.fromisoformat(typed.group(1)).replace(tzinfo=OSLO)
    assert abs(start - expected) < timedelta(minutes=2)
    chosen = (datetime.now(OSLO) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    assert f'value="{chosen}"' in app.get(f"/handover?since={chosen}", headers=HTML).text


@pytest.mark.parametrize(
    ("since", "message"),
    [
        ("2999-01-01T08:00", "Starten på overleveringen kan ikke være fram i tid."),
        ("2000-01-01T08:00", "Overleveringen dekker høyst 7 dager."),
        ("i går kveld", "Oppgi starten som dato og klokkeslett."),
        ("2026-12-03T08:00+01:00", "Oppgi starten som dato og klokkeslett."),
    ],
)
def test_a_start_the_service_refuses_is_shown_next_to_the_field(
    app: TestClient, tenants: Tenants, since: str, message: str
) -> None:
    app.cookies.clear()
    sign_in(app, tenants.a.usernames[Role.NURSE])
    page = app.get("/handover", params={"since": since}, headers=HTML)
    assert page.status_code == 422
    assert f'<p class="form-error" id="handover-since-error">{message}</p>' in page.text
    assert 'aria-invalid="true" aria-describedby="handover-since-error"' in page.text
    assert f'value="{since}"' in page.text and 'id="still_open"' not in page.text  # as typed; nothing read


def test_each_role_lands_on_its_own_page_and_sees_its_own_menu(app: TestClient, tenants: Tenants) -> None:
    menus = {
        Role.NURSE: ("/", ["/", "/handover", "/fleet"]),
        Role.RESPONSE_CENTRE: ("/response-centre", ["/response-centre", "/", "/handover", "/fleet"]),
        Role.MUNICIPALITY_ADMIN: (
            "/",
            ["/", "/response-centre", "/handover", "/registry/patients", "/admin", "/fleet", "/kits"],
        ),
        Role.INSTALLER: ("/fleet", ["/fleet", "/kits"]),
        Role.AUDITOR: ("/audit", ["/audit"]),
    }
    for role, (landing, menu) in menus.items():
        app.cookies.clear()
        signed_in = sign_in(app, tenants.a.usernames[role])
        assert signed_in.headers["location"] == "/start"
        page = app.get("/start", headers=HTML)
        assert str(page.url).removeprefix("http://testserver") == landing, role
        nav = re.search(r"<nav aria-label=[^>]*>(.*?)</nav>", page.text, re.DOTALL)
        assert nav and re.findall(r'href="([^"]+)"', nav.group(1)) == menu, role
    # An auditor (the last signed in) who opens the worklist is sent on to the audit log, not refused.
    worklist = app.get("/", headers=HTML)
    assert worklist.status_code == 200 and str(worklist.url).endswith("/audit")
