"""A record for the FHIR tests, written as the runtime role the way ingest, a visit and detection store theirs:
a kit (gateway, blood-pressure monitor registered and assigned), device readings, a visit's vitals, the patient's
own answers and an alert with the nurse's outcome."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

FNR = "15076500565"
ORGNR = "974760673"
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
BP_READINGS = 7
VISIT = {"spo2": (93.0, "%"), "body.weight": (80.5, "kg"), "body.temperature": (37.2, "Cel"),
         "resp.rate": (18.0, "/min"), "blood.glucose": (6.1, "mmol/L")}  # fmt: skip
ANSWERS = {"symptom.dyspnoea": 2.0, "symptom.oedema": 1.0, "symptom.wellbeing": 3.0, "cat.score": 12.0}


@dataclass
class Record:
    """What was stored for the patient, by kind."""

    patient_id: UUID
    gateway_id: UUID
    device_id: UUID
    systolic: list[int] = field(default_factory=list)
    diastolic: list[int] = field(default_factory=list)
    visit: dict[str, int] = field(default_factory=dict)
    answers: list[int] = field(default_factory=list)
    alert_id: int = 0
    episode_id: int = 0


def _one(conn: psycopg.Connection[dict[str, Any]], sql: str, params: tuple[Any, ...]) -> Any:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return next(iter(row.values()))


_GATEWAY_READING = (
    "INSERT INTO observations (gateway_id, outbox_epoch, seq, device_id, patient_id, metric, value, unit, t, "
    "measured_at, received_at) VALUES (%s, %s, %s, %s, %s, %s, %s, 'mm[Hg]', %s, %s, %s) RETURNING id"
)
_MANUAL_READING = (
    "INSERT INTO observations (source, entered_by, audit_id, patient_id, metric, value, unit, t, measured_at, "
    "received_at, context) VALUES ('manual', %s, 1, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)


def _kit(conn: psycopg.Connection[dict[str, Any]], municipality: UUID, patient: UUID) -> tuple[UUID, UUID]:
    gateway = _one(
        conn, "INSERT INTO gateways (municipality_id, label) VALUES (%s, 'stua') RETURNING id", (municipality,)
    )
    device = _one(
        conn,
        "INSERT INTO devices (municipality_id, profile_id, address, serial) VALUES (%s, 'omron-evolv-hem-7600t', "
        "%s, 'SN-1') RETURNING id",
        (municipality, f"AA:{uuid.uuid4().hex[:10]}"),
    )
    since = START - timedelta(days=30)
    conn.execute("INSERT INTO device_registrations (device_id, gateway_id, valid) VALUES (%s, %s, tstzrange(%s, NULL))",
                 (device, gateway, since))  # fmt: skip
    conn.execute("INSERT INTO device_assignments (device_id, patient_id, valid) VALUES (%s, %s, tstzrange(%s, NULL))",
                 (device, patient, since))  # fmt: skip
    return gateway, device


def seed(url: str, municipality: UUID, patient: UUID, staff: UUID) -> Record:
    """The record of `patient` (given a fødselsnummer; the municipality an organisation number)."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute("UPDATE municipalities SET orgnr = %s WHERE id = %s", (ORGNR, municipality))
        conn.execute("UPDATE patients SET national_id = %s, national_id_kind = 'fnr' WHERE id = %s", (FNR, patient))
        gateway, device = _kit(conn, municipality, patient)
        record = Record(patient, gateway, device)
        epoch = uuid.uuid4()
        for n in range(BP_READINGS):
            t = START + timedelta(hours=12 * n)
            for seq, (metric, value, ids) in enumerate(
                (("bp.systolic", 150 + n, record.systolic), ("bp.diastolic", 90 + n, record.diastolic)), start=2 * n + 1
            ):
                ids.append(_one(conn, _GATEWAY_READING, (gateway, epoch, seq, device, patient, metric, value, t, t, t)))
        visit = START + timedelta(days=5)
        for metric, (value, unit) in VISIT.items():
            record.visit[metric] = _one(
                conn, _MANUAL_READING, (staff, patient, metric, value, unit, visit, visit, visit, None)
            )
        answered = START + timedelta(days=6)
        for metric, value in ANSWERS.items():
            context = Jsonb({"cat_items": [2, 2, 1, 1, 2, 1, 2, 1]}) if metric == "cat.score" else None
            unit = "{score}"
            record.answers.append(
                _one(
                    conn,
                    _MANUAL_READING,
                    (patient, patient, metric, value, unit, answered, answered, answered, context),
                )
            )
        record.alert_id = _one(
            conn,
            "INSERT INTO alerts (patient_id, rule, alert_class, severity, state, auto_resolve, opened_at, updated_at, "
            "last_input_at, message, resolved_at, resolved_by, resolution) VALUES (%s, 'ge.news2', 'clinical', 'red', "
            "'resolved', false, %s, %s, %s, 'NEWS2 7', %s, %s, 'handled') RETURNING id",
            (patient, visit, visit, visit, visit + timedelta(hours=1), staff),
        )
        record.episode_id = _one(
            conn,
            "INSERT INTO alerts (patient_id, rule, alert_class, severity, state, auto_resolve, opened_at, updated_at, "
            "message, resolved_at) VALUES (%s, 'episode.clinical', 'clinical', 'red', 'resolved', true, %s, %s, "
            "'Worsening episode', %s) RETURNING id",
            (patient, visit, visit, visit + timedelta(hours=2)),
        )
        conn.execute("UPDATE alerts SET episode_id = %s WHERE id = %s", (record.episode_id, record.alert_id))
        conn.execute(
            "INSERT INTO alert_outcomes (alert_id, outcome, at, note, recorded_by) VALUES (%s, 'on_site', %s, "
            "'Visited, oxygen given', %s)",
            (record.alert_id, visit + timedelta(minutes=40), staff),
        )
    return record
