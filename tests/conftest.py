"""Fixtures every test package shares, and the CI rule that a skipped test fails the run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from cloud.db.embedded import EmbeddedPostgres
from tests.support.services import (
    TestDatabase,
    killable_postgres,
    mqtt_url,
    postgres_admin_url,
    remove_stale,
    test_database,
)

settings.register_profile("default", max_examples=200, deadline=None)
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "default")

pytest_plugins = ["tests.support.ci_skips", "tests.support.timeouts", "tests.support.timescaledb"]


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL superuser URL (see tests/support/services.py for the resolution order)."""
    with postgres_admin_url(tmp_path_factory.mktemp("pg")) as url:
        remove_stale(url)
        yield url


@pytest.fixture(scope="session")
def shared_db(pg_admin_url: str) -> Iterator[TestDatabase]:
    """One migrated database per test worker, for tests that only add rows of their own."""
    with test_database(pg_admin_url) as db:
        yield db


@pytest.fixture
def fresh_db(pg_admin_url: str) -> Iterator[TestDatabase]:
    """A migrated database of this test alone."""
    with test_database(pg_admin_url) as db:
        yield db


@pytest.fixture
def empty_db(pg_admin_url: str) -> Iterator[TestDatabase]:
    """A provisioned database with no schema yet (for migration tests)."""
    with test_database(pg_admin_url, migrated=False) as db:
        yield db


@pytest.fixture(scope="session")
def mqtt_broker_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An MQTT broker URL (configured, local 1883, or a private Mosquitto)."""
    with mqtt_url(tmp_path_factory.mktemp("mqtt")) as url:
        yield url


@pytest.fixture
def repo_root() -> Path:
    """The project checkout."""
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def private_pg() -> Iterator[EmbeddedPostgres]:
    """A private PostgreSQL of this test alone, which it may kill and restart."""
    with killable_postgres() as server:
        yield server
