"""Hostile and broken bodies: a precise 4xx, nothing valid lost, the service keeps serving."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.ingest.body import MAX_BODY, MAX_INFLATED
from tests.support.kits import Kit, batch, reading
from tests.support.services import TestDatabase


def _post(client: TestClient, kit: Kit, body: bytes, **headers: str) -> int:
    response = client.post(
        "/api/v1/ingest", content=body, headers={**kit.auth, "Content-Type": "application/json", **headers}
    )
    return response.status_code


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"epoch": "x", "observations": []}', 422),
        (b'{"epoch": "7c6f0a3e-0000-4000-8000-000000000000"}', 422),
        (b"[1, 2, 3]", 422),
        (b'{"epoch": "7c6f0a3e-0000-4000-8000-000000000000", "observations": [{"seq": 1, "value": NaN}]}', 400),
        (b'{"epoch": "7c6f0a3e-0000-4000-8000-000000000000", "observations": [{"value": Infinity}]}', 400),
        (b"[" * 100_000 + b"]" * 100_000, 400),
    ],
)
def test_ingest_malformed_bodies(client: TestClient, kit: Kit, body: bytes, status: int) -> None:
    assert _post(client, kit, body) == status


def test_ingest_wrong_content_type(client: TestClient, kit: Kit) -> None:
    assert _post(client, kit, b"{}", **{"Content-Type": "text/plain"}) == 415
    assert _post(client, kit, b"{}", **{"Content-Encoding": "br"}) == 415


def test_ingest_oversized_and_gzip_bomb(client: TestClient, kit: Kit) -> None:
    assert _post(client, kit, b" " * (MAX_BODY + 1)) == 413
    bomb = gzip.compress(b" " * (MAX_INFLATED + 1024))
    assert len(bomb) < MAX_BODY
    assert _post(client, kit, bomb, **{"Content-Encoding": "gzip"}) == 413
    assert _post(client, kit, b"\x1f\x8b garbage", **{"Content-Encoding": "gzip"}) == 400


def test_ingest_too_many_readings(client: TestClient, kit: Kit) -> None:
    body = batch(kit, [reading(i, kit.scale) for i in range(1, 5002)])
    assert _post(client, kit, json.dumps(body).encode()) == 413


def test_ingest_bad_readings_never_cost_good_ones(client: TestClient, kit: Kit) -> None:
    now = datetime.now(UTC)
    items = [
        reading(1, kit.scale, value="81"),
        reading(2, kit.scale, value=True),
        reading(3, kit.scale, measured_at=datetime(1999, 12, 31, tzinfo=UTC)),
        {"seq": 4, "device": kit.scale},
        {"seq": "5"},
        "not an object",
        reading(6, kit.scale, measured_at=now - timedelta(minutes=5)),
        {**reading(7, kit.scale), "received_at": "2026-11-23T10:00:00"},  # no offset
        {**reading(8, kit.scale), "context": {"x": "y" * 5000}},
    ]
    response = client.post("/api/v1/ingest", json=batch(kit, items), headers=kit.auth)
    assert response.status_code == 200
    result = response.json()
    assert result["stored"] == 1
    assert result["quarantined"] == {"malformed": 7, "implausible_time": 1}
    assert 6 in result["committed"]
    # The unusable entries without a sequence number are quarantined but cannot be acknowledged.
    assert result["committed"] == [1, 2, 3, 4, 6, 7, 8]
    assert client.get("/healthz").status_code == 200


def test_ingest_needs_a_gateway_credential(client: TestClient, kit: Kit) -> None:
    body = batch(kit, [reading(1, kit.scale)])
    assert client.post("/api/v1/ingest", json=body).status_code == 401
    assert client.post("/api/v1/ingest", json=body, headers={"Authorization": "Bearer forged"}).status_code == 401


def test_ingest_nul_characters_are_quarantined_not_fatal(client: TestClient, kit: Kit) -> None:
    """PostgreSQL text and jsonb refuse NUL: such a reading must not fail the batch (the gateway would retry
    it forever and its outbox would stall); it goes to quarantine with the NUL replaced."""
    items = [
        reading(1, kit.scale),
        reading(2, "dev\x00ice"),
        reading(3, kit.scale, metric="body\x00weight"),
        reading(4, kit.scale, unit="k\x00g"),
        {**reading(5, kit.scale), "context": {"note\x00": "a\x00b"}},
    ]
    response = client.post("/api/v1/ingest", json=batch(kit, items), headers=kit.auth)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["committed"] == [1, 2, 3, 4, 5]
    assert result["stored"] == 1
    assert result["quarantined"] == {"malformed": 2, "unknown_metric": 1, "unit_not_convertible": 1}


def test_ingest_json_the_fast_parser_refuses_is_judged_by_the_standard_one(
    client: TestClient, kit: Kit, ingest_db: TestDatabase
) -> None:
    """orjson refuses integers beyond 64 bits, numbers that overflow to infinity and unpaired surrogates, all
    valid JSON; PostgreSQL cannot store infinity in jsonb nor a surrogate anywhere. Each such reading is
    quarantined on its own (with what can be kept of it), never the whole batch."""
    readings = [
        json.dumps(reading(1, kit.scale)),
        '{"seq": 123456789012345678901234567890, "device": "x"}',
        json.dumps(reading(3, kit.scale)).replace('"value": 80.5', '"value": 1e400'),
        json.dumps(reading(4, "PLACEHOLDER")).replace("PLACEHOLDER", "\\ud800"),
        json.dumps(reading(5, kit.scale, context={"note": "PLACEHOLDER"})).replace("PLACEHOLDER", "\\udfff"),
    ]
    body = f'{{"epoch": "{kit.epoch}", "observations": [{", ".join(readings)}]}}'.encode()
    assert b"\\ud800" in body and b"1e400" in body
    response = client.post("/api/v1/ingest", content=body, headers={**kit.auth, "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["stored"], result["committed"], result["quarantined"]) == (1, [1, 3, 4, 5], {"malformed": 4})
    with psycopg.connect(ingest_db.runtime_url) as conn:
        kept = dict(
            conn.execute(
                "SELECT seq, payload FROM quarantine WHERE gateway_id = %s AND seq IS NOT NULL", (kit.gateway_id,)
            ).fetchall()
        )
    assert (kept[3]["value"], kept[4]["device"], kept[5]["context"]) == ("inf", "\ufffd", {"note": "\ufffd"})
