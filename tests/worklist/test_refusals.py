"""Who may not read the response centre's screen or the handover: refused, and the attempt is on record."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, audit_rows

REFUSED = [
    *(("/api/v1/response-centre", role, "response_centre.read") for role in
      (Role.NURSE, Role.TEAM_LEAD, Role.INSTALLER, Role.AUDITOR)),
    *(("/api/v1/handover", role, "handover.read") for role in (Role.INSTALLER, Role.AUDITOR)),
]  # fmt: skip


@pytest.mark.parametrize(("path", "role", "action"), REFUSED)
def test_refused_and_audited(
    client: TestClient, worklist_db: TestDatabase, tenants: Tenants, path: str, role: Role, action: str
) -> None:
    request_id = uuid.uuid4().hex
    response = client.get(path, headers={**tenants.a.auth(role), "X-Request-ID": request_id})
    assert response.status_code == 403
    [record] = audit_rows(worklist_db.runtime_url, request_id)
    assert (record["action"], record["outcome"], record["principal_id"]) == (
        action, "denied", str(tenants.a.staff[role]),
    )  # fmt: skip
    assert client.get(path).status_code == 401
