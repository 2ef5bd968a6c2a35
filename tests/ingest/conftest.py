"""An application with two municipalities and an enrolled kit in municipality A."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.fixtures import app_fixtures
from tests.support.kits import Kit, enrol_kit
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

ingest_db, tenants, client = app_fixtures("ingest_db")


@pytest.fixture
def kit(client: TestClient, ingest_db: TestDatabase, tenants: Tenants) -> Kit:
    """A fresh kit per test, so counts never mix."""
    return enrol_kit(client, ingest_db.runtime_url, tenants.a.municipality_id, tenants.a.patients["nord"])
