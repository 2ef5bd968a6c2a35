"""schemathesis against the real service process with a gateway credential: no input makes it fail
with a server error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from schemathesis.checks import not_a_server_error

from tests.support.fuzzing import api_operations, fuzz_settings
from tests.support.kits import Kit
from tests.support.proc import cloud_serve
from tests.support.services import TestDatabase

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(ingest_db: TestDatabase) -> Iterator[str]:
    """`tryggheim cloud serve` as a real process on the module's database."""
    with cloud_serve(ingest_db.runtime_url) as url:
        yield url


@pytest.fixture(scope="module")
def fuzz_kit(client: TestClient, ingest_db: TestDatabase, tenants: Any) -> Kit:
    from tests.support.kits import enrol_kit

    return enrol_kit(client, ingest_db.runtime_url, tenants.a.municipality_id, tenants.a.patients["nord"])


def test_gateway_api_has_no_server_errors(server: str, fuzz_kit: Kit) -> None:
    operations = api_operations(server, tag_regex="^(ingest|gateways)$")
    assert {op.path for op in operations} >= {"/api/v1/ingest", "/api/v1/gateways/{gateway_id}/status"}
    for operation in operations:

        @fuzz_settings(60)
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            if "gateway_id" in (case.path_parameters or {}):
                case.path_parameters["gateway_id"] = str(fuzz_kit.gateway_id)
            case.call_and_validate(base_url=server, headers=fuzz_kit.auth, checks=[not_a_server_error])

        call()
