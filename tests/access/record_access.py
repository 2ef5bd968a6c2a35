"""Helpers of the emergency access and blocking tests: staff members of their own, calls with a request id to find
their audit records by, and the rows a refused change must not have written."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg
from fastapi.testclient import TestClient

from cloud.access import directory, tokens
from cloud.access.roles import Role
from cloud.db.pool import connect
from tests.support.db import named_rows
from tests.support.tenants import SEEDER, Tenant, audit_rows, insert_patient

ENGLISH = {"Accept-Language": "en"}


@dataclass(frozen=True)
class Member:
    """A staff member made for one test, with a bearer token."""

    id: UUID
    name: str
    headers: dict[str, str]


def member(url: str, tenant: Tenant, role: Role, *teams: str) -> Member:
    """A new staff member of the tenant's municipality with `role`, in the named care teams."""
    name = f"{role.value} {secrets.token_hex(3)}"
    username = name.replace(" ", ".").replace("_", "-")

    async def add() -> Member:
        async with await connect(url) as conn:
            staff_id = await directory.add_staff(
                conn, actor=SEEDER, municipality=tenant.municipality_id, username=username,
                display_name=name, role=role, team_ids=[tenant.teams[t] for t in teams], password=None,
            )  # fmt: skip
            _, secret = await tokens.issue(
                conn, SEEDER, staff_id=staff_id, municipality_id=tenant.municipality_id, label="tests",
                lifetime=timedelta(days=1),
            )  # fmt: skip
        return Member(staff_id, name, {"Authorization": f"Bearer {secret}"})

    return asyncio.run(add())


def patient(url: str, tenant: Tenant, team: str) -> UUID:
    """A fresh patient of the tenant in `team`."""
    return insert_patient(url, tenant.municipality_id, tenant.teams[team], f"Pasient {secrets.token_hex(3)}")


def call(
    client: TestClient, method: str, path: str, headers: dict[str, str], **kwargs: Any
) -> tuple[httpx.Response, str]:
    """The response and the request id its audit records carry."""
    request_id = uuid.uuid4().hex
    response = client.request(method, path, headers={**headers, "X-Request-ID": request_id}, **kwargs)
    return response, request_id


def actions(url: str, request_id: str) -> list[tuple[str, str]]:
    """(action, outcome) of the audit records of one request, in order."""
    return [(r["action"], r["outcome"]) for r in audit_rows(url, request_id)]


def grants_of(url: str, patient_id: UUID) -> list[dict[str, Any]]:
    """The patient's emergency access grants, oldest first."""
    return named_rows(url, "SELECT * FROM emergency_access WHERE patient_id = %s ORDER BY opened_at", patient_id)


def expire(owner_url: str, grant_id: str) -> None:
    """Let a grant run out (as the schema owner: the service's own role cannot change an expiry)."""
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("UPDATE emergency_access SET expires_at = now() - interval '1 minute' WHERE id = %s", (grant_id,))


def on_every_list(url: str, tenant: Tenant, patient_id: UUID) -> None:
    """Put the patient on every list over many patients: an open alert (worklist, handover), a home (homes) and
    a waiting baseline proposal."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO alerts (patient_id, rule, alert_class, severity, auto_resolve, opened_at, updated_at, "
            "message) VALUES (%s, 'ge.temperature', 'clinical', 'yellow', true, now(), now(), 'test')",
            (patient_id,),
        )
        # The address names the patient, so that a home listed without its resident still gives the patient away.
        conn.execute(
            "WITH h AS (INSERT INTO homes (municipality_id, address) VALUES (%s, %s) RETURNING id) "
            "UPDATE patients SET home_id = (SELECT id FROM h) WHERE id = %s",
            (tenant.municipality_id, f"Storgata 1 ({patient_id})", patient_id),
        )
        conn.execute(
            "INSERT INTO baseline_proposals (patient_id, municipality_id, occasion, period_from, period_to, method, "
            "rules) VALUES (%s, %s, 'trial_ended', now() - interval '14 days', now(), '{}', '[]')",
            (patient_id, tenant.municipality_id),
        )


LISTS = ("/api/v1/patients", "/api/v1/worklist", "/api/v1/handover", "/api/v1/homes", "/api/v1/baselines/waiting")


def listed(client: TestClient, headers: dict[str, str], patient_id: UUID) -> list[str]:
    """The lists over many patients that name the patient in their answer to the caller."""
    found = []
    for path in LISTS:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        if str(patient_id) in response.text:
            found.append(path)
    return found
