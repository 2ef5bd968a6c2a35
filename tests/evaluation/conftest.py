"""An application on a migrated database with two municipalities, and helpers to run the evaluation worker
in the test process (as a second cloud process would)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.db.pool import make_pool
from cloud.evaluation.runner import EvaluationRunner
from tests.support.app import app_client
from tests.support.kits import Kit, enrol_kit
from tests.support.services import TestDatabase, test_database
from tests.support.tenants import Tenants, build_tenants


@pytest.fixture(scope="module")
def eval_db(pg_admin_url: str) -> Iterator[TestDatabase]:
    with test_database(pg_admin_url) as db:
        yield db


@pytest.fixture(scope="module")
def tenants(eval_db: TestDatabase) -> Tenants:
    return build_tenants(eval_db.runtime_url)


@pytest.fixture(scope="module")
def client(eval_db: TestDatabase, tenants: Tenants) -> Iterator[TestClient]:
    """The API without its evaluation worker: tests decide when evaluation runs."""
    with app_client(eval_db.runtime_url, evaluation=False) as test_client:
        yield test_client


def new_patient(url: str, tenants: Tenants) -> UUID:
    """A fresh patient in municipality A's `Nord` team (the nurse's team), so alerts never mix between tests."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO patients (municipality_id, display_name, care_team_id, lifecycle) "
            "VALUES (%s, 'Pasient evaluering', %s, 'active') RETURNING id",
            (tenants.a.municipality_id, tenants.a.teams["Nord"]),
        ).fetchone()
        assert row is not None
        return UUID(str(row[0]))


@pytest.fixture
def kit(client: TestClient, eval_db: TestDatabase, tenants: Tenants) -> Kit:
    """A fresh patient with an enrolled kit (scale, oximeter, alarm button)."""
    return enrol_kit(client, eval_db.runtime_url, tenants.a.municipality_id, new_patient(eval_db.runtime_url, tenants))


def drain(url: str) -> int:
    """Run one evaluation worker in this process until the queue is empty; returns patients evaluated."""

    async def run() -> int:
        pool = make_pool(url, min_size=1, max_size=2, timeout_s=5)
        await pool.open()
        try:
            return await EvaluationRunner(pool).drain()
        finally:
            await pool.close()

    return asyncio.run(run())


def rows(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of a query as the runtime role."""
    with psycopg.connect(url) as conn:
        return conn.execute(query, args).fetchall()  # type: ignore[arg-type]
