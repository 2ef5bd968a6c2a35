"""A real cloud over TLS with a migrated database, shared by the edge tests of a module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.edge.cloud import tls_cloud
from tests.support.fixtures import database_fixture, tenants_fixture
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

edge_db, edge_tenants = database_fixture(), tenants_fixture("edge_db")


@pytest.fixture(scope="module")
def cloud(edge_db: TestDatabase, edge_tenants: Tenants, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    tuple[str, Path]
]:  # fmt: skip
    with tls_cloud(edge_db.runtime_url, tmp_path_factory.mktemp("tls")) as served:
        yield served
