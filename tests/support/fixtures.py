"""One factory for the fixtures most test packages share: a migrated database, the two municipalities in
it, and the application on it.

A conftest names the fixtures by the names it assigns them to and picks their scope, for example

    registry_db, tenants, client = app_fixtures("registry_db", evaluation=False)

The scope is the unit of isolation: a package whose modules only read what the fixtures built may share one
database (`scope="package"`); a module that changes staff, patients or settings keeps its own (the default).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import pytest
from fastapi.testclient import TestClient

from tests.support.app import app_client
from tests.support.services import TestDatabase, test_database
from tests.support.tenants import Tenants, build_tenants

Scope = Literal["module", "package", "session"]


def database_fixture(scope: Scope = "module") -> Any:
    """A fixture: a migrated database of its own for each `scope`."""

    @pytest.fixture(scope=scope)
    def database(pg_admin_url: str) -> Iterator[TestDatabase]:
        with test_database(pg_admin_url) as db:
            yield db

    return database


def tenants_fixture(db: str, scope: Scope = "module") -> Any:
    """A fixture: both municipalities (`tests.support.tenants`) built in the database fixture named `db`."""

    @pytest.fixture(scope=scope)
    def tenants(request: pytest.FixtureRequest) -> Tenants:
        return build_tenants(request.getfixturevalue(db).runtime_url)

    return tenants


def client_fixture(db: str, tenants: str = "tenants", scope: Scope = "module", **app: Any) -> Any:
    """A fixture: the started application on the database fixture named `db`, once `tenants` exist; `app` goes
    to `tests.support.app.app_client` (for example `evaluation=False` when tests decide when evaluation runs)."""

    @pytest.fixture(scope=scope)
    def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
        request.getfixturevalue(tenants)
        with app_client(request.getfixturevalue(db).runtime_url, **app) as test_client:
            yield test_client

    return client


def app_fixtures(db: str, scope: Scope = "module", **app: Any) -> tuple[Any, Any, Any]:
    """The database, tenants and client fixtures together, to be assigned to `db`, `tenants` and a client name."""
    return database_fixture(scope), tenants_fixture(db, scope), client_fixture(db, "tenants", scope, **app)
