"""The audit log is append-only for the service and tamper-evident for everyone else."""

from __future__ import annotations

import json

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from cloud.access.roles import Role
from tests.support.app import app_client
from tests.support.proc import env_with, run_cli
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, audit_rows, build_tenants


def _verify(db: TestDatabase) -> tuple[int, dict[str, object]]:
    result = run_cli("admin", "audit", "verify", env=env_with(TRYGGHEIM_DATABASE_URL=db.runtime_url))
    return result.returncode, json.loads(result.stdout)


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET outcome = 'allowed'", "DELETE FROM audit_log"])
def test_runtime_role_cannot_change_audit_rows(access_db: TestDatabase, statement: str) -> None:
    with psycopg.connect(access_db.runtime_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)


def test_verify_names_the_edited_row(fresh_db: TestDatabase) -> None:
    own = build_tenants(fresh_db.runtime_url)
    with psycopg.connect(fresh_db.runtime_url) as conn:  # the tenants' teams, staff and tokens are audited too
        (seeded,) = conn.execute("SELECT count(*) FROM audit_log").fetchone() or (0,)
    with app_client(fresh_db.runtime_url) as c:
        for slot in ("nord", "sor", "nord"):
            c.get(f"/api/v1/patients/{own.a.patients[slot]}", headers=own.a.auth(Role.NURSE))
        c.get(f"/api/v1/patients/{own.b.patients['nord']}", headers=own.b.auth(Role.NURSE))
    code, report = _verify(fresh_db)
    assert code == 0 and report["intact"] is True and report["checked"] == seeded + 4

    with psycopg.connect(fresh_db.owner_url, row_factory=dict_row) as conn:
        ids = [r["id"] for r in conn.execute("SELECT id FROM audit_log WHERE patient_id IS NOT NULL ORDER BY id")]
        target = ids[1]
        conn.execute("UPDATE audit_log SET outcome = 'allowed' WHERE id = %s", (target,))
    code, report = _verify(fresh_db)
    assert code == 1
    assert report["breaks"] == [
        {
            "id": target,
            "municipality_id": str(own.a.municipality_id),
            "problem": "content does not match its hash",
        }
    ]


def test_verify_detects_a_deleted_row(fresh_db: TestDatabase) -> None:
    own = build_tenants(fresh_db.runtime_url)
    with app_client(fresh_db.runtime_url) as c:
        for _ in range(3):
            c.get(f"/api/v1/patients/{own.a.patients['nord']}", headers=own.a.auth(Role.NURSE))
    with psycopg.connect(fresh_db.owner_url, row_factory=dict_row) as conn:
        ids = [r["id"] for r in conn.execute("SELECT id FROM audit_log ORDER BY id")]
        conn.execute("DELETE FROM audit_log WHERE id = %s", (ids[1],))
    code, report = _verify(fresh_db)
    assert code == 1
    assert [b["id"] for b in report["breaks"]] == [ids[2]]


def test_auditor_reads_are_audited_too(client: TestClient, tenants: Tenants, access_db: TestDatabase) -> None:
    client.get(f"/api/v1/patients/{tenants.a.patients['nord']}", headers=tenants.a.auth(Role.NURSE))
    response = client.get(
        "/api/v1/audit",
        params={"patient_id": str(tenants.a.patients["nord"])},
        headers={**tenants.a.auth(Role.AUDITOR), "X-Request-ID": "auditor-read-1"},
    )
    assert response.status_code == 200
    entries = response.json()
    assert entries and all(e["patient_id"] == str(tenants.a.patients["nord"]) for e in entries)
    assert [r["action"] for r in audit_rows(access_db.runtime_url, "auditor-read-1")] == ["audit.read"]
    assert client.get("/api/v1/audit", headers=tenants.a.auth(Role.NURSE)).status_code == 403
    # Auditors see their own municipality only.
    b_view = client.get("/api/v1/audit", headers=tenants.b.auth(Role.AUDITOR)).json()
    assert all(e["patient_id"] != str(tenants.a.patients["nord"]) for e in b_view)
