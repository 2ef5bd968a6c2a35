"""Two municipalities with staff, care teams and patients, for scoping and audit tests in one line.

Municipality A (0301) and B (4601) each have teams `Nord` and `Sør`, one staff member per role (the nurse
and team lead in `Nord`), patients in both teams, and marker strings in every patient name so that a test
can assert that no response to A's staff ever contains B's marker.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
from argon2 import PasswordHasher
from psycopg.rows import dict_row

from cloud.access import audit, directory, tokens
from cloud.access.roles import STAFF_ROLES, Role
from cloud.access.secrets import PasswordPool
from cloud.db.pool import connect

PASSWORD = "correct horse battery staple"
SEEDER = audit.Actor.system("tests")
# Test accounts get the cheapest argon2id parameters: the default ones cost seconds per test database, and a
# hash carries its parameters, so sign-in verifies these unchanged. The service never sees this pool.
TEST_PASSWORDS = PasswordPool(threads=1, queue=64, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


NEW_PATIENT = (
    "INSERT INTO patients (municipality_id, display_name, care_team_id, lifecycle) VALUES (%s, %s, %s, %s) RETURNING id"
)


@dataclass
class Tenant:
    """One municipality's test population."""

    key: str
    municipality_id: UUID
    marker: str
    teams: dict[str, UUID] = field(default_factory=dict)
    staff: dict[Role, UUID] = field(default_factory=dict)
    usernames: dict[Role, str] = field(default_factory=dict)
    tokens: dict[Role, str] = field(default_factory=dict)
    patients: dict[str, UUID] = field(default_factory=dict)  # "nord" / "sor" -> patient id

    def auth(self, role: Role) -> dict[str, str]:
        """Bearer header for the staff member with `role`."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@dataclass
class Tenants:
    """Both municipalities."""

    a: Tenant
    b: Tenant


async def _build(url: str, key: str, number: str) -> Tenant:
    async with await connect(url) as conn:
        run = secrets.token_hex(3)
        municipality = await directory.ensure_municipality(conn, number, f"Kommune {key.upper()}")
        tenant = Tenant(key, municipality, marker=f"MARKER-{key.upper()}-{run}")
        for team in ("Nord", "Sør"):
            tenant.teams[team] = await directory.ensure_team(conn, municipality, team, actor=SEEDER)
        for role in sorted(STAFF_ROLES):
            teams = [tenant.teams["Nord"]] if role in {Role.NURSE, Role.TEAM_LEAD} else []
            username = f"{key}.{role.value}.{run}"
            tenant.staff[role] = await directory.add_staff(
                conn,
                actor=SEEDER,
                municipality=municipality,
                username=username,
                display_name=f"{role.value} {key}",
                role=role,
                team_ids=teams,
                password=PASSWORD,
                passwords=TEST_PASSWORDS,
            )
            tenant.usernames[role] = username
            _token, tenant.tokens[role] = await tokens.issue(
                conn, SEEDER, staff_id=tenant.staff[role], municipality_id=municipality, label="tests",
                lifetime=timedelta(days=30),
            )  # fmt: skip
        for slot, team in (("nord", "Nord"), ("sor", "Sør")):
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                NEW_PATIENT, (municipality, f"Pasient {slot} {tenant.marker}", tenant.teams[team], "active")
            )
            row = await cur.fetchone()
            assert row is not None
            tenant.patients[slot] = row["id"]
    return tenant


def build_tenants(runtime_url: str) -> Tenants:
    """Create both municipalities in a migrated database (as the runtime role, like the service)."""

    async def both() -> Tenants:
        return Tenants(await _build(runtime_url, "a", "0301"), await _build(runtime_url, "b", "4601"))

    return asyncio.run(both())


def build_tenant(runtime_url: str, key: str, number: str) -> Tenant:
    """One more municipality (`number` from the official list) with the same population, for a test that must
    count everything of a municipality without other tests' data in it."""
    return asyncio.run(_build(runtime_url, key, number))


def insert_patient(url: str, municipality_id: UUID, team_id: UUID, name: str, lifecycle: str = "active") -> UUID:
    """A fresh patient in a care team, so that what a test records for it never mixes with other tests."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        row = conn.execute(NEW_PATIENT, (municipality_id, name, team_id, lifecycle)).fetchone()
        assert row is not None
        return UUID(str(row["id"]))


def audit_rows(runtime_url: str, correlation_id: str) -> list[dict[str, Any]]:
    """Audit records written for one request."""
    with psycopg.connect(runtime_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT * FROM audit_log WHERE correlation_id = %s ORDER BY id", (correlation_id,)
        ).fetchall()
