"""Migrations and the two database roles."""

from __future__ import annotations

import json

import psycopg
import pytest

from cloud.db import migrate
from tests.support.proc import env_with, run_cli
from tests.support.services import TestDatabase


def _db_env(db: TestDatabase) -> dict[str, str]:
    return env_with(TRYGGHEIM_DATABASE_URL=db.runtime_url, TRYGGHEIM_DATABASE_OWNER_URL=db.owner_url)


def test_upgrade_twice_is_a_no_op_and_status_shows_the_revision(empty_db: TestDatabase) -> None:
    env = _db_env(empty_db)
    first = run_cli("db", "upgrade", env=env)
    assert first.returncode == 0, first.stderr
    head = migrate.head_revision()
    assert json.loads(first.stdout) == {
        "revision": head,
        "change": f"empty -> {head}",
        "storage": "postgresql",
    }

    with psycopg.connect(empty_db.owner_url) as conn:
        tables_before = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()

    second = run_cli("db", "upgrade", env=env)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["change"] == "already current"
    with psycopg.connect(empty_db.owner_url) as conn:
        tables_after = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert tables_before == tables_after

    status = run_cli("db", "status", env=env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == {
        "revision": head,
        "head": head,
        "up_to_date": True,
        "storage": "postgresql",
    }


def test_status_of_an_empty_database_is_not_up_to_date(empty_db: TestDatabase) -> None:
    status = run_cli("db", "status", env=_db_env(empty_db))
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["up_to_date"] is False


def test_db_commands_need_the_owner_url() -> None:
    result = run_cli("db", "status", env=env_with(TRYGGHEIM_DATABASE_URL="postgresql://a:b@127.0.0.1/x"))
    assert result.returncode == 2
    assert "TRYGGHEIM_DATABASE_OWNER_URL" in result.stderr


def test_runtime_role_cannot_create_tables(shared_db: TestDatabase) -> None:
    with psycopg.connect(shared_db.runtime_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("CREATE TABLE sneaky (x int)")


def test_runtime_role_cannot_alter_or_truncate(shared_db: TestDatabase) -> None:
    with psycopg.connect(shared_db.runtime_url) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE patients ADD COLUMN x int")
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("TRUNCATE observations")


@pytest.mark.parametrize("statement", ["UPDATE observations SET value = 0", "DELETE FROM observations"])
def test_observations_are_append_only_for_the_runtime_role(shared_db: TestDatabase, statement: str) -> None:
    with psycopg.connect(shared_db.runtime_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)


def test_runtime_role_can_append_observations(shared_db: TestDatabase) -> None:
    with psycopg.connect(shared_db.runtime_url) as conn:
        conn.execute(
            "INSERT INTO observations (gateway_id, outbox_epoch, seq, device_id, metric, value, unit, t,"
            " received_at) VALUES (gen_random_uuid(), gen_random_uuid(), 1, gen_random_uuid(), 'spo2', 97,"
            " '%', now(), now())"
        )
        conn.rollback()


def test_storage_detection_chooses_plain_postgresql(shared_db: TestDatabase) -> None:
    """The shared test server does not preload TimescaleDB, whether or not `make timescaledb` installed its files
    there: the optional migration must have been a no-op (tests/timescaledb runs the other path)."""
    with psycopg.connect(shared_db.owner_url) as conn:
        loaded = conn.execute("SELECT 1 FROM pg_settings WHERE name LIKE 'timescaledb.%'").fetchone()
        installed = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    assert loaded is None
    assert installed is None
    assert migrate.status(shared_db.owner_url).storage == "postgresql"


def test_service_refuses_to_run_as_the_owner(shared_db: TestDatabase) -> None:
    result = run_cli("cloud", "serve", env=env_with(TRYGGHEIM_DATABASE_URL=shared_db.owner_url))
    assert result.returncode == 2
    assert "TRYGGHEIM_DATABASE_URL" in result.stderr
    assert "schema" in result.stderr


def test_service_refuses_an_unmigrated_database(empty_db: TestDatabase) -> None:
    result = run_cli("cloud", "serve", env=env_with(TRYGGHEIM_DATABASE_URL=empty_db.runtime_url))
    assert result.returncode == 2
    assert "tryggheim db upgrade" in result.stderr
