"""Blocking (sperring) end to end through the API: a blocked nurse of the care team is refused the record and
loses the patient from her lists; plain emergency access does not help, an override with a reason does, and is
flagged in the review list and the patient's access log; a blocked care team; lifting; input that changes
nothing."""

from __future__ import annotations

from uuid import UUID

from fastapi.testclient import TestClient

from cloud.access.policy import PatientScopeFilter
from cloud.access.principal import Principal
from cloud.access.roles import Role
from cloud.api.worklist_events import _visible
from tests.access.record_access import ENGLISH, LISTS, actions, call, grants_of, listed, member, on_every_list, patient
from tests.support.db import named_rows
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, audit_rows

BLOCKED = {"detail": "The patient has blocked your access to their record."}


def _blocks_of(url: str, patient_id: UUID) -> list[dict[str, object]]:
    return named_rows(url, "SELECT * FROM access_blocks WHERE patient_id = %s", patient_id)


def test_a_blocked_nurse_needs_an_override_which_is_flagged(
    client: TestClient, tenants: Tenants, access_db: TestDatabase
) -> None:
    url = access_db.runtime_url
    kari = patient(url, tenants.a, "Nord")
    on_every_list(url, tenants.a, kari)
    nurse = member(url, tenants.a, Role.NURSE, "Nord")
    colleague = member(url, tenants.a, Role.NURSE, "Nord")
    lead = tenants.a.auth(Role.TEAM_LEAD)
    record = f"/api/v1/patients/{kari}"
    assert client.get(record, headers=nurse.headers).status_code == 200
    assert listed(client, nurse.headers, kari) == list(LISTS)

    added, request_id = call(client, "POST", f"{record}/blocks", lead, json={"staff_id": str(nurse.id)})
    assert added.status_code == 201, added.text
    block = added.json()
    assert (block["staff_id"], block["staff_name"], block["requested_by"], block["active"]) == (
        str(nurse.id), nurse.name, "staff", True,
    )  # fmt: skip
    assert block["created_by"] == str(tenants.a.staff[Role.TEAM_LEAD])
    assert actions(url, request_id) == [("blocks.change", "allowed"), ("block.add", "allowed")]
    assert audit_rows(url, request_id)[1]["reason"] == "requested_by:staff"

    refused, request_id = call(client, "GET", record, {**nurse.headers, **ENGLISH})
    assert (refused.status_code, refused.json()) == (403, BLOCKED)
    assert actions(url, request_id) == [("patient.read", "denied")]
    assert listed(client, nurse.headers, kari) == []
    assert listed(client, colleague.headers, kari) == list(LISTS)  # the block is hers alone

    # Plain emergency access does not open a blocked record; an override with a reason does.
    plain = client.post(f"{record}/emergency-access", json={"reason": "acute_care"}, headers=nurse.headers)
    assert plain.status_code == 403
    assert grants_of(url, kari) == []
    body = {"reason": "acute_care", "note": "Alarm, ingen andre på vakt", "override_block": True}
    override = client.post(f"{record}/emergency-access", json=body, headers=nurse.headers)
    assert override.status_code == 201, override.text
    grant = override.json()
    assert grant["overrides_block"] is True
    read, request_id = call(client, "GET", record, nurse.headers)
    assert read.status_code == 200
    assert audit_rows(url, request_id)[0]["reason"] == f"emergency:acute_care grant:{grant['id']}"
    assert listed(client, nurse.headers, kari) == []  # lists stay closed: the override is for one record

    [reviewed] = [
        g for g in client.get("/api/v1/emergency-access/reviews", headers=lead).json() if g["id"] == grant["id"]
    ]
    assert (reviewed["overrides_block"], reviewed["review"]) == (True, "pending")
    log = client.get(f"{record}/access-log", headers=lead)
    assert "Alarm, ingen andre" not in log.text
    assert [
        (e["action"], e["emergency"], e["block_override"], e["reason"])
        for e in log.json()
        if e["staff_id"] == str(nurse.id)
    ] == [
        ("patient.read", True, True, "Akutt behov for helsehjelp"),
        ("emergency.open", True, True, "Akutt behov for helsehjelp"),
        ("patient.read", False, False, None),  # before the block
    ]
    assert [b["id"] for b in client.get(f"{record}/blocks", headers=lead).json()] == [block["id"]]


def test_a_plain_grant_opened_before_the_block_stops_working(
    client: TestClient, tenants: Tenants, access_db: TestDatabase
) -> None:
    url = access_db.runtime_url
    ola = patient(url, tenants.a, "Sør")
    nurse = member(url, tenants.a, Role.NURSE, "Nord")
    record = f"/api/v1/patients/{ola}"
    assert (
        client.post(f"{record}/emergency-access", json={"reason": "covering_team"}, headers=nurse.headers).status_code
        == 201
    )
    assert client.get(record, headers=nurse.headers).status_code == 200
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    assert client.post(f"{record}/blocks", json={"staff_id": str(nurse.id)}, headers=admin).status_code == 201
    refused = client.get(record, headers={**nurse.headers, **ENGLISH})
    assert (refused.status_code, refused.json()) == (403, BLOCKED)


