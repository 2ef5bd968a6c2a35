"""schemathesis against the real service process with a nurse's token: no input to the baseline routes
makes it fail with a server error."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from cloud.access.roles import Role
from tests.baselines.conftest import new_patient, propose
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

pytestmark = pytest.mark.slow


def test_baseline_api_has_no_server_errors(server: str, db: TestDatabase, tenants: Tenants) -> None:
    patient = new_patient(db.runtime_url, tenants, days=16)
    propose(db.runtime_url)
    api = schemathesis.openapi.from_url(f"{server}/openapi.json").include(tag_regex="^baselines$")
    operations = [result.ok() for result in api.get_all_operations()]
    assert {op.path for op in operations} == {
        "/api/v1/baselines/waiting",
        "/api/v1/patients/{patient_id}/baselines",
        "/api/v1/patients/{patient_id}/baselines/decision",
    }
    nurse = tenants.a.auth(Role.NURSE)
    for operation in operations:

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            if "patient_id" in (case.path_parameters or {}):
                case.path_parameters["patient_id"] = str(patient)
            case.call_and_validate(base_url=server, headers=nurse, checks=[not_a_server_error])

        call()
