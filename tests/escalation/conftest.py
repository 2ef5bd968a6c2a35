"""A migrated database with two municipalities, and helpers to set policies and endpoints and to open alerts
the way evaluation does (insert, then `cloud.escalation.policies.attach` in the same transaction)."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from cloud.db.pool import connect
from cloud.escalation.policies import attach
from tests.support.fixtures import database_fixture, tenants_fixture
from tests.support.tenants import insert_patient

SECRET = "s3cret-for-webhook-signatures"

esc_db, tenants = database_fixture(), tenants_fixture("esc_db")


def three_steps(email_after: float = 1, webhook_after: float = 2, ack_timeout: float | None = None) -> dict[str, Any]:
    """A document: every class gets care team -> e-mail to the team lead -> webhook to the response centre
    (internal alerts stay in the worklist so a failing channel cannot feed itself)."""
    steps = [
        {"after_minutes": 0, "channel": "in_app", "target": "care_team"},
        {"after_minutes": email_after, "channel": "email", "target": "team_lead"},
        {"after_minutes": webhook_after, "channel": "webhook", "target": "response_centre"},
    ]
    chain: dict[str, Any] = {"name": "three", "classes": ["alarm", "clinical", "liveness", "data_quality"],
                             "steps": steps}  # fmt: skip
    if ack_timeout is not None:
        chain["ack_timeout_minutes"] = ack_timeout
    internal = {"name": "internal", "classes": ["internal"], "steps": [steps[0]]}
    return {"policies": [chain, internal]}


def set_policy(url: str, municipality_id: UUID, document: dict[str, Any]) -> None:
    """Store a municipality's policy document (validated by the caller's test where that matters)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO escalation_policies (municipality_id, document) VALUES (%s, %s) ON CONFLICT "
            "(municipality_id) DO UPDATE SET document = EXCLUDED.document",
            (municipality_id, Jsonb(document)),
        )


def set_endpoint(url: str, municipality_id: UUID, target: str, channel: str, address: str, secret: str | None) -> None:
    """Where `target` is reached by `channel` in the municipality."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO notification_endpoints (municipality_id, target, channel, address, secret) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (municipality_id, target, channel) DO UPDATE SET "
            "address = EXCLUDED.address, secret = EXCLUDED.secret",
            (municipality_id, target, channel, address, secret),
        )


def new_patient(url: str, municipality_id: UUID, team_id: UUID, name: str = "Pasient eskalering") -> UUID:
    """A fresh patient in a team."""
    return insert_patient(url, municipality_id, team_id, name)


def open_alerts(
    url: str, patient_id: UUID, count: int, *, severity: str = "red", opened_at: float | None = None, prefix: str = "t"
) -> list[int]:
    """Open `count` alerts (rules `test.<prefix><i>`) in one transaction, as evaluation does: insert, attach."""

    async def run() -> list[int]:
        async with await connect(url) as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            ids = []
            for i in range(count):
                await cur.execute(
                    "INSERT INTO alerts (patient_id, rule, alert_class, severity, auto_resolve, opened_at, "
                    "updated_at, message) VALUES (%s, %s, 'clinical', %s, false, "
                    "coalesce(to_timestamp(%s), now()), now(), 'test alert') RETURNING id",
                    (patient_id, f"test.{prefix}{i}", severity, opened_at),
                )
                row = await cur.fetchone()
                assert row is not None
                await attach(conn, row["id"], "clinical")
                ids.append(int(row["id"]))
            return ids

    return asyncio.run(run())
