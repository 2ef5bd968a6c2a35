"""Measurement quality against the real PostgreSQL, with readings made by the real decoders.

A reading the device flags as doubtful (each status flag: body movement, a loose cuff, an improper position,
low perfusion) waits for a new measurement: the patient is asked once, the request is listed for staff and
for the home gateway until a new reading arrives; a normal new reading raises nothing, a confirming one
raises the alert at once, and without one the alert is raised when the wait is over. The doubtful mask the
windows compute in SQL is device_profiles.quality's. An irregular pulse reaches the nurse's worklist, also
during a pause. The routes are fuzzed with schemathesis against the real service process."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from psycopg.types.json import Jsonb
from schemathesis.checks import not_a_server_error

from alerts.inputs import Window
from cloud.access.roles import Role
from cloud.db.pool import connect
from cloud.evaluation.inputs import windows
from cloud.evaluation.queue import enqueue_at
from device_profiles.quality import DOUBTFUL_FLAGS, IRREGULAR_PULSE_METRIC, doubtful_reasons
from tests.evaluation.conftest import new_patient
from tests.evaluation.remeasure_helpers import FLAGS, RULE_OF, Home, new_home
from tests.support.db import drain, rows
from tests.support.fuzzing import api_operations, fuzz_settings, no_foreign_marker
from tests.support.proc import cloud_serve
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

WAIT_S = 900  # the threshold rules' default wait for a new measurement
METRIC_OF = {"low_perfusion": "spo2"}  # the other flags come from the blood-pressure monitor
DOUBTFUL_VALUE = {"bp.systolic": 95, "spo2": 93}  # yellow for hf.systolic (100-160) and hf.spo2 (>= 94)
NORMAL_VALUE = {"bp.systolic": 126, "spo2": 97}


def _metric(flag: str) -> str:
    return METRIC_OF.get(flag, "bp.systolic")


def _alerts(url: str, home: Home) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT rule, severity, state FROM alerts WHERE patient_id = %s ORDER BY id", home.patient_id)


def _requests(url: str, home: Home) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT rule, alert_id, notify, detail -> 'explanation' ->> 'metric' FROM alert_transitions "
                "WHERE patient_id = %s AND event = 'remeasure_requested' ORDER BY id", home.patient_id)  # fmt: skip


def _listed(client: TestClient, tenants: Tenants, home: Home) -> tuple[list[Any], list[Any]]:
    staff = client.get(f"/api/v1/patients/{home.patient_id}/remeasure-requests", headers=tenants.a.auth(Role.NURSE))
    gateway = client.get(f"/api/v1/gateways/{home.kit.gateway_id}/remeasure-requests", headers=home.kit.auth)
    assert staff.status_code == 200 and gateway.status_code == 200, (staff.text, gateway.text)
    return staff.json(), gateway.json()


def _asked(client: TestClient, tenants: Tenants, home: Home, metric: str, at: datetime) -> None:
    """The request is logged once, without an alert, and listed on both routes with its wait."""
    staff, gateway = _listed(client, tenants, home)
    assert staff == gateway
    [listed] = staff
    assert (listed["patient_id"], listed["metric"], listed["rules"]) == (
        str(home.patient_id),
        metric,
        [RULE_OF[metric]],
    )
    assert datetime.fromisoformat(listed["reading_at"]) == at
    assert datetime.fromisoformat(listed["wait_until"]) == at + timedelta(seconds=WAIT_S)


@pytest.mark.parametrize("flag", FLAGS)
def test_a_doubtful_reading_waits_and_a_normal_new_one_raises_nothing(
    client: TestClient, eval_db: TestDatabase, tenants: Tenants, flag: str
) -> None:
    url, metric = eval_db.runtime_url, _metric(flag)
    home = new_home(client, url, tenants)
    doubtful_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    home.send(client, metric, DOUBTFUL_VALUE[metric], flag, doubtful_at)
    drain(url)
    assert _alerts(url, home) == []
    assert _requests(url, home) == [(RULE_OF[metric], None, False, metric)]
    _asked(client, tenants, home, metric, doubtful_at)
    queued = rows(url, "SELECT metric, retry_at FROM pending_evaluations WHERE patient_id = %s", home.patient_id)
    assert queued == [(metric, doubtful_at + timedelta(seconds=WAIT_S))]  # the second look, at the end of the wait

    async def again() -> None:  # another evaluation of the same metric during the wait
        async with await connect(url) as conn:
            await enqueue_at(conn, home.patient_id, metric, time.time() - 1)

    asyncio.run(again())
    drain(url)
    assert len(_requests(url, home)) == 1  # asked once per reading
    # The second look is not taken early along with the patient's due rows.
    assert (
        rows(url, "SELECT metric, retry_at FROM pending_evaluations WHERE patient_id = %s", home.patient_id) == queued
    )

    home.send(client, metric, NORMAL_VALUE[metric], None, doubtful_at + timedelta(minutes=1))
    assert _listed(client, tenants, home) == ([], [])  # a new reading answers the request at once
    drain(url)
    assert _alerts(url, home) == []


@pytest.mark.parametrize("flag", FLAGS)
def test_a_confirming_new_reading_raises_the_alert_at_once(
    client: TestClient, eval_db: TestDatabase, tenants: Tenants, flag: str
) -> None:
    url, metric = eval_db.runtime_url, _metric(flag)
    home = new_home(client, url, tenants)
    doubtful_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    home.send(client, metric, DOUBTFUL_VALUE[metric], flag, doubtful_at)
    drain(url)
    assert _alerts(url, home) == []
    home.send(client, metric, DOUBTFUL_VALUE[metric] - 1, None, doubtful_at + timedelta(minutes=2))
    drain(url)
    assert (RULE_OF[metric], "yellow", "triggered") in _alerts(url, home)
    assert _listed(client, tenants, home) == ([], [])


def test_without_a_new_reading_the_alert_is_raised_when_the_wait_is_over(
    client: TestClient, eval_db: TestDatabase, tenants: Tenants
) -> None:
    url = eval_db.runtime_url
    homes = {flag: new_home(client, url, tenants) for flag in FLAGS}
    # Readings taken almost a wait ago, so the test waits seconds rather than a quarter of an hour.
    doubtful_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=WAIT_S - 5)
    for flag, home in homes.items():
        home.send(client, _metric(flag), DOUBTFUL_VALUE[_metric(flag)], flag, doubtful_at)
    drain(url)
    for flag, home in homes.items():
        assert _alerts(url, home) == [], flag
        _asked(client, tenants, home, _metric(flag), doubtful_at)
    time.sleep(max(0.0, (doubtful_at + timedelta(seconds=WAIT_S)).timestamp() - time.time()) + 0.2)
    drain(url)  # nothing arrived: only the queued second look runs
    for flag, home in homes.items():
        assert (RULE_OF[_metric(flag)], "yellow", "triggered") in _alerts(url, home), flag
        assert len(_requests(url, home)) == 1


def test_a_gateway_sees_only_its_own_patients_requests(
    client: TestClient, eval_db: TestDatabase, tenants: Tenants
) -> None:
    url = eval_db.runtime_url
    mine, other = new_home(client, url, tenants), new_home(client, url, tenants)
    doubtful_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    other.send(client, "spo2", 93, "low_perfusion", doubtful_at)
    drain(url)
    assert _listed(client, tenants, mine) == ([], [])
    assert len(_listed(client, tenants, other)[1]) == 1
    refused = client.get(f"/api/v1/gateways/{other.kit.gateway_id}/remeasure-requests", headers=mine.kit.auth)
    assert refused.status_code == 403
    foreign = client.get(f"/api/v1/patients/{other.patient_id}/remeasure-requests", headers=tenants.b.auth(Role.NURSE))
    assert foreign.status_code == 404


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
        async with await connect(url, autocommit=False) as conn:
            return await windows(conn, patient, {"spo2": 1, IRREGULAR_PULSE_METRIC: 1}, datetime.now(UTC).timestamp())

    found = asyncio.run(read())
    expected = [bool(doubtful_reasons(c)) for c in contexts]
    assert found["spo2"].flags().tolist() == expected
    assert 50 < sum(expected) < len(expected)  # both kinds are well represented
    assert not found[IRREGULAR_PULSE_METRIC].flags().any()  # a finding of its own, never doubtful


def test_an_irregular_pulse_reaches_the_nurse_also_during_a_pause(
    client: TestClient, eval_db: TestDatabase, tenants: Tenants
) -> None:
    url, nurse = eval_db.runtime_url, tenants.a.auth(Role.NURSE)
    home = new_home(client, url, tenants)
    paused = client.post(f"/api/v1/patients/{home.patient_id}/pause", json={"reason": "Innlagt"}, headers=nurse)
    assert paused.status_code == 201, paused.text
    measured = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    home.send(client, "bp.systolic", 128, None, measured)  # the monitor checked the rhythm and found it regular
    drain(url)
    assert _alerts(url, home) == []
    # Irregular, and the person moved: the pressure is doubtful, the rhythm finding is not.
    home.send(client, "bp.systolic", 131, "body_movement+irregular_pulse", measured + timedelta(minutes=5))
    drain(url)
    assert _alerts(url, home) == [("rhythm.irregular_pulse", "yellow", "triggered")]
    logged = rows(url, "SELECT event, notify, suppressed_by FROM alert_transitions WHERE patient_id = %s "
                  "AND rule = 'rhythm.irregular_pulse'", home.patient_id)  # fmt: skip
    assert logged == [("triggered", True, None)]
    worklist = client.get("/api/v1/worklist", headers=nurse)
    assert worklist.status_code == 200
    [group] = [g for g in worklist.json()["patients"] if g["patient_id"] == str(home.patient_id)]
    [alert] = group["alerts"]
    assert (alert["rule"], alert["alert_class"], alert["event_class"]) == (
        "rhythm.irregular_pulse",
        "clinical",
        "clinical",
    )
    assert alert["title"]


@pytest.fixture(scope="module")
def server(eval_db: TestDatabase, tenants: Tenants) -> Iterator[str]:
    """`tryggheim cloud serve` as a real process on the module's database (no background workers)."""
    with cloud_serve(eval_db.runtime_url, TRYGGHEIM_EVALUATION="false", TRYGGHEIM_ESCALATION="false") as url:
        yield url


