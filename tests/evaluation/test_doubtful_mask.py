"""The doubtful mask the evaluation's windows compute in SQL agrees with device_profiles.quality on every
context shape: the blood-pressure object, the oximeter's lists, and contexts that only look like them."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from alerts.inputs import Window
from cloud.evaluation.inputs import windows
from device_profiles.quality import DOUBTFUL_FLAGS, IRREGULAR_PULSE_METRIC, doubtful_reasons
from tests.evaluation.conftest import new_patient
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

FIXED: list[dict[str, Any] | None] = [
    None,
    {},
    {"measurement_status": {"raw": "0x0001", "flags": ["body_movement"], "pulse_rate_range": "within_range"}},
    {"measurement_status": {"raw": "0x0004", "flags": ["irregular_pulse"], "pulse_rate_range": "within_range"}},
    {"measurement_status": {"raw": "0x0000", "flags": [], "pulse_rate_range": "within_range"}},
    {"measurement_status": ["validated_data"], "device_sensor_status": ["low_perfusion"]},
    {"measurement_status": ["questionable_measurement"]},
    {"device_sensor_status": ["extended_display_update_ongoing", "signal_analysis_ongoing"]},
    # Look-alikes quality does not count: a bare string, a flag as a key, flags not in a list, a wrong field.
    {"measurement_status": "body_movement"},
    {"measurement_status": {"body_movement": True}},
    {"measurement_status": {"flags": "cuff_too_loose"}},
    {"measurement_status": {"flags": {"improper_position": 1}}},
    {"device_sensor_status": {"flags": ["low_perfusion"]}},
    {"other_status": ["low_perfusion"], "flags": ["body_movement"]},
    {"measurement_status": [1, None, {"flags": ["body_movement"]}]},
]


def _random_contexts(count: int) -> list[dict[str, Any]]:
    rng = random.Random(20)
    names = sorted(set(itertools.chain(*DOUBTFUL_FLAGS.values())) | {"irregular_pulse", "validated_data", "x"})
    out = []
    for _ in range(count):
        context: dict[str, Any] = {}
        for field in (*DOUBTFUL_FLAGS, "unit_sent"):
            flags = rng.sample(names, rng.randint(0, 3))
            shape = rng.choice(["list", "object", "absent"])
            if shape == "list":
                context[field] = flags
            elif shape == "object":
                context[field] = {"raw": "0x0000", "flags": flags}
        out.append(context)
    return out


def test_the_sql_mask_is_the_quality_table(eval_db: TestDatabase, tenants: Tenants) -> None:
    url = eval_db.runtime_url
    patient = new_patient(url, tenants)
    contexts = FIXED + _random_contexts(300)
    start = datetime.now(UTC) - timedelta(hours=2)
    gateway, epoch, device = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    stored = [("spo2", start + timedelta(seconds=i), c) for i, c in enumerate(contexts)]
    stored += [(IRREGULAR_PULSE_METRIC, start + timedelta(seconds=i), c) for i, c in enumerate(FIXED)]
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO observations (gateway_id, outbox_epoch, seq, device_id, patient_id, metric, value, unit, t, "
            "measured_at, received_at, context) VALUES (%s, %s, %s, %s, %s, %s, 1, '1', %s, %s, %s, %s)",
            [(gateway, epoch, seq, device, patient, metric, at, at, at, None if c is None else Jsonb(c))
             for seq, (metric, at, c) in enumerate(stored, start=1)],
        )  # fmt: skip

    async def read() -> dict[str, Window]:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await windows(conn, patient, {"spo2": 1, IRREGULAR_PULSE_METRIC: 1}, datetime.now(UTC).timestamp())

    found = asyncio.run(read())
    expected = [bool(doubtful_reasons(c)) for c in contexts]
    assert found["spo2"].flags().tolist() == expected
    assert 50 < sum(expected) < len(expected)  # both kinds are well represented
    assert not found[IRREGULAR_PULSE_METRIC].flags().any()  # a finding of its own, never doubtful
