"""The citizens' pages on the real application (in this process, on a real database): a patient signed in with
a local citizen account answers the day's questions and finds the answers among their measurements and a
nurse's access in "who has looked"; a relative the patient invited reads the page without the questions and
is refused at once when the patient revokes it; and what must never happen (answers out of range, not whole or
twice a day, another patient's id in the address, an invitation without a name, a form without the session's
token), each with a clear page, nothing written and, where patient data was aimed at, an audit record."""

from __future__ import annotations

import re
import subprocess
from uuid import UUID

from fastapi.testclient import TestClient

from cloud.access.authn import SESSION_COOKIE
from cloud.access.roles import Role
from tests.support.db import named_rows
from tests.support.proc import TRYGGHEIM, env_with
from tests.support.services import TestDatabase
from tests.support.tenants import PASSWORD, Tenants, insert_patient
from tests.web.citizens import add_account, citizen_patient, national_id
from tests.web.helpers import HTML, csrf_of, sign_in, visible_text

EN = {**HTML, "Accept-Language": "en"}


def _answers(url: str, patient: UUID) -> list[dict[str, object]]:
    return named_rows(url, "SELECT metric, value, entered_by FROM observations WHERE patient_id = %s "
                           "AND source = 'manual' ORDER BY metric", patient)  # fmt: skip


def _denied(url: str, patient: UUID, action: str) -> list[dict[str, object]]:
    return named_rows(url, "SELECT principal_kind, resource FROM audit_log WHERE patient_id = %s AND action = %s "
                           "AND outcome = 'denied'", patient, action)  # fmt: skip


