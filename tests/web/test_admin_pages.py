"""The registry, administration and audit pages in this process: every page renders in bokmål and English with
nothing missing from the catalogue and nothing inline; forms with invalid fields show the message next to the
field and write nothing; another municipality's home or patient is a 404 page that tells nothing (and the
probe of a patient is audited in both municipalities); a nurse posting to an administrator's form and a form
without the CSRF token are refused with a page; the escalation page shows the validator's own message for the
field at fault, as the API does."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cloud.access import anchor
from cloud.access.roles import Role
from cloud.db.pool import connect
from common.timefmt import OSLO
from tests.support.db import named_rows
from tests.support.kits import reading
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, insert_patient
from tests.web.helpers import HTML, csrf_of, equipped_patient, ingest, sign_in, visible_text
from tests.web.test_page_rules import Inline, Misses, recording

ADMIN_PAGES = ("/admin", "/admin/staff", "/admin/protocols", "/admin/escalation", "/registry/patients",
               "/registry/patients?lifecycle=active", "/registry/homes", "/registry/consents")  # fmt: skip


def _count(url: str, query: str, *args: Any) -> int:
    sql = f"SELECT count(*) AS n FROM {query}"  # noqa: S608 - the tests' own table names
    return int(named_rows(url, sql, *args)[0]["n"])


def _home(app: TestClient, tenants: Tenants, key: str = "a") -> UUID:
    tenant = tenants.a if key == "a" else tenants.b
    answer = app.post(
        "/api/v1/homes", json={"address": f"Testveien {key}"}, headers=tenant.auth(Role.MUNICIPALITY_ADMIN)
    )
    assert answer.status_code == 201, answer.text
    return UUID(answer.json()["id"])


def _admin(app: TestClient, tenants: Tenants, page: str) -> str:
    sign_in(app, tenants.a.usernames[Role.MUNICIPALITY_ADMIN])
    return csrf_of(app.get(page, headers=HTML).text)


@pytest.fixture(scope="module")
def patient(web_db: TestDatabase, tenants: Tenants) -> UUID:
    return insert_patient(web_db.runtime_url, tenants.a.municipality_id, tenants.a.teams["Nord"], "Registry Person")


def test_every_page_renders_in_both_languages_with_nothing_missing_or_inline(
    app: TestClient, web_db: TestDatabase, tenants: Tenants, patient: UUID
) -> None:
    home = _home(app, tenants)
    misses = Misses()
    app.app.state.pages = recording(misses)  # type: ignore[attr-defined]
    try:
        for language in ("nb", "en"):
            headers = {**HTML, "Accept-Language": language}
            sign_in(app, tenants.a.usernames[Role.MUNICIPALITY_ADMIN])
            pages = [*ADMIN_PAGES, f"/registry/homes/{home}", f"/registry/patients/{patient}"]
            answers = {path: app.get(path, headers=headers) for path in pages}
            sign_in(app, tenants.a.usernames[Role.AUDITOR])
            answers["/audit"] = app.get("/audit?verify=1", headers=headers)
            sign_in(app, tenants.a.usernames[Role.NURSE])
            answers["nurse"] = app.get(f"/registry/patients/{patient}", headers=headers)
            for path, answer in answers.items():
                assert answer.status_code == 200, (path, language, answer.text[:300])
                assert f'<html lang="{language}">' in answer.text, path
                parser = Inline()
                parser.feed(answer.text)
                assert parser.found == [], path
            assert ("Eskaleringsplan" if language == "nb" else "Escalation policy") in answers["/admin/escalation"].text
            assert ("Revisjonslogg" if language == "nb" else "Audit log") in answers["/audit"].text
    finally:
        app.app.state.pages = None  # type: ignore[attr-defined]
    assert misses.texts == set()


def test_the_auditor_lands_on_the_audit_log_which_filters_and_verifies_the_chain(
    app: TestClient, tenants: Tenants, patient: UUID
) -> None:
    answer = sign_in(app, tenants.a.usernames[Role.AUDITOR])
    assert app.get(answer.headers["location"], headers=HTML, follow_redirects=False).headers["location"] == "/audit"
    sign_in(app, tenants.a.usernames[Role.NURSE])
    app.get(f"/registry/patients/{patient}", headers=HTML)
    sign_in(app, tenants.a.usernames[Role.AUDITOR])
    nurse = str(tenants.a.staff[Role.NURSE])
    page = app.get(
        f"/audit?patient={patient}&person={nurse}&action=patient.read&verify=1",
        headers={**HTML, "Accept-Language": "en"},
    )
    text = visible_text(page.text)
    assert page.status_code == 200 and "The hash chain holds" in text
    assert f"/registry/patients/{patient}" in text and "<td>patient.search</td>" not in page.text
    bad = app.get("/audit?patient=nonsense&since=2026-13-01", headers={**HTML, "Accept-Language": "en"})
    assert bad.status_code == 422 and 'id="audit-patient-error"' in bad.text and 'id="audit-since-error"' in bad.text


def test_a_home_form_with_invalid_fields_shows_the_errors_and_writes_nothing(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    token = _admin(app, tenants, "/registry/homes")
    before = _count(web_db.runtime_url, "homes")
    answer = app.post("/registry/homes", data={"csrf_token": token, "address": " ", "phone": "1"}, headers=HTML)
    assert answer.status_code == 422
    assert 'id="home-address-error"' in answer.text and 'id="home-phone-error"' in answer.text
    assert _count(web_db.runtime_url, "homes") == before
    made = app.post("/registry/homes", data={"csrf_token": token, "address": "Nyveien 2", "phone": "22 00 11 22"},
                    headers=HTML, follow_redirects=False)  # fmt: skip
    assert made.status_code == 303 and _count(web_db.runtime_url, "homes") == before + 1
    changed = app.post(made.headers["location"].split("?")[0], data={"csrf_token": token, "address": "Nyveien 3"},
                       headers=HTML)  # fmt: skip
    assert changed.status_code == 200 and "Nyveien 3" in changed.text


def test_another_municipalitys_home_and_patient_are_404_pages_and_the_probe_is_audited(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    foreign_home = _home(app, tenants, "b")
    foreign = insert_patient(web_db.runtime_url, tenants.b.municipality_id, tenants.b.teams["Nord"], "Elsewhere")
    token = _admin(app, tenants, "/registry/homes")
    headers = {**HTML, "Accept-Language": "en"}
    for answer in (app.get(f"/registry/homes/{foreign_home}", headers=headers),
                   app.post(f"/registry/homes/{foreign_home}", data={"csrf_token": token, "address": "X"},
                            headers=headers)):  # fmt: skip
        assert answer.status_code == 404 and "no such home, or it belongs to another municipality" in answer.text
    answer = app.get(f"/registry/patients/{foreign}", headers=headers)
    assert answer.status_code == 404 and "Elsewhere" not in answer.text
    assert "no such patient, or they belong to another municipality" in answer.text
    rows = named_rows(web_db.runtime_url, "SELECT municipality_id, outcome FROM audit_log WHERE patient_id = %s "
                      "AND action = 'patient.read'", foreign)  # fmt: skip
    assert {(r["municipality_id"], r["outcome"]) for r in rows} == {
        (tenants.a.municipality_id, "denied"),
        (tenants.b.municipality_id, "denied"),
    }
    assert (
        named_rows(web_db.runtime_url, "SELECT address FROM homes WHERE id = %s", foreign_home)[0]["address"]
        == "Testveien b"
    )


def test_a_nurse_posting_to_an_admin_form_and_a_form_without_csrf_are_refused_with_a_page(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    sign_in(app, tenants.a.usernames[Role.NURSE])
    token = csrf_of(app.get("/", headers=HTML).text)
    before = _count(web_db.runtime_url, "staff")
    data = {"csrf_token": token, "username": "nurse.made", "display_name": "X", "role": "nurse"}
    refused = app.post("/admin/staff", data=data, headers={**HTML, "Accept-Language": "en"})
    assert refused.status_code == 403 and "You do not have access to this" in refused.text
    assert app.get("/admin/escalation", headers=HTML).status_code == 403
    _admin(app, tenants, "/admin/staff")
    missing = app.post("/admin/staff", data={**data, "csrf_token": ""}, headers={**HTML, "Accept-Language": "en"})
    assert missing.status_code == 403 and "Nothing was saved" in missing.text
    assert _count(web_db.runtime_url, "staff") == before


def test_staff_and_teams_are_added_placed_and_deactivated(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    token = _admin(app, tenants, "/admin/staff")
    bad = app.post("/admin/staff", data={"csrf_token": token, "username": "ø", "display_name": "", "role": "boss",
                                         "password": "short"}, headers=HTML)  # fmt: skip
    assert bad.status_code == 422
    for field in ("username", "display_name", "role", "password"):
        assert f'id="staff-{field}-error"' in bad.text, field
    data = {"csrf_token": token, "username": "page.made", "display_name": "Side Laget", "role": "nurse"}
    assert app.post("/admin/staff", data=data, headers=HTML, follow_redirects=False).status_code == 303
    taken = app.post("/admin/staff", data=data, headers=HTML)
    assert taken.status_code == 409 and 'id="staff-username-error"' in taken.text
    made = named_rows(web_db.runtime_url, "SELECT id FROM staff WHERE username = 'page.made'")[0]["id"]
    team = {"csrf_token": token, "team_id": str(tenants.a.teams["Sør"])}
    assert app.post(f"/admin/staff/{made}/teams", data=team, headers=HTML, follow_redirects=False).status_code == 303
    gone = app.post(f"/admin/staff/{made}/deactivate", data={"csrf_token": token}, headers=HTML, follow_redirects=False)
    assert gone.status_code == 303
    row = named_rows(web_db.runtime_url, "SELECT active, (SELECT count(*) FROM staff_teams WHERE staff_id = %s) AS "
                     "teams FROM staff WHERE id = %s", made, made)[0]  # fmt: skip
    assert row == {"active": False, "teams": 1}


def test_the_escalation_page_shows_the_validators_error_next_to_the_field_and_stores_nothing(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    token = _admin(app, tenants, "/admin/escalation")
    stored = _count(web_db.runtime_url, "escalation_policies WHERE municipality_id = %s", tenants.a.municipality_id)
    answer = app.post("/admin/escalation/policy", data={"csrf_token": token, "p1s1_after_minutes": "-5"}, headers=HTML)
    assert answer.status_code == 422
    assert 'id="p1s1_after_minutes-error"' in answer.text and 'aria-invalid="true"' in answer.text
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    document = {"policies": app.get("/api/v1/escalation/policy", headers=admin).json()["policies"]}
    document["policies"][1]["steps"][1]["after_minutes"] = -5
    api = app.put("/api/v1/escalation/policy", json=document, headers=tenants.a.auth(Role.MUNICIPALITY_ADMIN))
    assert api.status_code == 422 and api.json()["detail"] in visible_text(answer.text)
    alarm = app.post("/admin/escalation/policy", data={"csrf_token": token, "p0s0_after_minutes": "3"}, headers=HTML)
    assert (
        alarm.status_code == 422 and 'id="p0-error"' in alarm.text and "strictly increasing after_minutes" in alarm.text
    )
    endpoint = {"csrf_token": token, "target": "Team Lead", "channel": "email", "address": "x@example.org"}
    refused = app.post("/admin/escalation/endpoints", data=endpoint, headers=HTML)
    assert refused.status_code == 422 and 'id="endpoint-target-error"' in refused.text
    assert (
        _count(web_db.runtime_url, "escalation_policies WHERE municipality_id = %s", tenants.a.municipality_id)
        == stored
    )


def test_lifecycle_consent_protocols_and_release_on_the_patients_registry_page(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    person = insert_patient(web_db.runtime_url, tenants.a.municipality_id, tenants.a.teams["Nord"], "Reg Forms")
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    door = {"profile_id": "aqara-door-window-mccgq11lm", "address": f"door-{person}"}
    device = app.post("/api/v1/devices", json=door, headers=admin).json()["id"]
    assert app.post(f"/api/v1/devices/{device}/assignments", json={"patient_id": str(person)},
                    headers=admin).status_code == 201  # fmt: skip
    page = f"/registry/patients/{person}"
    token = _admin(app, tenants, page)
    no_reason = app.post(f"{page}/lifecycle", data={"csrf_token": token, "to": "paused", "reason": ""}, headers=HTML)
    assert no_reason.status_code == 422 and 'id="lifecycle-reason-error"' in no_reason.text
    moved = app.post(f"{page}/lifecycle", data={"csrf_token": token, "to": "paused", "reason": "på sykehus"},
                     headers=HTML, follow_redirects=False)  # fmt: skip
    assert moved.status_code == 303
    assert (
        named_rows(web_db.runtime_url, "SELECT lifecycle FROM patients WHERE id = %s", person)[0]["lifecycle"]
        == "paused"
    )
    past = (datetime.now(OSLO).date() - timedelta(days=2)).isoformat()
    consent = {"csrf_token": token, "device_id": device, "basis": "consent", "note": "muntlig samtykke"}
    stale = app.post(f"{page}/consents", data={**consent, "review_by": past}, headers=HTML)
    assert stale.status_code == 422 and 'id="consent-review_by-error"' in stale.text
    soon = (datetime.now(OSLO).date() + timedelta(days=10)).isoformat()
    assert app.post(f"{page}/consents", data={**consent, "review_by": soon}, headers=HTML,
                    follow_redirects=False).status_code == 303  # fmt: skip
    assert "Reg Forms" in app.get("/registry/consents", headers=HTML).text
    record = named_rows(web_db.runtime_url, "SELECT id FROM supervision_consents WHERE patient_id = %s", person)[0][
        "id"
    ]
    assert app.post(f"{page}/consents/{record}/withdraw", data={"csrf_token": token}, headers=HTML,
                    follow_redirects=False).status_code == 303  # fmt: skip
    wrong = app.post(
        f"{page}/protocols", data={"csrf_token": token, "protocols": ["heart_failure", "nonsense"]}, headers=HTML
    )
    assert wrong.status_code == 422 and "nonsense" in wrong.text
    assert app.post(f"{page}/protocols", data={"csrf_token": token, "protocols": ["copd"]}, headers=HTML,
                    follow_redirects=False).status_code == 303  # fmt: skip
    backwards = {"csrf_token": token, "device_id": device, "start": "2026-01-02T10:00", "end": "2026-01-02T09:00"}
    refused = app.post(f"{page}/release", data=backwards, headers=HTML)
    assert refused.status_code == 422 and 'id="release-end-error"' in refused.text
    assert named_rows(web_db.runtime_url, "SELECT protocols FROM patient_protocols WHERE patient_id = %s",
                      person)[0]["protocols"] == ["copd"]  # fmt: skip


def test_held_back_readings_are_counted_first_and_then_released_to_the_patient(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    person, kit = equipped_patient(app, url, tenants.a, "Held Back")
    scale = kit.device_ids[kit.scale]
    with psycopg.connect(url, autocommit=True) as conn:  # installed before anyone assigned it
        conn.execute("DELETE FROM device_assignments WHERE device_id = %s", (scale,))
    now = datetime.now(OSLO)
    ingest(app, kit, [reading(i, kit.scale, value=70.0 + i, measured_at=now - timedelta(hours=i)) for i in (1, 2, 3)])
    page = f"/registry/patients/{person}"
    token = _admin(app, tenants, page)
    assert "3 målinger holdt tilbake" in app.get(page, headers=HTML).text
    wall = "%Y-%m-%dT%H:%M"
    start, end = (now - timedelta(hours=2, minutes=30)).strftime(wall), (now + timedelta(minutes=1)).strftime(wall)
    form = {"csrf_token": token, "device_id": str(scale), "start": start, "end": end}
    counted = app.post(f"{page}/release", data={**form, "action": "preview"}, headers=HTML)
    assert counted.status_code == 200 and "2 målinger i dette tidsrommet vil bli frigitt" in counted.text
    assert _count(url, "observations WHERE patient_id = %s", person) == 0
    done = app.post(f"{page}/release", data={**form, "action": "release"}, headers=HTML)
    assert done.status_code == 200 and "2 målinger ble frigitt til pasienten" in done.text
    assert _count(url, "observations WHERE patient_id = %s", person) == 2


def test_a_patient_is_registered_and_their_record_and_contacts_changed_in_call_order(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    token = _admin(app, tenants, "/registry/patients")
    team = str(tenants.a.teams["Nord"])
    before = _count(url, "patients")
    bad = {"csrf_token": token, "display_name": "Ny Pasient", "national_id": "12345678901", "care_team_id": team,
           "lifecycle": "deceased"}  # fmt: skip
    refused = app.post("/registry/patients", data=bad, headers=HTML)
    assert refused.status_code == 422 and 'id="patient-lifecycle-error"' in refused.text
    wrong_number = app.post("/registry/patients", data={**bad, "lifecycle": "trial"}, headers=HTML)
    assert wrong_number.status_code == 422 and 'id="patient-national_id-error"' in wrong_number.text
    assert _count(url, "patients") == before
    made = app.post("/registry/patients", data={**bad, "lifecycle": "trial", "national_id": ""}, headers=HTML,
                    follow_redirects=False)  # fmt: skip
    assert made.status_code == 303 and _count(url, "patients") == before + 1
    page = made.headers["location"].split("?")[0]
    record = {"csrf_token": token, "display_name": "Ny Pasient", "phone": "900 11 222", "care_team_id": team,
              "gp_name": "Dr. Lege", "c0_order": "2", "c0_name": "Ola", "c0_relation": "sønn", "c0_phone": "900 00 001",
              "c1_order": "1", "c1_name": "Kari", "c1_relation": "datter", "c1_phone": "900 00 002",
              "c1_next_of_kin": "yes"}  # fmt: skip
    half = app.post(f"{page}/record", data={**record, "c1_relation": ""}, headers=HTML)
    assert half.status_code == 422 and 'id="record-c1_relation-error"' in half.text
    assert app.post(f"{page}/record", data=record, headers=HTML, follow_redirects=False).status_code == 303
    patient = page.rsplit("/", 1)[1]
    stored = named_rows(url, "SELECT name, next_of_kin FROM patient_contacts WHERE patient_id = %s ORDER BY position",
                        patient)  # fmt: skip
    assert stored == [{"name": "Kari", "next_of_kin": True}, {"name": "Ola", "next_of_kin": False}]
    row = named_rows(url, "SELECT phone, gp, lifecycle FROM patients WHERE id = %s", patient)[0]
    assert row == {"phone": "900 11 222", "gp": {"name": "Dr. Lege"}, "lifecycle": "trial"}


def test_protocols_are_set_for_the_municipality_and_for_a_care_teams_patients(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url = web_db.runtime_url
    token = _admin(app, tenants, "/admin/protocols")
    assert (
        app.post("/admin/teams", data={"csrf_token": token, "name": "Protokollteamet"}, headers=HTML).status_code == 200
    )
    team = named_rows(url, "SELECT id FROM care_teams WHERE name = 'Protokollteamet'")[0]["id"]
    members = [insert_patient(url, tenants.a.municipality_id, team, f"Protokoll {i}") for i in (1, 2)]
    refused = app.post("/admin/protocols/team", data={"csrf_token": token, "team_id": str(team),
                                                      "protocols": ["copd", "no_such"]}, headers=HTML)  # fmt: skip
    assert refused.status_code == 422 and 'id="team-protocols-error"' in refused.text and "no_such" in refused.text
    given = app.post("/admin/protocols/team", data={"csrf_token": token, "team_id": str(team), "protocols": ["copd"]},
                     headers={**HTML, "Accept-Language": "en"})  # fmt: skip
    assert given.status_code == 200 and "2 patients were given the protocols." in given.text
    stored = named_rows(url, "SELECT protocols FROM patient_protocols WHERE patient_id = ANY(%s)", members)
    assert [row["protocols"] for row in stored] == [["copd"], ["copd"]]
    try:
        assert app.post("/admin/protocols", data={"csrf_token": token, "protocols": ["heart_failure"]},
                        headers=HTML, follow_redirects=False).status_code == 303  # fmt: skip
        rows = named_rows(url, "SELECT protocols FROM municipality_protocols WHERE municipality_id = %s",
                          tenants.a.municipality_id)  # fmt: skip
        assert rows == [{"protocols": ["heart_failure"]}]
    finally:  # the other tests' patients follow the built-in default again
        app.post("/admin/protocols", data={"csrf_token": token}, headers=HTML)
    assert _count(url, "municipality_protocols WHERE municipality_id = %s", tenants.a.municipality_id) == 0


def test_the_audit_page_checks_the_chain_against_the_signed_checkpoints(
    app: TestClient, web_db: TestDatabase, tenants: Tenants, tmp_path: Path
) -> None:
    key = Ed25519PrivateKey.generate()

    async def checkpoints() -> list[anchor.Checkpoint]:
        async with await connect(web_db.runtime_url) as conn:
            taken = await anchor.take(conn, key, wait=True)
        assert taken is not None
        return [cp for cp in taken if cp.chain == tenants.a.municipality_id]

    mine = asyncio.run(checkpoints())
    path = tmp_path / "checkpoints.jsonl"
    path.write_text("".join(cp.signed_line(key) + "\n" for cp in mine))
    settings = app.app.state.settings  # type: ignore[attr-defined]
    app.app.state.settings = settings.model_copy(  # type: ignore[attr-defined]
        update={"audit_checkpoint_file": path, "audit_signing_key": SecretStr(anchor.encode_private_key(key))}
    )
    try:
        sign_in(app, tenants.a.usernames[Role.AUDITOR])
        english = {**HTML, "Accept-Language": "en"}
        assert "The log matches the 1 signed checkpoint." in app.get("/audit?verify=1", headers=english).text
        forged = replace(mine[0], count=mine[0].count + 1000)
        path.write_text(forged.signed_line(key) + "\n" + "not a checkpoint\n")
        shown = visible_text(app.get("/audit?verify=1", headers=english).text)
        assert "The log does not match its signed checkpoints:" in shown and "rows up to row" in shown
    finally:
        app.app.state.settings = settings  # type: ignore[attr-defined]
