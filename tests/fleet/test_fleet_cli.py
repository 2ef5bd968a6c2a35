"""`tryggheim admin fleet` as a real process lists what the API lists."""

from __future__ import annotations

import json

import pytest

from tests.fleet.conftest import Fleet
from tests.support.proc import env_with, run_cli
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("fleet")]


def test_admin_fleet_lists_and_filters(fleet_db: TestDatabase, tenants: Tenants, fleets: dict[str, Fleet]) -> None:
    env = env_with(TRYGGHEIM_DATABASE_URL=fleet_db.runtime_url)
    done = run_cli("admin", "fleet", "--municipality", "0301", "--offline", env=env)
    assert done.returncode == 0, done.stderr
    listed = [json.loads(line) for line in done.stdout.splitlines()]
    fleet = fleets["a"]
    assert {item["gateway_id"] for item in listed} == {str(fleet.late_alarm.gateway_id), str(fleet.silent.gateway_id)}
    assert all(item["offline"] and tenants.b.marker not in json.dumps(item) for item in listed)
    unknown = run_cli("admin", "fleet", "-m", "9999", env=env)
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and "9999" in unknown.stderr
