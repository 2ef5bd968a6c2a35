"""The escalation settings API: administrators set the policy and endpoints of their own municipality only,
refusals name the field and write nothing, secrets are never listed, and every change is audited."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from tests.escalation.conftest import three_steps
from tests.support.app import app_client
from tests.support.db import rows
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants


@pytest.fixture(scope="module")
def client(esc_db: TestDatabase, tenants: Tenants) -> Iterator[TestClient]:
    with app_client(esc_db.runtime_url, evaluation=False, escalation=False) as test_client:
        yield test_client


def test_settings_are_set_by_administrators_of_their_own_municipality(
    client: TestClient, esc_db: TestDatabase, tenants: Tenants
) -> None:
    admin, lead, nurse = (tenants.a.auth(r) for r in (Role.MUNICIPALITY_ADMIN, Role.TEAM_LEAD, Role.NURSE))
    assert client.get("/api/v1/escalation/policy", headers=lead).json()["source"] == "default"
    assert client.get("/api/v1/escalation/policy", headers=nurse).status_code == 403
    assert client.put("/api/v1/escalation/policy", json=three_steps(), headers=lead).status_code == 403

    broken = three_steps(email_after=5, webhook_after=2)
    refused = client.put("/api/v1/escalation/policy", json=broken, headers=admin)
    assert refused.status_code == 422 and "strictly increasing after_minutes" in refused.json()["detail"]
    assert rows(esc_db.runtime_url, "SELECT 1 FROM escalation_policies") == []

    stored = client.put("/api/v1/escalation/policy", json=three_steps(), headers=admin).json()
    assert stored["source"] == "municipality" and [p["name"] for p in stored["policies"]] == ["three", "internal"]
    assert stored["unreached"] == ["email:team_lead", "webhook:response_centre"]
    other = client.get("/api/v1/escalation/policy", headers=tenants.b.auth(Role.MUNICIPALITY_ADMIN)).json()
    assert other["source"] == "default"

    plain = client.put("/api/v1/escalation/endpoints/response_centre/webhook",
                       json={"address": "http://alarm.example.no/h"}, headers=admin)  # fmt: skip
    assert plain.status_code == 422 and "https" in plain.json()["detail"]
    hook = client.put("/api/v1/escalation/endpoints/response_centre/webhook",
                      json={"address": "https://alarm.example.no/h"}, headers=admin).json()  # fmt: skip
    assert len(hook["secret"]) >= 32 and hook["has_secret"]
    mail = client.put("/api/v1/escalation/endpoints/team_lead/email", json={"address": "leder@kommune.no"},
                      headers=admin).json()  # fmt: skip
    assert mail["secret"] is None and not mail["has_secret"]
    listed = client.get("/api/v1/escalation/endpoints", headers=lead)
    assert [(e["target"], e["channel"]) for e in listed.json()] == [("response_centre", "webhook"),
                                                                    ("team_lead", "email")]  # fmt: skip
    assert hook["secret"] not in listed.text
    assert client.get("/api/v1/escalation/endpoints", headers=tenants.b.auth(Role.TEAM_LEAD)).json() == []
    assert client.get("/api/v1/escalation/policy", headers=lead).json()["unreached"] == []

    assert client.delete("/api/v1/escalation/endpoints/team_lead/email", headers=admin).status_code == 204
    assert client.delete("/api/v1/escalation/endpoints/team_lead/email", headers=admin).status_code == 404
    assert client.delete("/api/v1/escalation/policy", headers=admin).json()["source"] == "default"
    audited = rows(esc_db.runtime_url, "SELECT count(*) FROM audit_log WHERE action = 'escalation.settings' "
                   "AND outcome = 'allowed' AND municipality_id = %s", tenants.a.municipality_id)  # fmt: skip
    assert audited == [(8,)]
