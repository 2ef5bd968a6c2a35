"""A heart-failure patient whose measurements worsen together: the weight up 2.6 kg in two days, the pulse
above 100 twice and the oxygen saturation below 94 % twice, so three rules of the protocol fire
(hf.weight_gain_3d, hf.heart_rate, hf.spo2) and the worsening episode collects them (alerts.episodes)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Final
from uuid import UUID

import psycopg

from device_profiles import load_catalogue
from tests.support.tenants import Tenant, insert_patient

MEMBERS: Final = ("hf.weight_gain_3d", "hf.heart_rate", "hf.spo2")  # in the order `worsen` makes them fire


def heart_failure_patient(url: str, tenant: Tenant, name: str) -> UUID:
    """A new patient of the tenant's Nord team on the heart-failure protocol."""
    patient = insert_patient(url, tenant.municipality_id, tenant.teams["Nord"], name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO patient_protocols (patient_id, protocols) VALUES (%s, '{heart_failure}')", (patient,))
    return patient


def store(url: str, patient: UUID, metric: str, values: list[tuple[float, timedelta]]) -> None:
    """Store readings of one metric (value, how long ago) as a gateway's and queue their evaluation, as ingest
    does in one transaction (no radio or kit: the evaluation reads readings by patient)."""
    now = datetime.now(UTC)
    unit = load_catalogue()[metric].unit
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        for seq, (value, ago) in enumerate(values, 1):
            conn.execute(
                "INSERT INTO observations (gateway_id, outbox_epoch, seq, device_id, patient_id, metric, value, unit, "
                "t, measured_at, received_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (uuid.uuid4(), uuid.uuid4(), seq, uuid.uuid4(), patient, metric, value, unit, now - ago, now - ago,
                 now - ago),
            )  # fmt: skip
        conn.execute("INSERT INTO pending_evaluations (patient_id, metric) VALUES (%s, %s)", (patient, metric))


# Per member rule: the metric and readings that make it fire (yellow).
WORSENING: Final = {
    "hf.weight_gain_3d": ("body.weight", [(80.0, timedelta(days=2)), (82.6, timedelta(minutes=5))]),
    "hf.heart_rate": ("heart_rate", [(112.0, timedelta(minutes=40)), (114.0, timedelta(minutes=4))]),
    "hf.spo2": ("spo2", [(93.0, timedelta(minutes=30)), (93.0, timedelta(minutes=3))]),
}
