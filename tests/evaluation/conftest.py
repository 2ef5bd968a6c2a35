"""An application on a migrated database with two municipalities, and helpers to run the evaluation worker
in the test process (as a second cloud process would)."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient

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
