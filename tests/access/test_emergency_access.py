"""Break-the-glass end to end through the API: a nurse outside the care team is refused, opens emergency access
with a reason from the list, reads the record while the grant lasts, and not after; the audit records name the
grant and its reason; the team lead reviews it; the patient's access log shows it with the reason's words and
never the note. Bad input, another municipality and roles without patient data change nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from cloud.access.roles import Role
from tests.access.record_access import ENGLISH, Member, actions, call, expire, grants_of, member, patient
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, audit_rows

NOTE = "Ringt av legevakten, pasienten svarer ikke"


def _hours(grant: dict[str, str]) -> float:
    opened, expires = (datetime.fromisoformat(grant[k]) for k in ("opened_at", "expires_at"))
    return (expires - opened).total_seconds() / 3600


@dataclass(frozen=True)
class Opened:
    """A nurse of Nord's emergency access to a fresh patient of Sør, whose team lead reviews it."""

    patient_id: UUID
    record: str
    nurse: Member
    lead: Member
    grant: dict[str, Any]


def _opened(client: TestClient, url: str, tenants: Tenants) -> Opened:
    kari = patient(url, tenants.a, "Sør")
    nurse = member(url, tenants.a, Role.NURSE, "Nord")
    record = f"/api/v1/patients/{kari}"
    opened = client.post(
        f"{record}/emergency-access", json={"reason": "acute_care", "note": NOTE}, headers=nurse.headers
    )
    assert opened.status_code == 201, opened.text
    assert client.get(record, headers=nurse.headers).status_code == 200
    return Opened(kari, record, nurse, member(url, tenants.a, Role.TEAM_LEAD, "Sør"), opened.json())


def _reviews(client: TestClient, headers: dict[str, str], patient_id: UUID) -> list[dict[str, Any]]:
    listed = client.get("/api/v1/emergency-access/reviews", headers=headers)
    assert listed.status_code == 200, listed.text
    return [g for g in listed.json() if g["patient_id"] == str(patient_id)]


def test_a_nurse_outside_the_team_opens_the_record_for_a_reason(
    client: TestClient, tenants: Tenants, access_db: TestDatabase
) -> None:
    url = access_db.runtime_url
    kari = patient(url, tenants.a, "Sør")
    nurse = member(url, tenants.a, Role.NURSE, "Nord")
    record = f"/api/v1/patients/{kari}"

    refused = client.get(record, headers={**nurse.headers, **ENGLISH})
    assert (refused.status_code, refused.json()) == (403, {"detail": "This patient is not in your care teams."})

    opened, request_id = call(
        client, "POST", f"{record}/emergency-access", nurse.headers, json={"reason": "acute_care", "note": NOTE}
    )
    assert opened.status_code == 201, opened.text
    grant = opened.json()
    assert (grant["reason"], grant["reason_text"], grant["note"]) == ("acute_care", "Akutt behov for helsehjelp", NOTE)
    assert (grant["review"], grant["overrides_block"], grant["active"]) == ("pending", False, True)
    assert _hours(grant) == 4.0
    # The request (the policy's record) and the grant (the change's record, in the grant's transaction).
    request, change = audit_rows(url, request_id)
    assert (request["action"], request["outcome"], request["patient_id"]) == ("emergency.request", "allowed", kari)
    assert (change["action"], change["patient_id"]) == ("emergency.open", kari)
    assert change["reason"] == f"emergency:acute_care grant:{grant['id']}"
    assert change["principal_id"] == str(nurse.id)

    read, request_id = call(client, "GET", record, nurse.headers)
    assert read.status_code == 200, read.text
    [access] = audit_rows(url, request_id)
    assert (access["action"], access["outcome"]) == ("patient.read", "allowed")
    assert access["reason"] == f"emergency:acute_care grant:{grant['id']}"
    # The grant opens the record, not the role: a nurse still may not change it, nor act for the patient.
    assert client.patch(record, json={"phone": "+47 900 00 001"}, headers=nurse.headers).status_code == 403
    assert client.get(f"{record}/access-log", headers=nurse.headers).status_code == 403


