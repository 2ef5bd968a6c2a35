"""The restore drill on TimescaleDB: a hypertable with compressed and uncompressed chunks is backed up with
TimescaleDB's catalogue, restored by the superuser between `timescaledb_pre_restore()` and
`timescaledb_post_restore()` into a fresh database on a second server that preloads the extension, and comes back
as the same hypertable: every row, the owners, the compression settings and policy, and the chunks that were
compressed still compressed. Without a superuser the restore is refused before anything is restored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from cloud.db import backup
from cloud.db.provision import provision
from tests.support.services import TestDatabase
from tests.support.timescaledb import private_server

pytestmark = [pytest.mark.xdist_group("timescaledb"), pytest.mark.slow]

_DAYS = (40, 20, 9, 2, 0)  # ages of the readings: three chunks older than the 7-day compression threshold


def _one(url: str, query: str) -> dict[str, Any]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row


def _fill(url: str) -> None:
    """Readings a few days apart, then the old chunks compressed as the policy would."""
    now = datetime.now(UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        for age in _DAYS:
            for minute in range(3):
                at = now - timedelta(days=age, minutes=minute)
                conn.execute(
                    "INSERT INTO observations (gateway_id, outbox_epoch, seq, device_id, metric, value, unit, t,"
                    " received_at) VALUES (gen_random_uuid(), gen_random_uuid(), 1, gen_random_uuid(), 'spo2',"
                    " %s, '%%', %s, %s)",
                    (90 + age % 7 + minute, at, at),
                )
        conn.execute("SELECT compress_chunk(c) FROM show_chunks('observations', older_than => interval '7 days') c")


_SUMMARY = "SELECT count(*) AS readings, sum(value) AS total, min(t) AS first, max(t) AS last FROM observations"
_CHUNKS = (
    "SELECT count(*) AS chunks, count(*) FILTER (WHERE is_compressed) AS compressed"
    " FROM timescaledb_information.chunks WHERE hypertable_name = 'observations'"
)
_POLICY = (
    "SELECT config->>'compress_after' AS compress_after FROM timescaledb_information.jobs"
    " WHERE proc_name = 'policy_compression' AND hypertable_name = 'observations'"
)


@pytest.fixture
def target_server() -> Iterator[str]:
    """A second server preloading TimescaleDB, as a replacement machine would be."""
    with private_server(preload=True) as server:
        yield server.url()


def test_a_compressed_hypertable_survives_backup_and_restore(
    fresh_db: TestDatabase, target_server: str, tmp_path: Path
) -> None:
    _fill(fresh_db.owner_url)
    before = _one(fresh_db.owner_url, _SUMMARY)
    chunks = _one(fresh_db.owner_url, _CHUNKS)
    assert (
        before["readings"] == 3 * len(_DAYS) and chunks["compressed"] >= 1 and chunks["chunks"] > chunks["compressed"]
    )

    file = tmp_path / "tryggheim.dump"
    manifest = backup.backup(fresh_db.owner_url, file)
    assert manifest.timescaledb is not None and manifest.rows["observations"] == before["readings"]

    roles = fresh_db.roles  # the backup grants the runtime role by name
    target = provision(target_server, database="restored", owner_role=roles.owner_role,
                       runtime_role=roles.runtime_role)  # fmt: skip
    with pytest.raises(backup.BackupError, match="superuser"):
        backup.restore(target.owner_url, file)  # without one: refused, nothing restored
    assert _one(target.owner_url, "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'") == {"n": 0}
    restored = backup.restore(target.owner_url, file, admin_url=target_server)
    assert restored.timescaledb and restored.rows_match, restored

    assert _one(target.owner_url, _SUMMARY) == before
    assert _one(target.owner_url, _CHUNKS) == chunks
    assert _one(target.owner_url, _POLICY) == {"compress_after": "7 days"}
    hypertable = _one(
        target.owner_url,
        "SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = 'observations'",
    )
    assert hypertable == {"compression_enabled": True}
    owners = _one(
        target.owner_url, "SELECT array_agg(DISTINCT tableowner::text) AS o FROM pg_tables WHERE schemaname = 'public'"
    )
    assert owners == {"o": [roles.owner_role]}  # each object keeps its recorded owner, not the superuser
    # Restore mode is over: the database takes new readings into a new chunk as before.
    with psycopg.connect(target.runtime_url) as conn:
        assert _one(target.owner_url, "SHOW timescaledb.restoring") == {"timescaledb.restoring": "off"}
        conn.execute(
            "INSERT INTO observations (gateway_id, outbox_epoch, seq, device_id, metric, value, unit, t, received_at)"
            " VALUES (gen_random_uuid(), gen_random_uuid(), 1, gen_random_uuid(), 'spo2', 95, '%', now(), now())"
        )
    assert _one(target.owner_url, _SUMMARY)["readings"] == before["readings"] + 1