def _fuzz(server: str, operation: Any, headers: dict[str, str], own: dict[str, str], checks: list[Any]) -> None:
    @fuzz_settings(25)
    @given(case=operation.as_strategy())
    def call(case: Any) -> None:
        for name, value in own.items():
            if name in (case.path_parameters or {}) and hash(str(case.path_parameters[name])) % 2:
                case.path_parameters[name] = value  # half the cases on her own patient or gateway
        case.call_and_validate(base_url=server, headers=headers, checks=checks)

    call()


@pytest.mark.slow
def test_the_routes_have_no_server_errors_and_no_other_municipalitys_data(
    server: str, client: TestClient, eval_db: TestDatabase, tenants: Tenants
) -> None:
    home = new_home(client, eval_db.runtime_url, tenants)
    home.send(client, "spo2", 93, "low_perfusion", datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1))
    drain(eval_db.runtime_url)
    operations = api_operations(server, tag="remeasure")
    assert {op.path for op in operations} == {
        "/api/v1/patients/{patient_id}/remeasure-requests",
        "/api/v1/gateways/{gateway_id}/remeasure-requests",
    }
    own = {"gateway_id": str(home.kit.gateway_id), "patient_id": str(home.patient_id)}
    checks = [not_a_server_error, no_foreign_marker(tenants.b.marker)]
    for operation in operations:
        headers = home.kit.auth if "gateway_id" in operation.path else tenants.a.auth(Role.NURSE)
        _fuzz(server, operation, headers, own, checks)
