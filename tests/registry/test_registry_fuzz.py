"""schemathesis over the registry and patient APIs against the real service process, as municipality A's
administrator and nurse, each with a local API token and with a HelseID-style DPoP-bound access token: no server
errors, and no response ever carries municipality B's marker string."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from schemathesis.checks import not_a_server_error

from cloud.access.roles import Role
from cloud.db.pool import connect
from cloud.registry import homes
from tests.support.fuzzing import api_operations, fuzz_settings, no_foreign_marker, provider_credentials
from tests.support.issuer import Issuer, issuer_server
from tests.support.proc import cloud_serve
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

# One worker runs the module, so the database and the server process are set up once (`--dist loadgroup`).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("registry_fuzz")]


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with issuer_server() as running:
        yield running


@pytest.fixture(scope="module")
def server(registry_db: TestDatabase, tenants: Tenants, issuer: Issuer) -> Iterator[str]:
    """`tryggheim cloud serve` on the module's database, with B's home and device carrying B's marker."""

    async def plant() -> None:
        async with await connect(registry_db.runtime_url) as conn:
            marked = f"Bveien 1 {tenants.b.marker}"
            home = await homes.create(
                conn, municipality_id=tenants.b.municipality_id, address=marked, access_notes=marked, phone=None
            )
            await conn.execute("UPDATE patients SET home_id = %s WHERE id = %s", (home, tenants.b.patients["nord"]))
            await conn.execute(
                "INSERT INTO devices (municipality_id, profile_id, address) VALUES (%s, 'and-uc-352ble', %s)",
                (tenants.b.municipality_id, f"dev-{tenants.b.marker}"),
            )

    asyncio.run(plant())
    with cloud_serve(registry_db.runtime_url, TRYGGHEIM_OIDC_ISSUER=issuer.issuer) as url:
        yield url


def _credentials(server: str, url: str, tenants: Tenants, issuer: Issuer, role: Role, kind: str) -> Any:
    if kind == "local":
        return lambda case: tenants.a.auth(role)
    return provider_credentials(server, url, issuer, tenants.a.staff[role]).headers


@pytest.mark.parametrize("kind", ["local", "oidc"])
@pytest.mark.parametrize("role", [Role.MUNICIPALITY_ADMIN, Role.NURSE])
def test_registry_api_has_no_server_errors_and_no_foreign_data(
    server: str, registry_db: TestDatabase, tenants: Tenants, issuer: Issuer, role: Role, kind: str
) -> None:
    credentials = _credentials(server, registry_db.runtime_url, tenants, issuer, role, kind)
    operations = api_operations(server, tag_regex="^(registry|patients)$")
    assert {"/api/v1/homes", "/api/v1/devices/{device_id}/assignments", "/api/v1/patients/{patient_id}/consents"} <= {
        op.path for op in operations
    }
    patients = [tenants.a.patients["nord"], tenants.a.patients["sor"], tenants.b.patients["nord"]]
    checks = [not_a_server_error, no_foreign_marker(tenants.b.marker)]
    for operation in operations:

        @fuzz_settings(15)
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            params = case.path_parameters or {}
            if "patient_id" in params:  # real patients (one of B's) as often as random ids
                params["patient_id"] = str(patients[hash(str(params["patient_id"])) % len(patients)])
            case.call_and_validate(base_url=server, headers=credentials(case), checks=checks)

        call()


def test_the_marker_check_fails_on_the_other_tenants_own_data(server: str, tenants: Tenants) -> None:
    """The check is live: B's own administrator does get B's marker, and the check says so."""
    (operation,) = api_operations(server, path_regex="^/api/v1/homes$", method="GET")
    case = operation.Case(query={"limit": 100})
    response = case.call(base_url=server, headers=tenants.b.auth(Role.MUNICIPALITY_ADMIN))
    with pytest.raises(AssertionError, match=r"another municipality.s marker"):
        no_foreign_marker(tenants.b.marker)(None, response, case)
