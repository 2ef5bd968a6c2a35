"""schemathesis against the visit, response-centre and handover routes of the real service: no body, query or
id makes them fail with a server error, and none answers with another municipality's data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from schemathesis.checks import not_a_server_error

from cloud.access.roles import Role
from tests.support.fuzzing import api_operations, fuzz_settings, no_foreign_marker
from tests.support.proc import cloud_serve
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(visits_db: TestDatabase, tenants: Tenants) -> Iterator[str]:
    """`tryggheim cloud serve` as a real process on the module's database (no background workers)."""
    with cloud_serve(visits_db.runtime_url, TRYGGHEIM_EVALUATION="false", TRYGGHEIM_ESCALATION="false") as url:
        yield url


@pytest.mark.parametrize(
    ("tag", "role"),
    [("visits", Role.NURSE), ("handover", Role.TEAM_LEAD), ("response centre", Role.RESPONSE_CENTRE)],
)
def test_no_server_errors_and_no_other_municipalitys_data(server: str, tenants: Tenants, tag: str, role: Role) -> None:
    operations = api_operations(server, tag=tag)
    assert operations
    own = tenants.a.patients["nord"]
    checks = [not_a_server_error, no_foreign_marker(tenants.b.marker)]
    for operation in operations:

        @fuzz_settings(40)
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            if "patient_id" in (case.path_parameters or {}) and hash(str(case.path_parameters["patient_id"])) % 2:
                case.path_parameters["patient_id"] = str(own)  # half the cases on her own patient
            case.call_and_validate(base_url=server, headers=tenants.a.auth(role), checks=checks)

        call()
