"""The application on a migrated database with two municipalities, an enrolled kit in A, and helpers to add
supervision sensors and drain the evaluation queue."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from cloud.db.pool import connect
from cloud.gateways import devices
from tests.support.fixtures import app_fixtures
from tests.support.kits import Kit, enrol_kit
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, insert_patient

DOOR = "aqara-door-window-mccgq11lm"

# The API without its evaluation worker: tests decide when evaluation runs.
registry_db, tenants, client = app_fixtures("registry_db", evaluation=False)


def new_patient(url: str, tenants: Tenants, lifecycle: str = "active") -> UUID:
    """A fresh patient in municipality A's `Nord` team."""
    return insert_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"], "Pasient register", lifecycle)


@pytest.fixture
def kit(client: TestClient, registry_db: TestDatabase, tenants: Tenants) -> Kit:
    """A fresh patient with an enrolled kit (scale, oximeter, alarm button)."""
    patient = new_patient(registry_db.runtime_url, tenants)
    return enrol_kit(client, registry_db.runtime_url, tenants.a.municipality_id, patient)


def add_door(url: str, kit: Kit, *, assign: bool = True) -> tuple[str, UUID]:
    """A door sensor registered to the kit's gateway since yesterday, assigned to the kit's patient."""
    address = f"door-{uuid.uuid4().hex[:8]}"
    since = datetime.now(UTC) - timedelta(days=1)

    async def make() -> UUID:
        async with await connect(url) as conn:
            device = await devices.register(
                conn, gateway_id=kit.gateway_id, address=address, profile_id=DOOR, valid_from=since
            )
            if assign:
                await devices.assign(conn, device_id=device, patient_id=kit.patient_id, valid_from=since)
            return device

    return address, asyncio.run(make())
