"""`tryggheim admin homes|patients ...` as real processes on the demo's registry (three homes, one a couple,
next of kin, consents), and the CLI refusing bad input with the registry's message."""

from __future__ import annotations

import asyncio
import json
from uuid import UUID

import psycopg
import pytest

from cloud.access import audit, directory
from cloud.db.pool import connect
from cloud.registry import assignments
from tests.support.proc import env_with, run_cli
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants
from tryggheim.demo.registry import HOMES, seed_registry

pytestmark = pytest.mark.slow


def test_demo_registry_is_listed_and_bad_input_refused(registry_db: TestDatabase, tenants: Tenants) -> None:
    async def seed() -> UUID:
        async with await connect(registry_db.runtime_url) as conn:
            team = await directory.ensure_team(
                conn, tenants.a.municipality_id, "Hjemmesykepleien Grünerløkka", actor=audit.Actor.system("tests")
            )
            await seed_registry(conn, tenants.a.municipality_id, team)
            await seed_registry(conn, tenants.a.municipality_id, team)  # idempotent
            return await assignments.add_device(
                conn, municipality_id=tenants.a.municipality_id, profile_id="and-uc-352ble", address="cli-scale",
                serial=None,
            )  # fmt: skip

    device = asyncio.run(seed())
    env = env_with(TRYGGHEIM_DATABASE_URL=registry_db.runtime_url)
    listed = run_cli("admin", "homes", "list", "-m", "0301", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    homes = {h["address"]: h for h in map(json.loads, listed.stdout.splitlines())}
    couple = homes["Demoveien 12, 0555 Oslo"]
    assert couple["residents"] == "Berit Hansen (demo), Per Hansen (demo)"
    assert {address for address, _, _ in HOMES} <= set(homes)
    table = run_cli("admin", "patients", "list", "-m", "0301", env=env)
    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split()[:2] == ["Navn", "Tjenesteforløp"]
    kari = next(line for line in lines if line.startswith("Kari Nordmann (demo)"))
    assert "aktiv" in kari and "Thorvald Meyers gate 1" in kari
    refused = run_cli("admin", "patients", "add", "Feil Nummer", "-m", "0301", "--national-id", "15108695077", env=env)
    assert refused.returncode != 0 and "check digits" in refused.stderr
    assert "15108695077" not in refused.stderr
    unknown = run_cli("admin", "municipality", "add", "0302", "Ukjent", env=env)
    assert unknown.returncode != 0 and "not a municipality number" in unknown.stderr
    patient = str(tenants.a.patients["nord"])
    assigned = run_cli("admin", "device", "assign", str(device), "-m", "0301", "--patient", patient, env=env)
    assert assigned.returncode == 0 and json.loads(assigned.stdout)["device"] == str(device), assigned.stderr
    foreign = run_cli("admin", "device", "assign", str(device), "-m", "4601", "--patient", patient, env=env)
    assert foreign.returncode != 0 and "No such device in your municipality" in foreign.stderr
    again = run_cli("admin", "device", "assign", str(device), "-m", "0301", "--patient", patient, env=env)
    assert again.returncode != 0 and "overlaps" in again.stderr
    with psycopg.connect(registry_db.runtime_url) as conn:
        audited = conn.execute(
            "SELECT count(*) FROM audit_log WHERE principal_kind = 'system' AND action IN ('cli.homes.list', "
            "'cli.patients.list')"
        ).fetchone()
    assert audited == (2,)
