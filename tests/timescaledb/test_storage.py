"""Migrations on two servers of the same installation side by side: one that preloads TimescaleDB (observations
becomes a compressed hypertable with the policies from the settings) and one that has the extension's files but
does not preload it (plain tables, one notice)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from cloud.db import migrate
from cloud.db.timescale import StoragePolicy
from tests.support.services import TestDatabase
from tests.support.services import test_database as migrated_database
from tests.support.timescaledb import private_server

pytestmark = pytest.mark.xdist_group("timescaledb")


def _rows(url: str, query: str, *args: Any) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(query, args).fetchall()


def _jobs(db: TestDatabase) -> dict[str, dict[str, Any]]:
    rows = _rows(
        db.owner_url,
        "SELECT proc_name, config FROM timescaledb_information.jobs WHERE hypertable_name = 'observations'",
    )
    return {row["proc_name"]: row["config"] for row in rows}


def _insert(conn: psycopg.Connection[Any], at: datetime) -> None:
    conn.execute(
        "INSERT INTO observations (gateway_id, outbox_epoch, seq, device_id, metric, value, unit, t, received_at)"
        " VALUES (gen_random_uuid(), gen_random_uuid(), 1, gen_random_uuid(), 'spo2', 97, '%%', %s, %s)",
        (at, at),
    )


def test_observations_is_a_compressed_hypertable_with_a_policy_and_no_retention(shared_db: TestDatabase) -> None:
    hypertable = _rows(
        shared_db.owner_url,
        "SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = 'observations'",
    )
    assert hypertable == [{"compression_enabled": True}]
    settings = _rows(
        shared_db.owner_url,
        "SELECT attname, segmentby_column_index, orderby_column_index FROM timescaledb_information.compression_settings"
        " WHERE hypertable_name = 'observations' ORDER BY attname",
    )
    assert [(s["attname"], s["segmentby_column_index"], s["orderby_column_index"]) for s in settings] == [
        ("metric", 2, None),
        ("patient_id", 1, None),
        ("t", None, 1),
    ]
    jobs = _jobs(shared_db)
    assert set(jobs) == {"policy_compression"}  # never a retention policy unless an operator sets one
    assert jobs["policy_compression"]["compress_after"] == "7 days"
    assert migrate.status(shared_db.owner_url).storage == "timescaledb"


def test_the_settings_set_the_policies_and_retention_drops_only_old_chunks(fresh_db: TestDatabase) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(fresh_db.owner_url) as conn:
        for age in (timedelta(days=800), timedelta(days=1)):
            _insert(conn, now - age)
    migrate.upgrade(fresh_db.owner_url, runtime_role=fresh_db.roles.runtime_role, storage=StoragePolicy(30, 730))
    jobs = _jobs(fresh_db)
    assert jobs["policy_compression"]["compress_after"] == "30 days"
    assert jobs["policy_retention"]["drop_after"] == "730 days"
    job_id = _rows(
        fresh_db.owner_url,
        "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention'"
        " AND hypertable_name = 'observations'",
    )[0]["job_id"]
    with psycopg.connect(fresh_db.owner_url, autocommit=True) as conn:
        conn.execute("CALL run_job(%s)", (job_id,))
    left = _rows(fresh_db.owner_url, "SELECT t FROM observations")
    assert [row["t"].date() for row in left] == [(now - timedelta(days=1)).date()]
    # Unset again: the retention policy goes, the compression policy is back to its default.
    migrate.upgrade(fresh_db.owner_url, runtime_role=fresh_db.roles.runtime_role)
    assert {name: config.get("compress_after") for name, config in _jobs(fresh_db).items()} == {
        "policy_compression": "7 days"
    }


@pytest.fixture(scope="module")
def plain_server_url() -> Iterator[str]:
    """A server of the same installation (the extension's files are there) that does not preload it."""
    with private_server(preload=False) as server:
        yield server.url()


def test_a_server_with_the_files_but_no_preload_migrates_plain_with_one_notice(
    plain_server_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cloud.migrations")
    with migrated_database(plain_server_url) as db:
        notices = [r for r in caplog.records if r.name == "cloud.migrations"]
        assert [r.levelno for r in notices] == [logging.WARNING]
        message = notices[0].getMessage()
        assert "shared_preload_libraries" in message and "plain PostgreSQL" in message and "\n" not in message
        assert _rows(db.owner_url, "SELECT 1 AS x FROM pg_available_extensions WHERE name = 'timescaledb'")
        assert not _rows(db.owner_url, "SELECT 1 AS x FROM pg_extension WHERE extname = 'timescaledb'")
        assert migrate.status(db.owner_url).storage == "postgresql"
        with psycopg.connect(db.owner_url) as conn:
            _insert(conn, datetime.now(UTC))
            _insert(conn, datetime.now(UTC) - timedelta(days=3000))  # plain table: no chunks, nothing dropped
        assert len(_rows(db.owner_url, "SELECT id FROM observations")) == 2
