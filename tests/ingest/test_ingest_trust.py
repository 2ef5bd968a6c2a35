"""The ingest route's memory of accepted credentials (cloud/ingest/trusted.py): outlives the 5 s check of the
other gateway routes, stores nothing for a revoked credential, and forgets a credential once refused."""

from __future__ import annotations

import time

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.gateways import credentials
from tests.support.kits import Kit, batch, reading
from tests.support.services import TestDatabase


def test_a_remembered_credential_revoked_elsewhere_stores_nothing_and_is_then_refused_before_its_body(
    client: TestClient, kit: Kit, ingest_db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(credentials, "CACHE_SECONDS", 0.05)
    assert client.post("/api/v1/ingest", json=batch(kit, [reading(1, kit.scale)]), headers=kit.auth).status_code == 200
    with psycopg.connect(ingest_db.owner_url) as conn:  # as another replica would: this process is not told
        conn.execute("UPDATE gateways SET revoked_at = now() WHERE id = %s", (kit.gateway_id,))
    time.sleep(0.1)  # past the general check's memory: only the ingest route's still trusts the credential
    refused = client.post("/api/v1/ingest", json=batch(kit, [reading(2, kit.scale)]), headers=kit.auth)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    with psycopg.connect(ingest_db.owner_url) as conn:
        kept = conn.execute("SELECT seq FROM observations WHERE gateway_id = %s", (kit.gateway_id,)).fetchall()
    assert kept == [(1,)]
    # Forgotten: the next upload is refused before its body is read (a remembered credential would get 415).
    plain = client.post("/api/v1/ingest", content=b"x", headers={**kit.auth, "Content-Type": "text/plain"})
    assert plain.status_code == 401