def test_a_patient_answers_today_and_sees_the_answers_and_the_nurse_who_looked(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url, tenant = web_db.runtime_url, tenants.a
    patient, username = citizen_patient(url, tenant, "Kari Svarsen")
    assert app.get(f"/api/v1/patients/{patient}", headers=tenant.auth(Role.NURSE)).status_code == 200
    app.cookies.clear()
    assert sign_in(app, username).headers["location"] == "/me"
    page = app.get("/me", headers=EN)
    assert page.status_code == 200 and "Today's questions" in page.text
    csrf = csrf_of(page.text)
    # Out of range, not whole, missing: refused field by field, nothing written.
    bad = app.post("/me/answers", data={"csrf_token": csrf, "dyspnoea": "7", "oedema": "2.5"}, headers=EN)
    shown = visible_text(bad.text)
    assert bad.status_code == 422, shown
    assert 'id="error-dyspnoea"' in bad.text and 'id="error-oedema"' in bad.text and 'id="error-wellbeing"' in bad.text
    assert "whole number from 0 to 4" in shown and "Choose an answer." in shown
    assert _answers(url, patient) == []
    done = app.post("/me/answers", data={"csrf_token": csrf, "dyspnoea": "1", "oedema": "0", "wellbeing": "3"},
                    headers=EN, follow_redirects=False)  # fmt: skip
    assert done.status_code == 303 and done.headers["location"].startswith("/me?done=answers")
    mine = visible_text(app.get("/me", headers=EN).text)
    assert "Short of breath A little" in mine and "How you feel Well" in mine
    assert "You have answered today's questions" in mine and "Today's questions" not in mine
    assert "nurse a, nurse, Nord" in mine and "Looked at your record" in mine
    stored = _answers(url, patient)
    assert [(r["metric"], r["value"]) for r in stored] == [
        ("symptom.dyspnoea", 1.0), ("symptom.oedema", 0.0), ("symptom.wellbeing", 3.0)
    ]  # fmt: skip
    assert {r["entered_by"] for r in stored} == {patient}
    # A second set the same day is refused, not replaced.
    again = app.post("/me/answers", data={"csrf_token": csrf, "dyspnoea": "4", "oedema": "4", "wellbeing": "0"},
                     headers=EN)  # fmt: skip
    assert again.status_code == 409 and "already answered today's questions" in visible_text(again.text)
    assert len(_answers(url, patient)) == 3
    # The same answers through the API; and the page in bokmål.
    overview = app.get("/api/v1/citizen/overview", headers=EN).json()
    assert {a["key"]: a["answer"] for a in overview["answers"]}["symptom.oedema"] == "Not at all"
    assert "Har du svart på dagens spørsmål" not in (nb := visible_text(app.get("/me", headers=HTML).text))
    assert "Tung i pusten Litt" in nb and "Hvem har sett i journalen min" in nb
    # The nurse's patient page shows the answers as the patient's.
    nurse_page = app.get(f"/patients/{patient}", headers={**EN, **tenant.auth(Role.NURSE)})
    assert "Answered by the patient" in visible_text(nurse_page.text)


def test_another_patients_id_in_the_address_shows_nothing_and_is_audited(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url, tenant = web_db.runtime_url, tenants.a
    _patient, username = citizen_patient(url, tenant, "Kari Nysgjerrig")
    other = tenant.patients["sor"]
    app.cookies.clear()
    sign_in(app, username)
    for address, action in ((f"/relative/{other}", "patient.read_as_relative"), (f"/patients/{other}", "patient.read")):
        refused = app.get(address, headers=EN)
        assert refused.status_code == 403, address
        assert "Pasient sor" not in refused.text and "<h1" in refused.text
        assert any(r["principal_kind"] == "patient" for r in _denied(url, other, action)), address


def test_an_invitation_needs_a_name_a_valid_number_and_the_sessions_token(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url, tenant = web_db.runtime_url, tenants.a
    patient, username = citizen_patient(url, tenant, "Kari Inviterer")
    app.cookies.clear()
    sign_in(app, username)
    csrf = csrf_of(app.get("/me", headers=EN).text)
    nameless = app.post("/me/relatives", data={"csrf_token": csrf, "name": "  ", "national_id": national_id()},
                        headers=EN)  # fmt: skip
    assert nameless.status_code == 422 and "Write the name of the person you want to invite." in nameless.text
    assert 'aria-invalid="true" aria-describedby="error-name"' in nameless.text
    badly = app.post("/me/relatives", data={"csrf_token": csrf, "name": "Ingrid", "national_id": "12345678901"},
                     headers=EN)  # fmt: skip
    assert badly.status_code == 422 and "national identity number is not valid" in badly.text
    forged = app.post("/me/relatives", data={"name": "Ingrid", "national_id": national_id()}, headers=EN)
    assert forged.status_code == 403
    assert named_rows(url, "SELECT id FROM relatives WHERE patient_id = %s", patient) == []


def test_a_relative_sees_what_was_consented_and_loses_it_at_once_on_revoke(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url, tenant = web_db.runtime_url, tenants.a
    patient, username = citizen_patient(url, tenant, "Kari Mor")
    daughter = national_id()
    relative = add_account(url, tenant.municipality_id, daughter, "relative")
    app.cookies.clear()
    sign_in(app, username)
    csrf = csrf_of(app.get("/me", headers=EN).text)
    invited = app.post("/me/relatives", data={"csrf_token": csrf, "name": "Ingrid Datter", "national_id": daughter},
                       headers=EN, follow_redirects=False)  # fmt: skip
    assert invited.status_code == 303
    app.cookies.clear()
    assert sign_in(app, relative).headers["location"] == "/relative"
    assert app.get("/relative", headers=EN, follow_redirects=False).headers["location"] == f"/relative/{patient}"
    page = app.get(f"/relative/{patient}", headers=EN)
    shown = visible_text(page.text)
    assert page.status_code == 200 and "Kari Mor" in shown and "Latest measurements" in shown
    assert "Today's questions" not in shown and "/me/answers" not in page.text and "/me/relatives" not in page.text
    assert app.get("/me", headers=EN).status_code == 403  # the questions and invitations are the patient's own
    assert app.get(f"/api/v1/citizen/following/{patient}/overview").json()["questions_due_today"] is False
    relatives_session = app.cookies.get(SESSION_COOKIE)
    # The patient sees the relative among those who looked, and revokes.
    app.cookies.clear()
    sign_in(app, username)
    mine = app.get("/me", headers=EN).text
    assert "Ingrid Datter, relative" in visible_text(mine) and "You invited them" in visible_text(mine)
    action = re.search(r'action="(/me/relatives/[0-9a-f-]+/revoke)"', mine)
    assert action
    revoked = app.post(action.group(1), data={"csrf_token": csrf_of(mine)}, follow_redirects=False)
    assert revoked.status_code == 303
    # The relative's own session is refused at its next request, and the refusal audited.
    app.cookies.clear()
    app.cookies.set(SESSION_COOKIE, relatives_session or "")
    refused = app.get(f"/relative/{patient}", headers=EN)
    assert refused.status_code == 403 and "withdrawn your access" in refused.text
    assert _denied(url, patient, "patient.read_as_relative")[0]["principal_kind"] == "relative"
    assert "Nobody has invited you" in app.get("/relative", headers=EN).text


def test_a_copd_patient_answers_the_weeks_lung_questions_once_a_week(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url, tenant = web_db.runtime_url, tenants.a
    patient, username = citizen_patient(url, tenant, "Kari Lunge")
    named_rows(url, "INSERT INTO patient_protocols (patient_id, protocols) VALUES (%s, %s) RETURNING patient_id",
               patient, ["copd"])  # fmt: skip
    app.cookies.clear()
    sign_in(app, username)
    page = app.get("/me", headers=EN)
    assert "This week's questions about your lungs" in visible_text(page.text) and 'name="cat_8"' in page.text
    answers = {"csrf_token": csrf_of(page.text), "dyspnoea": "2", "oedema": "1", "wellbeing": "2"}
    half = app.post("/me/answers", data={**answers, "cat_1": "3", "cat_2": "2"}, headers=EN)
    assert half.status_code == 422 and "Question 3 of the CAT is not answered" in visible_text(half.text)
    assert _answers(url, patient) == []
    cat = {f"cat_{n}": str(score) for n, score in enumerate((3, 2, 4, 3, 2, 3, 1, 2), start=1)}
    assert app.post("/me/answers", data={**answers, **cat}, headers=EN, follow_redirects=False).status_code == 303
    assert ("cat.score", 20.0) in [(r["metric"], r["value"]) for r in _answers(url, patient)]
    shown = visible_text(app.get("/me", headers=EN).text)
    assert "The weekly questions about your lungs 20 of 40 points" in shown
    assert "This week's questions about your lungs" not in shown


def test_the_cli_adds_a_citizen_account_bound_by_national_id(
    app: TestClient, web_db: TestDatabase, tenants: Tenants
) -> None:
    url, tenant = web_db.runtime_url, tenants.a
    patient = insert_patient(url, tenant.municipality_id, tenant.teams["Nord"], "Kari Kommandolinje")
    person = national_id()
    named_rows(url, "UPDATE patients SET national_id = %s, national_id_kind = 'fnr' WHERE id = %s RETURNING id",
               person, patient)  # fmt: skip
    username = f"cli.{patient.hex[:8]}"
    command = [TRYGGHEIM, "admin", "citizen", "add", username, "-m", "0301", "--national-id-stdin", "--password-stdin"]
    env = env_with(TRYGGHEIM_DATABASE_URL=url)
    added = subprocess.run(command, input=f"{person}\n{PASSWORD}\n", env=env, capture_output=True, text=True,
                           timeout=60, check=False)  # fmt: skip
    assert added.returncode == 0, added.stderr
    again = subprocess.run(command, input=f"{person}\n{PASSWORD}\n", env=env, capture_output=True, text=True,
                           timeout=60, check=False)  # fmt: skip
    assert again.returncode != 0 and person not in again.stderr + again.stdout
    created = named_rows(url, "SELECT resource FROM audit_log WHERE action = 'citizen_account.create' "
                              "AND resource LIKE %s", f"%username={username}")  # fmt: skip
    assert len(created) == 1 and person not in created[0]["resource"]
    app.cookies.clear()
    assert sign_in(app, username).headers["location"] == "/me"
    assert app.get("/api/v1/citizen/record").json()["id"] == str(patient)


def test_a_patient_lifts_a_block_from_their_page(app: TestClient, web_db: TestDatabase, tenants: Tenants) -> None:
    url, tenant = web_db.runtime_url, tenants.a
    patient, username = citizen_patient(url, tenant, "Kari Sperrer")
    app.cookies.clear()
    sign_in(app, username)
    csrf = csrf_of(app.get("/me", headers=EN).text)
    blocked = app.post("/api/v1/citizen/blocks", json={"staff_id": str(tenant.staff[Role.NURSE])},
                       headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert blocked.status_code == 201, blocked.text
    page = app.get("/me", headers=EN).text
    action = re.search(r'action="(/me/blocks/[0-9a-f-]+/lift)"', page)
    assert action and "Let nurse a see my record again" in visible_text(page)
    assert app.post(action.group(1), data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert "You have blocked nobody." in visible_text(app.get("/me", headers=EN).text)
    assert named_rows(url, "SELECT 1 FROM audit_log WHERE patient_id = %s AND action = 'block.lift'", patient)
