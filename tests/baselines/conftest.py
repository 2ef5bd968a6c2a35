"""An application (without its evaluation worker) on a migrated database with two municipalities."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest

from cloud.db.pool import make_pool
from cloud.evaluation.baselines import propose_due
from tests.support.fixtures import app_fixtures
from tests.support.proc import cloud_serve
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, insert_patient

db, tenants, client = app_fixtures("db", evaluation=False)


@pytest.fixture(scope="module")
def server(db: TestDatabase) -> Iterator[str]:
    """The real service on the module's database, without its own evaluation worker (the test proposes)."""
    with cloud_serve(db.runtime_url, TRYGGHEIM_EVALUATION="false") as url:
        yield url


def new_patient(
    url: str, tenants: Tenants, days: int, team: str = "Nord", spo2: float = 91.0, lifecycle: str = "trial"
) -> uuid.UUID:
    """A heart-failure patient in municipality A with `days` days of twice-daily pulse, SpO2 and systolic
    readings (a person whose normal SpO2 is below the protocol's 94 %)."""
    rng = np.random.default_rng(days)
    now = datetime.now(UTC)
    patient = insert_patient(url, tenants.a.municipality_id, tenants.a.teams[team], "Pasient baseline", lifecycle)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO patient_protocols (patient_id, protocols) VALUES (%s, '{heart_failure}')", (patient,))
        gateway, epoch, device = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        rows = []
        seq = 0
        for day in range(days):
            for hour in (8, 20):
                at = now - timedelta(days=days - day, hours=-hour / 2)
                for metric, value, unit in (
                    ("heart_rate", rng.normal(66, 4), "/min"),
                    ("spo2", round(rng.normal(spo2, 1.0)), "%"),
                    ("bp.systolic", rng.normal(128, 7), "mm[Hg]"),
                ):
                    seq += 1
                    rows.append((gateway, epoch, seq, device, patient, metric, float(value), unit, at, at, at))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO observations (gateway_id, outbox_epoch, seq, device_id, patient_id, metric, value, unit, "
                "t, measured_at, received_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
    return uuid.UUID(str(patient))


def propose(url: str, now: datetime | None = None) -> int:
    async def run() -> int:
        pool = make_pool(url, min_size=1, max_size=2, timeout_s=5)
        await pool.open()
        try:
            return await propose_due(pool, now=now, trial_days=14)
        finally:
            await pool.close()

    return asyncio.run(run())
