"""Bad queries get a precise 4xx; patient scope and the audit record hold for every series route."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from cloud.query.series import Bucket, Position, encode_cursor, query_key
from tests.query.conftest import History
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, audit_rows

SPRING = {"from": "2026-03-27T00:00:00+01:00", "to": "2026-03-31T00:00:00+02:00"}

pytestmark = pytest.mark.xdist_group("query")  # one worker builds the package's data once


@pytest.mark.parametrize(
    ("tail", "params", "status", "words"),
    [
        ("series/body.mood", SPRING, 422, "'body.mood' is not a metric in the catalogue"),
        ("series/bp.cuff_pressure", SPRING, 422, "live value"),
        ("series/heart_rate", {"from": "2026-03-31T00:00:00Z", "to": "2026-03-31T00:00:00Z"}, 422, "must be before"),
        ("series/heart_rate", {"from": "2026-04-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, 422, "must be before"),
        ("series/heart_rate", {"from": "2026-01-01T00:00:00Z", "to": "2026-02-02T00:00:00Z"}, 422,
         "a raw series may span at most 31 days, not 32; ask for buckets"),
        ("series/heart_rate", {"from": "2026-03-27T00:00:00", "to": "2026-03-28T00:00:00Z"}, 422, "timezone"),
        ("series/heart_rate", {**SPRING, "limit": 0}, 422, "greater than or equal to 1"),
        ("series/heart_rate", {**SPRING, "cursor": "bm90LWEtY3Vyc29y"}, 400, "not one this service issued"),
        ("series/heart_rate/buckets", {**SPRING, "bucket": "7min"}, 422, "'5min', '15min'"),
        ("series/heart_rate/buckets", SPRING, 422, "bucket"),
        ("series/heart_rate/buckets", {"from": "2026-01-01T00:00:00Z", "to": "2026-05-01T00:00:00Z", "bucket": "1h"},
         422, "1h buckets may span at most 92 days, not 120; use a wider bucket"),
        ("series/heart_rate/buckets", {"from": "2016-01-01T00:00:00Z", "to": "2026-05-01T00:00:00Z", "bucket": "1d"},
         422, "daily buckets may span at most 3700 days"),
        ("latest", {"metric": ["spo2", "body.mood"]}, 422, "'body.mood' is not a metric"),
    ],
)  # fmt: skip
def test_bad_queries_get_a_precise_4xx(
    client: TestClient, tenants: Tenants, history: History, tail: str, params: dict[str, object], status: int,
    words: str,
) -> None:  # fmt: skip
    response = client.get(f"/api/v1/patients/{tenants.a.patients['nord']}/{tail}", params=params,
                          headers=tenants.a.auth(Role.NURSE))  # fmt: skip
    assert response.status_code == status, response.text
    assert words in response.text


def test_a_cursor_only_continues_its_own_query(client: TestClient, tenants: Tenants, history: History) -> None:
    url = f"/api/v1/patients/{tenants.a.patients['nord']}/series/heart_rate"
    nurse = tenants.a.auth(Role.NURSE)
    first = client.get(url, params={**SPRING, "limit": 5}, headers=nurse).json()
    assert len(first["items"]) == 5 and first["next_cursor"]
    moved = {"from": "2026-03-27T06:00:00+01:00", "to": SPRING["to"], "cursor": first["next_cursor"]}
    response = client.get(url, params=moved, headers=nurse)
    assert response.status_code == 400 and "belongs to another query" in response.text
    buckets = client.get(f"{url}/buckets", params={**SPRING, "bucket": "1h", "cursor": first["next_cursor"]},
                         headers=nurse)  # fmt: skip
    assert buckets.status_code == 400


@pytest.mark.parametrize(
    ("role", "slot", "tenant", "status"),
    [
        (Role.NURSE, "nord", "a", 200),
        (Role.RESPONSE_CENTRE, "sor", "a", 200),
        (Role.MUNICIPALITY_ADMIN, "sor", "a", 200),
        (Role.NURSE, "sor", "a", 403),  # not her care team
        (Role.INSTALLER, "nord", "a", 403),  # installers see kits, not health data
        (Role.AUDITOR, "nord", "a", 403),
        (Role.MUNICIPALITY_ADMIN, "nord", "b", 404),  # another municipality's patient does not exist
        (Role.NURSE, "nord", "b", 404),
    ],
)
def test_series_are_scoped_to_the_callers_patients(
    client: TestClient, tenants: Tenants, history: History, role: Role, slot: str, tenant: str, status: int
) -> None:
    patient = getattr(tenants, tenant).patients[slot]
    for tail, params in (("series/heart_rate", SPRING), ("series/heart_rate/buckets", {**SPRING, "bucket": "1d"}),
                         ("latest", {})):  # fmt: skip
        response = client.get(f"/api/v1/patients/{patient}/{tail}", params=params, headers=tenants.a.auth(role))
        assert response.status_code == status, (tail, response.text)
        if tenant == "b":
            assert response.json() == {"detail": "Pasienten finnes ikke."}  # the same as for no patient at all


def test_each_series_read_is_audited(
    client: TestClient, tenants: Tenants, history: History, query_db: TestDatabase
) -> None:
    patient = tenants.a.patients["nord"]
    for tail, params, action in (("series/heart_rate", SPRING, "series.read"),
                                 ("series/heart_rate/buckets", {**SPRING, "bucket": "6h"}, "series.read"),
                                 ("latest", {}, "series.latest")):  # fmt: skip
        request_id = str(uuid.uuid4())
        response = client.get(f"/api/v1/patients/{patient}/{tail}", params=params,
                              headers={**tenants.a.auth(Role.NURSE), "X-Request-ID": request_id})  # fmt: skip
        assert response.status_code == 200
        (record,) = audit_rows(query_db.runtime_url, request_id)
        assert (record["action"], record["outcome"], record["patient_id"]) == (action, "allowed", patient)


def test_a_hand_made_cursor_far_in_time_is_refused(client: TestClient, tenants: Tenants, history: History) -> None:
    patient = tenants.a.patients["nord"]
    key = query_key("buckets", patient, "heart_rate", 1774566000.0, 1774908000.0, Bucket.DAY)
    forged = encode_cursor(Position(datetime(9999, 12, 31, 23, tzinfo=UTC)), key)
    params = {"from": "2026-03-27T00:00:00+01:00", "to": "2026-03-31T00:00:00+02:00", "bucket": "1d", "cursor": forged}
    response = client.get(f"/api/v1/patients/{patient}/series/heart_rate/buckets", params=params,
                          headers=tenants.a.auth(Role.NURSE))  # fmt: skip
    assert response.status_code == 400, response.text
    assert "not one this service issued" in response.text  # the digest matched: the time was refused
