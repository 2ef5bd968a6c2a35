"""Enrolment codes, credentials, heartbeat with clock skew, configuration with ETag, device proposals."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud import telemetry
from cloud.app import create_app
from cloud.config import CloudSettings
from cloud.db.pool import connect, make_pool
from cloud.gateways import credentials
from tests.support.kits import Kit, batch, reading
from tests.support.services import TestDatabase


def _code(db: TestDatabase, kit: Kit, lifetime: timedelta = credentials.CODE_LIFETIME) -> str:
    async def make() -> str:
        async with await connect(db.runtime_url) as conn:
            return (await credentials.create_code(conn, kit.home_id, lifetime))[0]

    return asyncio.run(make())


def test_an_enrolment_code_works_once(client: TestClient, kit: Kit, ingest_db: TestDatabase) -> None:
    code = _code(ingest_db, kit)
    assert client.post("/api/v1/gateways/enrol", json={"code": code}).status_code == 201
    again = client.post("/api/v1/gateways/enrol", json={"code": code})
    assert again.status_code == 400
    assert "already used" in again.json()["detail"]


def test_an_expired_code_is_refused(client: TestClient, kit: Kit, ingest_db: TestDatabase) -> None:
    code = _code(ingest_db, kit, lifetime=timedelta(seconds=-1))
    response = client.post("/api/v1/gateways/enrol", json={"code": code})
    assert response.status_code == 400
    assert "expired" in response.json()["detail"]


def test_only_hashes_are_stored(kit: Kit, ingest_db: TestDatabase) -> None:
    with psycopg.connect(ingest_db.owner_url) as conn:
        dump = str(conn.execute("SELECT * FROM gateways WHERE id = %s", (kit.gateway_id,)).fetchall())
    assert kit.credential not in dump


def test_rotation_keeps_the_old_credential_for_the_grace_period(client: TestClient, kit: Kit) -> None:
    rotated = client.post(f"/api/v1/gateways/{kit.gateway_id}/credential", headers=kit.auth)
    assert rotated.status_code == 201
    new = {"Authorization": f"Bearer {rotated.json()['credential']}"}
    for headers in (kit.auth, new):
        assert (
            client.post("/api/v1/ingest", json=batch(kit, [reading(1, kit.scale)]), headers=headers).status_code == 200
        )


def test_a_gateway_acts_only_for_itself(client: TestClient, kit: Kit, ingest_db: TestDatabase) -> None:
    other = "00000000-0000-4000-8000-000000000000"
    response = client.get(f"/api/v1/gateways/{other}/config", headers=kit.auth)
    assert response.status_code == 403


def test_heartbeat_records_clock_skew_and_flags_later_readings(
    client: TestClient, kit: Kit, ingest_db: TestDatabase
) -> None:
    report = {
        "software_version": "0.1.0",
        "uptime_s": 3600,
        "gateway_clock": (datetime.now(UTC) - timedelta(seconds=300)).isoformat(),
        "outbox_depth": 12,
        "outbox_evictions": 0,
        "devices": [{"address": kit.scale, "last_reading_at": datetime.now(UTC).isoformat(), "battery_pct": 80}],
    }
    reply = client.post(f"/api/v1/gateways/{kit.gateway_id}/status", json=report, headers=kit.auth).json()
    assert reply["clock_flagged"] is True
    assert -310 < reply["clock_skew_s"] < -290
    client.post("/api/v1/ingest", json=batch(kit, [reading(1, kit.scale)]), headers=kit.auth)
    with psycopg.connect(ingest_db.runtime_url) as conn:
        context = conn.execute("SELECT context FROM observations WHERE gateway_id = %s", (kit.gateway_id,)).fetchone()
    assert context is not None and -310 < context[0]["gateway_clock_skew_s"] < -290


def test_config_lists_devices_with_an_etag(client: TestClient, kit: Kit) -> None:
    url = f"/api/v1/gateways/{kit.gateway_id}/config"
    first = client.get(url, headers=kit.auth)
    assert first.status_code == 200
    body = first.json()
    assert {d["address"] for d in body["devices"]} == {kit.scale, kit.oximeter, kit.button}
    assert body["heartbeat_interval_s"] == 60  # an alarm button is in the kit
    unchanged = client.get(url, headers={**kit.auth, "If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304


def test_device_proposals_wait_for_an_installer(client: TestClient, kit: Kit, ingest_db: TestDatabase) -> None:
    url = f"/api/v1/gateways/{kit.gateway_id}/devices"
    proposal = {"address": "11:22:33:44:55:66", "profile_id": "omron-evolv-hem-7600t", "details": {"rssi": -60}}
    unknown = client.post(url, json={**proposal, "profile_id": "no-such-device"}, headers=kit.auth)
    assert unknown.status_code == 422
    assert client.post(url, json=proposal, headers=kit.auth).status_code == 202
    assert client.post(url, json=proposal, headers=kit.auth).status_code == 202
    with psycopg.connect(ingest_db.runtime_url) as conn:
        rows = conn.execute(
            "SELECT address, confirmed_at FROM device_proposals WHERE gateway_id = %s", (kit.gateway_id,)
        ).fetchall()
    assert rows == [("11:22:33:44:55:66", None)]


def test_metrics_expose_ingest_and_quarantine(client: TestClient, kit: Kit) -> None:
    client.post(
        "/api/v1/ingest",
        json=batch(kit, [reading(1, kit.scale), reading(2, kit.scale, metric="x.y")]),
        headers=kit.auth,
    )
    text = client.get("/metrics").text
    assert 'tryggheim_ingest_readings_total{outcome="stored"}' in text
    assert 'tryggheim_quarantined_readings_total{reason="unknown_metric"}' in text
    assert "tryggheim_ingest_batch_seconds_bucket" in text
    assert 'tryggheim_db_pool{state="size"}' in text


def test_the_operations_guide_names_every_metric_the_service_exposes_and_nothing_else(client: TestClient) -> None:
    """Operators build their alerts from the guide's list: a name there that `/metrics` lacks would never fire."""
    guide = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    section = guide.split("## Metrics and probes", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(tryggheim_[a-z_]+)", section))
    # The text format's TYPE lines, without the `_created` time that the client library adds to each counter.
    typed = re.findall(r"^# TYPE (tryggheim_[a-z_]+) ", client.get("/metrics").text, flags=re.MULTILINE)
    exposed = {name for name in typed if not name.endswith("_created")}
    assert documented and documented == exposed


def test_every_ingest_answer_is_counted_by_its_status(client: TestClient, kit: Kit) -> None:
    """`tryggheim_ingest_batches_total{status}` is what an operator alerts on: refusals count, not only successes."""

    def counted(status: str) -> float:
        return telemetry.REGISTRY.get_sample_value("tryggheim_ingest_batches_total", {"status": status}) or 0.0

    before = {status: counted(status) for status in ("200", "400", "401", "415", "422")}
    assert client.post("/api/v1/ingest", json=batch(kit, [reading(1, kit.scale)]), headers=kit.auth).status_code == 200
    refused = {"Authorization": "Bearer not-a-credential"}
    assert client.post("/api/v1/ingest", json=batch(kit, [reading(2, kit.scale)]), headers=refused).status_code == 401
    assert client.post("/api/v1/ingest", json=[], headers=kit.auth).status_code == 422
    not_json = {**kit.auth, "Content-Type": "application/json"}
    assert client.post("/api/v1/ingest", content=b"{", headers=not_json).status_code == 400
    as_text = {**kit.auth, "Content-Type": "text/plain"}
    assert client.post("/api/v1/ingest", content=b"{}", headers=as_text).status_code == 415
    assert {status: counted(status) - n for status, n in before.items()} == {s: 1.0 for s in before}


def test_metrics_need_the_token_when_one_is_set(ingest_db: TestDatabase) -> None:
    settings = CloudSettings(database_url=ingest_db.runtime_url, metrics_token="scrape-7f3a9c", evaluation=False,
                             escalation=False)  # fmt: skip
    with TestClient(create_app(make_pool(ingest_db.runtime_url, min_size=1, max_size=2, timeout_s=5), settings)) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer scrape-7f3a9"}).status_code == 401
        answer = c.get("/metrics", headers={"Authorization": "Bearer scrape-7f3a9c"})
        assert answer.status_code == 200 and "tryggheim_ingest_batches_total" in answer.text
        assert c.get("/healthz").status_code == 200  # the other operations endpoints stay open


def test_a_credential_revoked_elsewhere_is_refused_by_ingest_at_once_and_by_the_rest_within_the_cache_bound(
    client: TestClient, kit: Kit, ingest_db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(credentials, "CACHE_SECONDS", 0.5)
    config = f"/api/v1/gateways/{kit.gateway_id}/config"
    assert client.get(config, headers=kit.auth).status_code == 200  # the check is now cached in this process
    with psycopg.connect(ingest_db.owner_url) as conn:  # as another replica would: this process is not told
        conn.execute("UPDATE gateways SET revoked_at = now() WHERE id = %s", (kit.gateway_id,))
    refused = client.post("/api/v1/ingest", json=batch(kit, [reading(1, kit.scale)]), headers=kit.auth)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    with psycopg.connect(ingest_db.owner_url) as conn:
        kept = conn.execute("SELECT count(*) FROM observations WHERE gateway_id = %s", (kit.gateway_id,)).fetchone()
    assert kept == (0,)
    time.sleep(0.6)
    assert client.get(config, headers=kit.auth).status_code == 401


def test_a_revocation_in_this_process_takes_effect_at_once(
    client: TestClient, kit: Kit, ingest_db: TestDatabase
) -> None:
    config = f"/api/v1/gateways/{kit.gateway_id}/config"
    assert client.get(config, headers=kit.auth).status_code == 200

    async def revoke() -> None:
        async with await connect(ingest_db.runtime_url) as conn:
            assert await credentials.revoke(conn, kit.gateway_id)

    asyncio.run(revoke())
    assert client.get(config, headers=kit.auth).status_code == 401
