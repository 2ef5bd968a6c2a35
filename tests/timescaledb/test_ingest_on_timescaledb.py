"""The storage tests of tests/ingest once more, on TimescaleDB (where the delivery key includes `t`), and a batch
resent after its chunk was compressed: still stored once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.ingest.conftest import kit  # noqa: F401 (a fixture, by name)
from tests.ingest.test_ingest_dedup import (  # noqa: F401 (collected here: run against this module's fixtures)
    test_ingest_backfilled_and_three_timestamps_kept,
    test_ingest_device_resending_a_record_under_a_new_sequence_is_stored_once,
    test_ingest_new_epoch_starting_at_one_is_stored,
    test_ingest_record_repeated_inside_one_batch_under_two_sequences_is_stored_once,
    test_ingest_repeated_sequence_inside_one_batch,
    test_ingest_same_batch_twice_is_stored_once,
    test_ingest_same_key_different_payload_is_a_sequence_conflict,
    test_ingest_two_events_in_the_same_second_are_both_stored,
)
from tests.ingest.test_ingest_periods import test_ingest_batch_across_a_move_and_a_kit_swap  # noqa: F401
from tests.ingest.test_ingest_quarantine import (  # noqa: F401 (collected here: run against this module's fixtures)
    test_ingest_every_quarantine_reason_is_reachable_and_listed,
    test_ingest_quarantine_is_idempotent_for_resent_batches,
)
from tests.support.fixtures import app_fixtures
from tests.support.history import old_device, point
from tests.support.kits import Kit, batch
from tests.support.services import TestDatabase

pytestmark = pytest.mark.xdist_group("timescaledb")

ingest_db, tenants, client = app_fixtures("ingest_db")


def test_a_batch_resent_after_its_chunk_was_compressed_is_stored_once(
    client: TestClient,
    kit: Kit,  # noqa: F811 (the fixture imported above)
    ingest_db: TestDatabase,
) -> None:
    now = datetime.now(UTC)
    device = old_device(ingest_db.runtime_url, kit, "nonin-3230", now - timedelta(days=60))
    readings = [point(device, "heart_rate", 60 + i, "/min", now - timedelta(days=30, minutes=i)) for i in range(5)]
    body = batch(kit, readings)
    first = client.post("/api/v1/ingest", json=body, headers=kit.auth)
    assert first.status_code == 200 and first.json()["stored"] == 5, first.text
    with psycopg.connect(ingest_db.owner_url) as conn:
        conn.execute(
            "SELECT compress_chunk(c, if_not_compressed => true)"
            " FROM show_chunks('observations', older_than => now() - INTERVAL '20 days') AS c"
        )
        compressed = conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'observations'"
            " AND is_compressed AND range_start <= %s AND range_end > %s",
            (readings[0]["measured_at"], readings[0]["measured_at"]),
        ).fetchone()
    assert compressed == (1,)
    again = client.post("/api/v1/ingest", json=body, headers=kit.auth)
    assert again.status_code == 200, again.text
    assert (again.json()["stored"], again.json()["duplicates"]) == (0, 5)
    with psycopg.connect(ingest_db.runtime_url) as conn:
        rows = conn.execute("SELECT count(*) FROM observations WHERE device_id = %s", (kit.device_ids[device],))
        assert rows.fetchone() == (5,)
