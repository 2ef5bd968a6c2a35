"""schemathesis over the query and fleet APIs against the real service process, as municipality A's admin
and nurse: no server error, and no response ever carries municipality B's marker although B has gateways
(labelled with it), patients (named with it) and readings, and the generated paths name B's patient and
gateway as often as A's."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup

from cloud.access.roles import Role
from tests.fleet.conftest import Fleet
from tests.support.fuzzing import api_operations, fuzz_settings, no_foreign_marker
from tests.support.proc import cloud_serve
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("fleet")]


@pytest.fixture(scope="module")
def server(fleet_db: TestDatabase, fleets: dict[str, Fleet]) -> Iterator[str]:
    """`tryggheim cloud serve` as a real process on the package's database (fleets built first)."""
    with cloud_serve(fleet_db.runtime_url, TRYGGHEIM_EVALUATION="false") as url:
        yield url


def test_query_and_fleet_apis_have_no_server_errors_and_never_leak(
    server: str, tenants: Tenants, fleets: dict[str, Fleet]
) -> None:
    """One test for both roles, so that one server process serves them (a test per role could land on two
    workers, each starting its own)."""
    operations = api_operations(server, tag_regex="^(series|fleet)$")
    assert {op.path for op in operations} == {
        "/api/v1/patients/{patient_id}/series/{metric}",
        "/api/v1/patients/{patient_id}/series/{metric}/buckets",
        "/api/v1/patients/{patient_id}/latest",
        "/api/v1/fleet/gateways",
        "/api/v1/fleet/gateways/{gateway_id}",
        "/api/v1/fleet/gateways/{gateway_id}/heartbeats",
    }
    patients = itertools.cycle([str(tenants.a.patients["nord"]), str(tenants.b.patients["nord"]), None])
    gateways = itertools.cycle([str(fleets["a"].healthy.gateway_id), str(fleets["b"].healthy.gateway_id), None])
    checks = [not_a_server_error, no_foreign_marker(tenants.b.marker)]
    for role, operation in itertools.product((Role.MUNICIPALITY_ADMIN, Role.NURSE), operations):

        @fuzz_settings(20)
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            for name, choices in (("patient_id", patients), ("gateway_id", gateways)):
                chosen = next(choices)
                if name in (case.path_parameters or {}) and chosen is not None:
                    case.path_parameters[name] = chosen
            case.call_and_validate(base_url=server, headers=tenants.a.auth(role), checks=checks)  # noqa: B023

        call()

    # The custom check is not vacuous: A's own patient list carries A's marker, and the check catches it.
    (operation,) = api_operations(server, path_regex="^/api/v1/patients$", method="GET")
    case = operation.Case(query={"limit": 10})
    with pytest.raises(FailureGroup) as caught:
        case.call_and_validate(base_url=server, headers=tenants.a.auth(Role.MUNICIPALITY_ADMIN),
                               checks=[no_foreign_marker(tenants.a.marker)])  # fmt: skip
    assert "another municipality's marker" in str(caught.value.exceptions[0])
