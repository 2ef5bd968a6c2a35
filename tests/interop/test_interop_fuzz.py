"""schemathesis against the FHIR API, the patient's export, the PMD consent and the journal routes in a real
`tryggheim cloud serve` process: no input makes them fail with a server error, and no answer carries the other
municipality's data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from schemathesis.checks import not_a_server_error

from cloud.access.roles import Role
from tests.support.fixtures import database_fixture, tenants_fixture
from tests.support.fuzzing import api_operations, fuzz_settings, no_foreign_marker
from tests.support.proc import cloud_serve
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

pytestmark = pytest.mark.slow

fuzz_db, tenants = database_fixture(), tenants_fixture("fuzz_db")


@pytest.fixture(scope="module")
def server(fuzz_db: TestDatabase, tenants: Tenants) -> Iterator[str]:
    with cloud_serve(fuzz_db.runtime_url, TRYGGHEIM_EVALUATION="false", TRYGGHEIM_ESCALATION="false") as url:
        yield url


def test_fhir_and_interop_routes_have_no_server_errors(server: str, tenants: Tenants) -> None:
    operations = api_operations(server, tag_regex="^(fhir|interop)$")
    paths = {op.path for op in operations}
    assert {"/fhir/Observation", "/api/v1/patients/{patient_id}/pmd-sharing/consent"} <= paths, paths
    own = tenants.a.patients["nord"]
    foreign = no_foreign_marker(tenants.b.marker)
    for operation in operations:

        @fuzz_settings(20)
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            parameters = case.path_parameters or {}
            if "patient_id" in parameters and hash(str(parameters["patient_id"])) % 2 == 0:
                parameters["patient_id"] = str(own)
            case.call_and_validate(
                base_url=server, headers=tenants.a.auth(Role.NURSE), checks=[not_a_server_error, foreign]
            )

        call()


def test_ids_in_other_scripts_digits_are_not_found_not_a_crash(server: str, tenants: Tenants) -> None:
    nurse = tenants.a.auth(Role.NURSE)
    for path in ("/fhir/Observation/%C2%B3", "/fhir/Observation/%D9%A3", "/fhir/QuestionnaireResponse/%C2%B2"):
        answer = httpx.get(f"{server}{path}", headers=nurse)
        assert answer.status_code == 404 and answer.json()["resourceType"] == "OperationOutcome", path
    counted = httpx.get(f"{server}/fhir/Observation", params={"_count": "³"}, headers=nurse)
    assert counted.status_code == 400 and counted.json()["resourceType"] == "OperationOutcome"
