"""schemathesis against the triage API in the real application: no input makes it fail with a server error.
The event stream is left out (it never ends); its scope filter is tested in test_two_processes.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from schemathesis.checks import not_a_server_error

from cloud.access.roles import Role
from tests.escalation.conftest import new_patient, open_alerts, set_endpoint
from tests.support.fuzzing import api_operations, fuzz_settings, no_foreign_marker, provider_credentials
from tests.support.issuer import Issuer, issuer_server
from tests.support.proc import cloud_serve
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with issuer_server() as running:
        yield running


@pytest.fixture(scope="module")
def server(esc_db: TestDatabase, tenants: Tenants, issuer: Issuer) -> Iterator[str]:
    """`tryggheim cloud serve` as a real process on the module's database (no background workers), trusting a
    HelseID-style issuer besides local tokens."""
    with cloud_serve(esc_db.runtime_url, TRYGGHEIM_EVALUATION="false", TRYGGHEIM_ESCALATION="false",
                     TRYGGHEIM_OIDC_ISSUER=issuer.issuer) as url:  # fmt: skip
        yield url


@pytest.mark.parametrize("kind", ["local", "oidc"])
def test_triage_api_has_no_server_errors(
    server: str, esc_db: TestDatabase, tenants: Tenants, issuer: Issuer, kind: str
) -> None:
    patient = new_patient(esc_db.runtime_url, tenants.a.municipality_id, tenants.a.teams["Nord"])
    alerts = open_alerts(esc_db.runtime_url, patient, 3, prefix="fuzz")
    operations = api_operations(server, tag_regex="^triage$", exclude_path="/api/v1/worklist/events")
    assert {op.path for op in operations} >= {"/api/v1/worklist", "/api/v1/alerts/{alert_id}/outcomes"}
    if kind == "local":
        nurse = lambda case: tenants.a.auth(Role.NURSE)  # noqa: E731
    else:
        nurse = provider_credentials(server, esc_db.runtime_url, issuer, tenants.a.staff[Role.NURSE]).headers
    for operation in operations:

        @fuzz_settings(40)
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            if "alert_id" in (case.path_parameters or {}) and case.path_parameters["alert_id"] % 2 == 0:
                case.path_parameters["alert_id"] = alerts[case.path_parameters["alert_id"] % 3]
            case.call_and_validate(base_url=server, headers=nurse(case), checks=[not_a_server_error])

        call()


def test_escalation_settings_api_has_no_server_errors_and_shows_no_other_municipality(
    server: str, esc_db: TestDatabase, tenants: Tenants
) -> None:
    set_endpoint(esc_db.runtime_url, tenants.b.municipality_id, "team_lead", "email",
                 f"{tenants.b.marker.lower()}@b.test", None)  # fmt: skip
    operations = api_operations(server, tag_regex="^escalation-settings$")
    assert {op.path for op in operations} >= {"/api/v1/escalation/policy", "/api/v1/escalation/endpoints"}
    checks = [not_a_server_error, no_foreign_marker(tenants.b.marker.lower())]
    for role in (Role.MUNICIPALITY_ADMIN, Role.NURSE):
        for operation in operations:

            @fuzz_settings(30)
            @given(case=operation.as_strategy())
            def call(case: Any) -> None:
                case.call_and_validate(base_url=server, headers=tenants.a.auth(role), checks=checks)  # noqa: B023

            call()
