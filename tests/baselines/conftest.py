"""An application (without its evaluation worker) on a migrated database with two municipalities."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.support.app import app_client
from tests.support.services import TestDatabase, test_database
from tests.support.tenants import Tenants, build_tenants


@pytest.fixture(scope="module")
def db(pg_admin_url: str) -> Iterator[TestDatabase]:
    with test_database(pg_admin_url) as database:
        yield database


@pytest.fixture(scope="module")
def tenants(db: TestDatabase) -> Tenants:
    return build_tenants(db.runtime_url)


@pytest.fixture(scope="module")
def client(db: TestDatabase, tenants: Tenants) -> Iterator[TestClient]:
    with app_client(db.runtime_url, evaluation=False) as test_client:
        yield test_client
