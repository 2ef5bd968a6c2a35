"""An application without its evaluation worker (tests raise alerts through the queue and drain it) on a
migrated database with two municipalities, and a helper that raises an alert from a stored reading."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg

from device_profiles import load_catalogue
from tests.support.db import drain
from tests.support.fixtures import app_fixtures

worklist_db, tenants, client = app_fixtures("worklist_db", evaluation=False)


def raise_from(url: str, patient: uuid.UUID, metric: str, value: float, at: datetime | None = None) -> None:
    """Store one reading for the patient as a gateway's (through no real radio) and run the evaluation, as
    the ingest and the worker do: the default protocols (general elderly and welfare) judge it."""
    moment = at or datetime.now(UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO observations (gateway_id, outbox_epoch, seq, device_id, patient_id, metric, value, unit, t, "
            "measured_at, received_at) VALUES (%s, %s, 1, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                uuid.uuid4(),
                uuid.uuid4(),
                uuid.uuid4(),
                patient,
                metric,
                value,
                load_catalogue()[metric].unit,
                moment,
                moment,
                moment,
            ),
        )
        conn.execute(
            "INSERT INTO pending_evaluations (patient_id, metric, alarm) VALUES (%s, %s, %s)",
            (patient, metric, metric in {"alarm.button", "fall.detected"}),
        )
    drain(url)
