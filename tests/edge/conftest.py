"""A real cloud over TLS with a migrated database, shared by the edge tests of a module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.edge.cloud import tls_cloud
from tests.support.services import TestDatabase, test_database
from tests.support.tenants import Tenants, build_tenants


@pytest.fixture(scope="module")
def edge_db(pg_admin_url: str) -> Iterator[TestDatabase]:
    with test_database(pg_admin_url) as db:
        yield db


@pytest.fixture(scope="module")
def edge_tenants(edge_db: TestDatabase) -> Tenants:
    return build_tenants(edge_db.runtime_url)


@pytest.fixture(scope="module")
def cloud(edge_db: TestDatabase, edge_tenants: Tenants, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    tuple[str, Path]
]:  # fmt: skip
    with tls_cloud(edge_db.runtime_url, tmp_path_factory.mktemp("tls")) as served:
        yield served
