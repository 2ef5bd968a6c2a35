"""A migrated database with two municipalities and the API without its workers: the tests decide when
detection and the outbox run, so every alert write they see comes from the route they drive."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.support.app import app_client
from tests.support.services import TestDatabase, test_database
from tests.support.tenants import Tenants, build_tenants


@pytest.fixture(scope="module")
def store_db(pg_admin_url: str) -> Iterator[TestDatabase]:
    with test_database(pg_admin_url) as db:
        yield db


@pytest.fixture(scope="module")
def tenants(store_db: TestDatabase) -> Tenants:
    return build_tenants(store_db.runtime_url)


@pytest.fixture(scope="module")
def client(store_db: TestDatabase, tenants: Tenants) -> Iterator[TestClient]:
    with app_client(store_db.runtime_url, evaluation=False, escalation=False) as test_client:
        yield test_client
