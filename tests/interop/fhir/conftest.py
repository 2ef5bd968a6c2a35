"""The application on a database of its own with both municipalities and one patient's FHIR record."""

from __future__ import annotations

import pytest

from cloud.access.roles import Role
from tests.interop.fhir.seed import Record, seed
from tests.support.fixtures import app_fixtures
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

# One database for the package (tests that use it run in the xdist group "fhir", on one worker).
fhir_db, tenants, client = app_fixtures("fhir_db", scope="package", evaluation=False, escalation=False)


@pytest.fixture(scope="package")
def record(fhir_db: TestDatabase, tenants: Tenants) -> Record:
    """Patient A-nord's record."""
    a = tenants.a
    return seed(fhir_db.runtime_url, a.municipality_id, a.patients["nord"], a.staff[Role.NURSE])
