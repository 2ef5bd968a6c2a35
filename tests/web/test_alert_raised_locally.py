"""An alarm the gateway raised locally while its uplink was down: the alert's detail (API) lists every local
attempt, and the alert page's escalation timeline says "raised locally at ... by the siren / SMS" in bokmål
and English."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from cloud.access.roles import Role
from tests.support.kits import reading
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants
from tests.web.helpers import HTML, equipped_patient, ingest, sign_in, visible_text, wait_for_alerts


def test_the_alert_shows_how_the_gateway_raised_the_alarm_locally(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    patient, kit = equipped_patient(app, web_db.runtime_url, tenants.a, "Lokal Alarm")
    pressed = datetime.now(UTC) - timedelta(minutes=3)
    attempts = [
        {"at": (pressed + timedelta(seconds=61)).isoformat(), "path": "siren", "ok": True,
         "detail": "siren hall-siren: answered"},
        {"at": (pressed + timedelta(seconds=62)).isoformat(), "path": "sms", "ok": False,
         "detail": "SMS not sent: route 1: unreachable (ConnectError); route 2: refused (503)"},
        {"at": (pressed + timedelta(seconds=92)).isoformat(), "path": "sms", "ok": True,
         "detail": "SMS to 1 recipient(s) via route 2"},
    ]  # fmt: skip
    press = reading(1, kit.button, "alarm.button", 1, "1", measured_at=pressed, raised_locally=attempts)
    ingest(app, kit, [press])
    alert = wait_for_alerts(web_db.runtime_url, patient, {"wf.alarm_button"})["wf.alarm_button"]
    nurse = tenants.a.auth(Role.NURSE)
    detail = app.get(f"/api/v1/alerts/{alert}", headers=nurse).json()
    assert [(a["path"], a["ok"], a["detail"]) for a in detail["raised_locally"]] == [
        (a["path"], a["ok"], a["detail"]) for a in attempts
    ]
    assert {a["reading_at"] for a in detail["raised_locally"]} == {detail["readings"][0]["t"]}
    app.cookies.clear()
    sign_in(app, tenants.a.usernames[Role.NURSE])
    norsk = visible_text(app.get(f"/alerts/{alert}", headers={**HTML, "Accept-Language": "nb-NO"}).text)
    assert "Varslet lokalt av gatewayen" in norsk
    assert norsk.count("med sirenen") == 1 and "Lokalt forsøk" in norsk and "mislyktes" in norsk
    assert "route 2: refused (503)" in norsk
    english = visible_text(app.get(f"/alerts/{alert}", headers={**HTML, "Accept-Language": "en"}).text)
    assert "Raised locally by the gateway" in english and "by the siren." in english and "by SMS." in english
