"""An application on a migrated database with two municipalities, and helpers to run the evaluation worker
in the test process (as a second cloud process would)."""

from __future__ import annotations

from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from tests.support.fixtures import app_fixtures
from tests.support.kits import Kit, enrol_kit
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, insert_patient

# The API without its evaluation worker: tests decide when evaluation runs.
eval_db, tenants, client = app_fixtures("eval_db", evaluation=False)


def new_patient(url: str, tenants: Tenants) -> UUID:
    """A fresh patient in municipality A's `Nord` team (the nurse's team), so alerts never mix between tests."""
    return insert_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"], "Pasient evaluering")


@pytest.fixture
def kit(client: TestClient, eval_db: TestDatabase, tenants: Tenants) -> Kit:
    """A fresh patient with an enrolled kit (scale, oximeter, alarm button)."""
    return enrol_kit(client, eval_db.runtime_url, tenants.a.municipality_id, new_patient(eval_db.runtime_url, tenants))