def test_the_team_lead_reviews_each_grant_once(client: TestClient, tenants: Tenants, access_db: TestDatabase) -> None:
    url = access_db.runtime_url
    opened = _opened(client, url, tenants)
    grant, lead = opened.grant, opened.lead
    review = f"/api/v1/emergency-access/{grant['id']}/review"
    # The lead of the patient's team sees it pending, with the note; the lead of the nurse's own team does not.
    assert [
        (g["id"], g["review"], g["note"], g["staff_name"]) for g in _reviews(client, lead.headers, opened.patient_id)
    ] == [(grant["id"], "pending", NOTE, opened.nurse.name)]
    other_lead = tenants.a.auth(Role.TEAM_LEAD)
    assert _reviews(client, other_lead, opened.patient_id) == []
    assert client.post(review, json={"decision": "accepted"}, headers=other_lead).status_code == 404
    assert client.post(review, json={"decision": "accepted"}, headers=opened.nurse.headers).status_code == 403

    reviewed, request_id = call(
        client, "POST", review, lead.headers, json={"decision": "accepted", "note": "Bekreftet med legevakten"}
    )
    assert reviewed.status_code == 200, reviewed.text
    assert (reviewed.json()["review"], reviewed.json()["reviewer_name"]) == ("accepted", lead.name)
    assert actions(url, request_id) == [("emergency.review", "allowed"), ("emergency.accepted", "allowed")]
    assert audit_rows(url, request_id)[1]["patient_id"] == opened.patient_id
    assert client.post(review, json={"decision": "reported"}, headers=lead.headers).status_code == 409

    # A second nurse's grant: pending grants come first, then the newest; an administrator reports it.
    second = member(url, tenants.a, Role.NURSE, "Nord")
    later = client.post(f"{opened.record}/emergency-access", json={"reason": "covering_team"}, headers=second.headers)
    assert [g["id"] for g in _reviews(client, lead.headers, opened.patient_id)] == [later.json()["id"], grant["id"]]
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    reported = client.post(
        f"/api/v1/emergency-access/{later.json()['id']}/review", json={"decision": "reported"}, headers=admin
    )
    assert (reported.json()["review"], reported.json()["reviewer_name"]) == ("reported", "municipality_admin a")


def test_the_access_log_shows_the_reason_never_the_note(
    client: TestClient, tenants: Tenants, access_db: TestDatabase
) -> None:
    url = access_db.runtime_url
    opened = _opened(client, url, tenants)
    lead, nurse, record = opened.lead.headers, opened.nurse, opened.record
    client.post(f"/api/v1/emergency-access/{opened.grant['id']}/review", json={"decision": "accepted"}, headers=lead)
    second = member(url, tenants.a, Role.NURSE, "Nord")
    later = client.post(f"{record}/emergency-access", json={"reason": "covering_team"}, headers=second.headers).json()

    log = client.get(f"{record}/access-log", headers=lead)
    assert log.status_code == 200, log.text
    assert NOTE not in log.text
    mine = [e for e in log.json() if e["staff_id"] == str(nurse.id)]
    assert [(e["action"], e["kind"], e["emergency"], e["reason"]) for e in mine] == [
        ("patient.read", "read", True, "Akutt behov for helsehjelp"),
        ("emergency.open", "write", True, "Akutt behov for helsehjelp"),
    ]
    assert {(e["display_name"], e["role"], e["role_name"], e["block_override"]) for e in mine} == {
        (nurse.name, "nurse", "sykepleier", False)
    }
    assert [
        (e["display_name"], e["action"], e["emergency"]) for e in log.json() if e["action"].startswith("emergency.acc")
    ] == [(opened.lead.name, "emergency.accepted", False)]
    english = client.get(f"{record}/access-log", headers={**lead, **ENGLISH}).json()
    assert {e["reason"] for e in english if e["staff_id"] == str(second.id)} == {"Covering for the patient's care team"}

    # Paging: each read of the log is itself an entry, the newest.
    newest = client.get(f"{record}/access-log", params={"limit": 3}, headers=lead).json()
    assert newest[0]["action"] == "access_log.read" and newest[2:] == log.json()[:1]
    older = client.get(f"{record}/access-log", params={"before_id": newest[-1]["id"]}, headers=lead).json()
    assert older == [e for e in log.json() if e["id"] < newest[-1]["id"]]
    since = client.get(f"{record}/access-log", params={"since": later["opened_at"]}, headers=lead).json()
    assert "emergency.open" in {e["action"] for e in since}
    assert not any(e["staff_id"] == str(nurse.id) for e in since)


