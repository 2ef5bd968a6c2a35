"""The web tests share one migrated database with both municipalities; the browser tests drive the real
service (`tryggheim cloud serve`) on it, the others the application in this process. Every test makes patients
of its own, so none sees another's alerts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.support.app import app_client
from tests.support.fixtures import database_fixture, tenants_fixture
from tests.support.proc import cloud_serve
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

web_db, tenants = database_fixture("package"), tenants_fixture("web_db", "package")


@pytest.fixture(scope="package")
def server(web_db: TestDatabase, tenants: Tenants) -> Iterator[str]:
    """The real service on the package's database: local accounts, detection on, no escalation runner."""
    with cloud_serve(web_db.runtime_url, TRYGGHEIM_AUTH_MODE="local", TRYGGHEIM_COOKIE_SECURE="false",
                     TRYGGHEIM_ESCALATION="false") as url:  # fmt: skip
        yield url


@pytest.fixture(scope="module")
def app(web_db: TestDatabase, tenants: Tenants) -> Iterator[TestClient]:
    """The application in this process on the package's database (detection on, no escalation runner)."""
    with app_client(web_db.runtime_url, escalation=False) as client:
        yield client
