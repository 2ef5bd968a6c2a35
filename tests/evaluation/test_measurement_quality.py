"""A reading the device flags as doubtful (each status flag: body movement, a loose cuff, an improper position,
low perfusion) waits for a new measurement: the patient is asked once, the request is listed for staff and
for the home gateway until a new reading arrives; a normal new reading raises nothing, a confirming one
raises the alert at once, and without one the alert is raised when the wait is over."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from cloud.evaluation.queue import enqueue_at
from tests.evaluation.remeasure_helpers import FLAGS, RULE_OF, Home, new_home
from tests.support.db import drain, rows
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
    assert (listed["patient_id"], listed["metric"], listed["rules"]) == (str(home.patient_id), metric, [RULE_OF[metric]])
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
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await enqueue_at(conn, home.patient_id, metric, time.time() - 1)

    asyncio.run(again())
    drain(url)
    assert len(_requests(url, home)) == 1  # asked once per reading
    # The second look is not taken early along with the patient's due rows.
    assert rows(url, "SELECT metric, retry_at FROM pending_evaluations WHERE patient_id = %s", home.patient_id) == queued

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
    assert _alerts(url, home) == [(RULE_OF[metric], "yellow", "triggered")]
    assert _listed(client, tenants, home) == ([], [])


def test_without_a_new_reading_the_alert_is_raised_when_the_wait_is_over(
    client: TestClient, eval_db: TestDatabase, tenants: Tenants
) -> None:
    url = eval_db.runtime_url
    # Readings taken almost a wait ago, so the test waits seconds rather than a quarter of an hour.
    doubtful_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=WAIT_S - 6)
    homes = {flag: new_home(client, url, tenants) for flag in FLAGS}
    for flag, home in homes.items():
        home.send(client, _metric(flag), DOUBTFUL_VALUE[_metric(flag)], flag, doubtful_at)
    drain(url)
    for flag, home in homes.items():
        assert _alerts(url, home) == [], flag
        _asked(client, tenants, home, _metric(flag), doubtful_at)
    time.sleep(max(0.0, (doubtful_at + timedelta(seconds=WAIT_S)).timestamp() - time.time()) + 0.2)
    drain(url)  # nothing arrived: only the queued second look runs
    for flag, home in homes.items():
        assert _alerts(url, home) == [(RULE_OF[_metric(flag)], "yellow", "triggered")], flag
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
    foreign = client.get(
        f"/api/v1/patients/{other.patient_id}/remeasure-requests", headers=tenants.b.auth(Role.NURSE)
    )
    assert foreign.status_code == 404
