"""The application on a database of its own with both municipalities and one patient's FHIR record."""

from __future__ import annotations

import pytest

from cloud.access.roles import Role
from tests.interop.fhir.seed import Record, seed
from tests.support.fixtures import app_fixtures
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

fhir_db, tenants, client = app_fixtures("fhir_db", evaluation=False, escalation=False)


@pytest.fixture(scope="module")
def record(fhir_db: TestDatabase, tenants: Tenants) -> Record:
    """Patient A-nord's record."""
    a = tenants.a
    return seed(fhir_db.runtime_url, a.municipality_id, a.patients["nord"], a.staff[Role.NURSE])