def test_a_blocked_team_is_refused_until_the_block_is_lifted(
    client: TestClient, tenants: Tenants, access_db: TestDatabase
) -> None:
    url = access_db.runtime_url
    per = patient(url, tenants.a, "Nord")
    on_every_list(url, tenants.a, per)
    record = f"/api/v1/patients/{per}"
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    nord = [
        tenants.a.auth(Role.NURSE),
        tenants.a.auth(Role.TEAM_LEAD),
        member(url, tenants.a, Role.NURSE, "Nord").headers,
    ]
    added = client.post(f"{record}/blocks", json={"care_team_id": str(tenants.a.teams["Nord"])}, headers=admin)
    assert added.status_code == 201, added.text
    assert added.json()["care_team_name"] == "Nord"
    for headers in nord:
        assert client.get(record, headers={**headers, **ENGLISH}).json() == BLOCKED
        assert listed(client, headers, per) == []
    # The team's own lead can neither see nor lift the block that keeps the team out.
    assert client.get(f"{record}/blocks", headers=nord[1]).status_code == 403
    assert client.get(record, headers=admin).status_code == 200
    assert listed(client, tenants.a.auth(Role.RESPONSE_CENTRE), per) == list(LISTS)

    lifted, request_id = call(client, "DELETE", f"{record}/blocks/{added.json()['id']}", admin)
    assert lifted.status_code == 200, lifted.text
    assert (lifted.json()["active"], lifted.json()["lifted_on"]) == (False, "staff")
    assert lifted.json()["lifted_by"] == str(tenants.a.staff[Role.MUNICIPALITY_ADMIN])
    assert actions(url, request_id) == [("blocks.change", "allowed"), ("block.lift", "allowed")]
    for headers in nord:
        assert client.get(record, headers=headers).status_code == 200
        assert listed(client, headers, per) == list(LISTS)
    again = client.delete(f"{record}/blocks/{added.json()['id']}", headers=admin)
    assert again.status_code == 404
    # The lifted block stays on the list, with who lifted it.
    assert [b["active"] for b in client.get(f"{record}/blocks", headers=admin).json()] == [False]


def test_block_requests_that_change_nothing(client: TestClient, tenants: Tenants, access_db: TestDatabase) -> None:
    url = access_db.runtime_url
    lise = patient(url, tenants.a, "Nord")
    path = f"/api/v1/patients/{lise}/blocks"
    lead = {**tenants.a.auth(Role.TEAM_LEAD), **ENGLISH}
    nurse = str(tenants.a.staff[Role.NURSE])
    for body, status in (
        ({}, 422),
        ({"staff_id": nurse, "care_team_id": str(tenants.a.teams["Sør"])}, 422),
        ({"staff_id": str(tenants.b.staff[Role.NURSE])}, 404),  # another municipality's staff do not exist here
        ({"care_team_id": str(tenants.b.teams["Nord"])}, 404),
        ({"staff_id": "not a uuid"}, 422),
    ):
        refused, request_id = call(client, "POST", path, lead, json=body)
        assert refused.status_code == status, (body, refused.text)
        assert actions(url, request_id) == [("blocks.change", "allowed")], body
    assert _blocks_of(url, lise) == []
    assert client.post(path, json={"staff_id": nurse}, headers=lead).status_code == 201
    twice = client.post(path, json={"staff_id": nurse}, headers=lead)
    assert (twice.status_code, twice.json()) == (409, {"detail": "This block already exists."})
    assert len(_blocks_of(url, lise)) == 1
    assert client.delete(f"{path}/{UUID(int=9)}", headers=lead).status_code == 404
    # Nurses do not manage blocks; another municipality's patient does not exist.
    assert client.post(path, json={"staff_id": nurse}, headers=tenants.a.auth(Role.NURSE)).status_code == 403
    foreign = f"/api/v1/patients/{tenants.b.patients['nord']}/blocks"
    assert client.post(foreign, json={"staff_id": nurse}, headers=lead).status_code == 404
    assert _blocks_of(url, tenants.b.patients["nord"]) == []


def test_live_worklist_events_of_a_blocked_patient_are_not_passed_on(tenants: Tenants) -> None:
    nurse = Principal(
        kind="staff", id=tenants.a.staff[Role.NURSE], municipality_id=tenants.a.municipality_id, role=Role.NURSE,
        team_ids=frozenset({tenants.a.teams["Nord"]}),
    )  # fmt: skip
    blocked, other = tenants.a.patients["nord"], UUID(int=5)
    scope = PatientScopeFilter(nurse, tenants.a.municipality_id, nurse.team_ids, frozenset({blocked}))
    event = {"municipality_id": str(tenants.a.municipality_id), "care_team_id": str(tenants.a.teams["Nord"])}
    assert not _visible({**event, "patient_id": str(blocked)}, scope)
    assert _visible({**event, "patient_id": str(other)}, scope)