def test_an_expired_grant_opens_nothing(client: TestClient, tenants: Tenants, access_db: TestDatabase) -> None:
    url = access_db.runtime_url
    kari = patient(url, tenants.a, "Sør")
    nurse = member(url, tenants.a, Role.NURSE, "Nord")
    record = f"/api/v1/patients/{kari}"
    grant = client.post(f"{record}/emergency-access", json={"reason": "acute_care"}, headers=nurse.headers).json()
    assert client.get(record, headers=nurse.headers).status_code == 200
    again = client.post(f"{record}/emergency-access", json={"reason": "acute_care"}, headers=nurse.headers)
    assert again.status_code == 409  # one grant at a time

    expire(access_db.owner_url, grant["id"])
    refused, request_id = call(client, "GET", record, nurse.headers)
    assert refused.status_code == 403
    assert [(r["outcome"], r["reason"]) for r in audit_rows(url, request_id)] == [("denied", "")]
    lead = member(url, tenants.a, Role.TEAM_LEAD, "Sør")
    [listed] = [
        g
        for g in client.get("/api/v1/emergency-access/reviews", headers=lead.headers).json()
        if g["patient_id"] == str(kari)
    ]
    assert (listed["id"], listed["active"], listed["review"]) == (grant["id"], False, "pending")
    # A new need is a new grant, with its own review.
    assert (
        client.post(f"{record}/emergency-access", json={"reason": "acute_care"}, headers=nurse.headers).status_code
        == 201
    )
    assert client.get(record, headers=nurse.headers).status_code == 200


def test_bad_requests_write_nothing(client: TestClient, tenants: Tenants, access_db: TestDatabase) -> None:
    url = access_db.runtime_url
    kari = patient(url, tenants.a, "Sør")
    nurse = member(url, tenants.a, Role.NURSE, "Nord")
    path = f"/api/v1/patients/{kari}/emergency-access"
    for body in (
        {"reason": "curiosity"},  # not on the list
        {"reason": "Acute care!"},
        {"reason": "acute_care", "note": "x" * 501},
        {"reason": "acute_care", "override_block": True},  # there is no block to override
        {"note": "no reason"},
    ):
        refused, request_id = call(client, "POST", path, {**nurse.headers, **ENGLISH}, json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert actions(url, request_id) == [("emergency.request", "allowed")], body
    override = client.post(
        path, json={"reason": "acute_care", "override_block": True}, headers={**nurse.headers, **ENGLISH}
    )
    assert override.json() == {"detail": "There is no block to override; ask for emergency access without overriding."}
    assert grants_of(url, kari) == []

    # Whoever already reaches the patient has nothing to open.
    sor_nurse = member(url, tenants.a, Role.NURSE, "Sør")
    for headers in (sor_nurse.headers, tenants.a.auth(Role.RESPONSE_CENTRE)):
        assert client.post(path, json={"reason": "acute_care"}, headers=headers).status_code == 409
    for role in (Role.INSTALLER, Role.AUDITOR):
        refused, request_id = call(client, "POST", path, tenants.a.auth(role), json={"reason": "acute_care"})
        assert refused.status_code == 403
        assert actions(url, request_id) == [("emergency.request", "denied")]
    assert client.post(path, json={"reason": "acute_care"}).status_code == 401
    assert grants_of(url, kari) == []


def test_another_municipalitys_patient_and_grants_do_not_exist(
    client: TestClient, tenants: Tenants, access_db: TestDatabase
) -> None:
    url = access_db.runtime_url
    nurse = tenants.a.auth(Role.NURSE)
    foreign, request_id = call(
        client, "POST", f"/api/v1/patients/{tenants.b.patients['sor']}/emergency-access", nurse,
        json={"reason": "acute_care"},
    )  # fmt: skip
    missing = client.post(
        f"/api/v1/patients/{UUID(int=7)}/emergency-access", json={"reason": "acute_care"}, headers=nurse
    )
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    rows = audit_rows(url, request_id)
    assert {r["municipality_id"] for r in rows} == {tenants.a.municipality_id, tenants.b.municipality_id}
    assert grants_of(url, tenants.b.patients["sor"]) == []

    # B's grant is not A's to review, and does not show in A's list.
    b_nurse = member(url, tenants.b, Role.NURSE, "Nord")
    b_grant = client.post(
        f"/api/v1/patients/{tenants.b.patients['sor']}/emergency-access", json={"reason": "acute_care"},
        headers=b_nurse.headers,
    ).json()  # fmt: skip
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    review = client.post(
        f"/api/v1/emergency-access/{b_grant['id']}/review", json={"decision": "reported"}, headers=admin
    )
    assert review.status_code == 404
    assert b_grant["id"] not in {g["id"] for g in client.get("/api/v1/emergency-access/reviews", headers=admin).json()}
    assert grants_of(url, tenants.b.patients["sor"])[0]["review"] == "pending"
    for path in ("blocks", "access-log"):
        assert client.get(f"/api/v1/patients/{tenants.b.patients['sor']}/{path}", headers=admin).status_code == 404
