"""Against a real `tryggheim cloud serve`: `tryggheim alerts baselines ...` (the nurse's worklist, a patient's
proposals, approval, and a refused decision as one line on stderr with exit status 2), and schemathesis on
the baseline routes (no input makes the service fail with a server error)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from schemathesis.checks import not_a_server_error

from cloud.access.roles import Role
from common.timefmt import OSLO
from tests.baselines.conftest import new_patient, propose
from tests.support.db import named_rows
from tests.support.fuzzing import api_operations, fuzz_settings
from tests.support.proc import env_with, run_cli
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, audit_rows

pytestmark = pytest.mark.slow


def test_a_nurse_lists_and_approves_from_the_command_line(server: str, db: TestDatabase, tenants: Tenants) -> None:
    patient = new_patient(db.runtime_url, tenants, days=20)
    propose(db.runtime_url)
    env = env_with(TRYGGHEIM_API_URL=server, TRYGGHEIM_TOKEN=tenants.a.tokens[Role.NURSE])
    waiting = run_cli("alerts", "baselines", "waiting", env=env)
    assert waiting.returncode == 0, waiting.stderr
    listed = [json.loads(line) for line in waiting.stdout.splitlines()]
    [mine] = [item for item in listed if item["patient_id"] == str(patient)]
    review = (datetime.now(OSLO).date() + timedelta(days=30)).isoformat()
    approved = run_cli("alerts", "baselines", "approve", str(patient), "--proposal", str(mine["id"]),
                       "--reason", "Godkjent etter samtale", "--review-by", review, env=env)  # fmt: skip
    assert approved.returncode == 0, approved.stderr
    out = json.loads(approved.stdout)
    assert (out["status"], out["review_by"], out["reason"]) == ("approved", review, "Godkjent etter samtale")
    [audit] = [r for r in audit_rows_for(db, patient) if r["action"] == "baselines.decide"]
    assert audit["outcome"] == "allowed" and audit["principal_id"] == str(tenants.a.staff[Role.NURSE])
    shown = run_cli("alerts", "baselines", "show", str(patient), env=env)
    assert [json.loads(line)["status"] for line in shown.stdout.splitlines()] == ["approved"]
    again = run_cli("alerts", "baselines", "reject", str(patient), "--reason", "feil", "--review-by", review, env=env)
    assert again.returncode == 2
    assert again.stderr.startswith("tryggheim: 409: ") and again.stderr.count("\n") == 1


def audit_rows_for(db: TestDatabase, patient: object) -> list[dict[str, object]]:
    """The audit records naming the patient (the CLI sends no request id of its own)."""
    found = named_rows(db.runtime_url, "SELECT correlation_id FROM audit_log WHERE patient_id = %s", patient)
    ids = [r["correlation_id"] for r in found]
    return [row for cid in ids for row in audit_rows(db.runtime_url, cid)]


def test_baseline_api_has_no_server_errors(server: str, db: TestDatabase, tenants: Tenants) -> None:
    patient = new_patient(db.runtime_url, tenants, days=16)
    propose(db.runtime_url)
    operations = api_operations(server, tag_regex="^baselines$")
    assert {op.path for op in operations} == {
        "/api/v1/baselines/waiting",
        "/api/v1/patients/{patient_id}/baselines",
        "/api/v1/patients/{patient_id}/baselines/decision",
    }
    nurse = tenants.a.auth(Role.NURSE)
    for operation in operations:

        @fuzz_settings(40)
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            if "patient_id" in (case.path_parameters or {}):
                case.path_parameters["patient_id"] = str(patient)
            case.call_and_validate(base_url=server, headers=nurse, checks=[not_a_server_error])

        call()
