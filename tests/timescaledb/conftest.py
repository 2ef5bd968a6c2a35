"""Every database in this package is on a private PostgreSQL 15 that preloads TimescaleDB.

The root conftest's database fixtures are overridden here by name, so tests imported from other packages (the
storage and query tests re-run in this package) get their databases from this server. The session-scoped ones
are new definitions, not only new dependencies: pytest caches a session fixture per definition, so the root's
`shared_db` of a worker that already ran plain-PostgreSQL tests would otherwise be handed out again. One server
per test worker; the `timescaledb` xdist group keeps this package on one worker under `make test`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cloud.db.embedded import EmbeddedPostgres
from tests.support.services import TestDatabase, remove_stale, test_database
from tests.support.timescaledb import private_server


@pytest.fixture(scope="session")
def timescaledb_server() -> Iterator[EmbeddedPostgres]:
    """The private server with `shared_preload_libraries=timescaledb`."""
    with private_server(preload=True) as server:
        yield server


@pytest.fixture(scope="session")
def pg_admin_url(timescaledb_server: EmbeddedPostgres) -> str:
    """Superuser URL of the TimescaleDB server (overrides the root fixture for this package)."""
    url = timescaledb_server.url()
    remove_stale(url)
    return url


@pytest.fixture(scope="session")
def shared_db(pg_admin_url: str) -> Iterator[TestDatabase]:
    """One migrated database per worker on the TimescaleDB server."""
    with test_database(pg_admin_url) as db:
        yield db


@pytest.fixture
def fresh_db(pg_admin_url: str) -> Iterator[TestDatabase]:
    """A migrated database of this test alone, on the TimescaleDB server."""
    with test_database(pg_admin_url) as db:
        yield db
