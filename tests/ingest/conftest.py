"""An application with two municipalities and an enrolled kit in municipality A."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.support.app import app_client
from tests.support.kits import Kit, enrol_kit
from tests.support.services import TestDatabase, test_database
from tests.support.tenants import Tenants, build_tenants


@pytest.fixture(scope="module")
def ingest_db(pg_admin_url: str) -> Iterator[TestDatabase]:
    with test_database(pg_admin_url) as db:
        yield db


@pytest.fixture(scope="module")
def tenants(ingest_db: TestDatabase) -> Tenants:
    return build_tenants(ingest_db.runtime_url)


@pytest.fixture(scope="module")
def client(ingest_db: TestDatabase, tenants: Tenants) -> Iterator[TestClient]:
    with app_client(ingest_db.runtime_url) as test_client:
        yield test_client


@pytest.fixture
def kit(client: TestClient, ingest_db: TestDatabase, tenants: Tenants) -> Kit:
    """A fresh kit per test, so counts never mix."""
    return enrol_kit(client, ingest_db.runtime_url, tenants.a.municipality_id, tenants.a.patients["nord"])
