"""An application on a migrated database with two municipalities."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.support.app import app_client
from tests.support.services import TestDatabase, test_database
from tests.support.tenants import Tenants, build_tenants


@pytest.fixture(scope="module")
def access_db(pg_admin_url: str) -> Iterator[TestDatabase]:
    with test_database(pg_admin_url) as db:
        yield db


@pytest.fixture(scope="module")
def tenants(access_db: TestDatabase) -> Tenants:
    return build_tenants(access_db.runtime_url)


@pytest.fixture(scope="module")
def client(access_db: TestDatabase, tenants: Tenants) -> Iterator[TestClient]:
    with app_client(access_db.runtime_url) as test_client:
        yield test_client
