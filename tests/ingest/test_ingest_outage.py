"""A private PostgreSQL killed in the middle of a batch: 503 with Retry-After, nothing acknowledged,
and after the retry every reading is stored exactly once."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.config import CloudSettings
from cloud.db import migrate
from cloud.db.embedded import EmbeddedPostgres
from cloud.db.pool import make_pool
from cloud.db.provision import provision
from tests.support.kits import batch, enrol_kit, reading
from tests.support.tenants import build_tenants

pytestmark = pytest.mark.slow


def test_ingest_survives_a_database_restart_mid_batch(private_pg: EmbeddedPostgres) -> None:
    roles = provision(private_pg.url(), database="tryggheim", owner_role="owner", runtime_role="app")
    migrate.upgrade(roles.owner_url, runtime_role="app")
    tenants = build_tenants(roles.runtime_url)
    settings = CloudSettings(database_url=roles.runtime_url, auth_mode="local", cookie_secure=False)
    pool = make_pool(roles.runtime_url, min_size=1, max_size=3, timeout_s=3)
    with TestClient(create_app(pool, settings)) as client:
        kit = enrol_kit(client, roles.runtime_url, tenants.a.municipality_id, tenants.a.patients["nord"])
        body = batch(kit, [reading(seq, kit.scale, value=70 + seq / 10) for seq in range(1, 201)])

        # Hold the gateway's ingest lock so the request waits inside its transaction, then kill the server.
        blocker = psycopg.connect(roles.runtime_url, autocommit=False)
        blocker.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"ingest:{kit.gateway_id}",))
        result: dict[str, object] = {}

        def send() -> None:
            response = client.post("/api/v1/ingest", json=body, headers=kit.auth)
            result["status"], result["headers"], result["body"] = (
                response.status_code,
                response.headers,
                response.json(),
            )

        sender = threading.Thread(target=send)
        sender.start()
        sender.join(1.0)
        assert sender.is_alive(), "the request should be waiting on the lock"
        private_pg.kill()
        sender.join(30)
        blocker.close()
        assert result["status"] == 503
        assert result["headers"]["retry-after"] == "5"  # type: ignore[index]
        assert "committed" not in result["body"]  # type: ignore[operator]

        # While the database is down, still nothing is acknowledged.
        down = client.post("/api/v1/ingest", json=body, headers=kit.auth)
        assert down.status_code == 503

        private_pg.start()
        # The gateway retries after Retry-After; the pool needs a moment to reconnect.
        deadline = time.monotonic() + 30
        retried = client.post("/api/v1/ingest", json=body, headers=kit.auth)
        while retried.status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.5)
            retried = client.post("/api/v1/ingest", json=body, headers=kit.auth)
        assert retried.status_code == 200, retried.text
        assert retried.json()["committed"] == list(range(1, 201))
        assert client.post("/api/v1/ingest", json=body, headers=kit.auth).json()["duplicates"] == 200

    with psycopg.connect(roles.runtime_url) as conn:
        stored = conn.execute("SELECT count(*), count(DISTINCT seq) FROM observations").fetchone()
    assert stored == (200, 200)
