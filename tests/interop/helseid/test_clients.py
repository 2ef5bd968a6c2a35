"""A municipality's HelseID client configuration: the CLI's set-client/show/disable round trip on the test
database (audited, the key never stored or shown), the client made from it journaling to the VKP stand-in, a
key file that cannot be used, and the administrator's API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.access import audit
from cloud.access.roles import Role
from cloud.db.pool import connect
from cloud.interop import clients
from cloud.interop.clients import ClientConfigError, ClientSettings
from tests.interop.conftest import CLIENT_KEY
from tests.support.fixtures import app_fixtures
from tests.support.oidc import OidcProvider
from tests.support.proc import env_with, run_cli
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants
from tryggheim.demo.fhir_peer import VKP_SCOPE, FhirPeer

pytestmark = pytest.mark.slow
interop_db, tenants, client = app_fixtures("interop_db")
DOCUMENT = {"resourceType": "Bundle", "type": "document", "entry": []}
OPERATOR = audit.Actor.system("tests")


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """The test client's private key as a PEM file."""
    path = tmp_path / "vkp-client.pem"
    path.write_bytes(CLIENT_KEY.as_pem(private=True))
    return path


def _rows(db: TestDatabase, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(db.runtime_url) as conn:
        return conn.execute(query, args).fetchall()


async def _connect(db: TestDatabase) -> psycopg.AsyncConnection[Any]:
    return await connect(db.runtime_url)


def _set_client_args(helseid: OidcProvider, peer: FhirPeer, key: Path, municipality: str = "0301") -> list[str]:
    return ["admin", "interop", "set-client", "-m", municipality, "--service", "vkp", "--issuer", helseid.issuer,
            "--client-id", "vkp-client", "--key-file", str(key), "--scope", VKP_SCOPE, "--base-url",
            f"{peer.vkp_base}/"]  # fmt: skip


def test_the_cli_configures_a_client_that_journals(
    interop_db: TestDatabase, tenants: Tenants, helseid: OidcProvider, peer: FhirPeer, key_file: Path
) -> None:
    env = env_with(TRYGGHEIM_DATABASE_URL=interop_db.runtime_url)
    made = run_cli(*_set_client_args(helseid, peer, key_file), env=env)
    assert made.returncode == 0, made.stderr
    stored = json.loads(made.stdout)
    assert (stored["service"], stored["client_id"], stored["scopes"]) == ("vkp", "vkp-client", [VKP_SCOPE])
    assert stored["base_url"] == peer.vkp_base and stored["key_file"] == str(key_file) and stored["enabled"]
    shown = run_cli("admin", "interop", "show", "-m", "0301", env=env)
    assert shown.returncode == 0, shown.stderr
    assert [json.loads(line) for line in shown.stdout.splitlines()] == [stored]
    private = CLIENT_KEY.as_dict(private=True)["d"]
    assert private not in shown.stdout + made.stdout
    in_rows = "SELECT 1 FROM interop_clients WHERE strpos(row_to_json(interop_clients)::text, %s) > 0"
    assert not _rows(interop_db, in_rows, private)
    mid = tenants.a.municipality_id
    audited = _rows(interop_db, "SELECT principal_kind, resource FROM audit_log WHERE action = 'interop.set-client' "
                    "AND municipality_id = %s", mid)  # fmt: skip
    assert audited == [("system", "interop_client/vkp")]

    async def journal() -> None:
        async with httpx.AsyncClient() as http, await _connect(interop_db) as conn:
            machine = await clients.machine_client(conn, mid, "vkp", http=http)
            assert machine is not None and machine.client_id == "vkp-client" and "BEGIN" not in repr(machine)
            answer = await machine.request("POST", f"{peer.vkp_base}/974600951/Bundle", json=DOCUMENT,
                                           headers={"ServiceCodes": "dho"})  # fmt: skip
            assert answer.status_code == 201
            assert await clients.machine_client(conn, mid, "vkp", http=http) is machine  # kept while unchanged
            settings = ClientSettings(helseid.issuer, "vkp-client", str(key_file), (VKP_SCOPE,), peer.vkp_base)
            await clients.set_client(conn, OPERATOR, mid, "vkp", settings)
            assert await clients.machine_client(conn, mid, "vkp", http=http) is not machine  # the row changed
            assert await clients.disable(conn, OPERATOR, mid, "vkp")
            assert await clients.machine_client(conn, mid, "vkp", http=http) is None
            assert not await clients.disable(conn, OPERATOR, mid, "vkp")

    asyncio.run(journal())
    assert [r.client_id for r in peer.received("vkp") if r.status == 201] == ["vkp-client"]
    actions = _rows(interop_db, "SELECT action FROM audit_log WHERE action LIKE 'interop.%%' AND municipality_id = %s "
                    "ORDER BY id", mid)  # fmt: skip
    assert actions == [("interop.set-client",), ("interop.set-client",), ("interop.disable-client",)]


def test_a_key_file_that_cannot_be_used_is_named(
    interop_db: TestDatabase, tenants: Tenants, helseid: OidcProvider, peer: FhirPeer, tmp_path: Path
) -> None:
    env = env_with(TRYGGHEIM_DATABASE_URL=interop_db.runtime_url)
    count = "SELECT count(*) FROM interop_clients"
    before = _rows(interop_db, count)
    missing = tmp_path / "absent.json"
    refused = run_cli(*_set_client_args(helseid, peer, missing, "4601"), env=env)
    assert refused.returncode == 2
    assert f"the key file {missing} cannot be read (No such file or directory)" in refused.stderr
    public = tmp_path / "public.json"
    public.write_text(json.dumps(CLIENT_KEY.as_dict(private=False)))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN NOTHING-----\n")
    cases = [(public, "public key"), (garbage, "neither a private JWK nor a PEM"), (Path("relative.pem"), "absolute")]
    for path, why in cases:
        with pytest.raises(ClientConfigError, match=why):
            ClientSettings(helseid.issuer, "c", str(path), ("s",), peer.vkp_base).checked()
    with pytest.raises(ClientConfigError, match="issuer must be an https address"):
        ClientSettings("http://helseid.example", "c", str(garbage), ("s",), peer.vkp_base).checked()
    assert _rows(interop_db, count) == before


def test_a_key_file_gone_after_configuration_is_a_clear_error(
    interop_db: TestDatabase, tenants: Tenants, helseid: OidcProvider, peer: FhirPeer, key_file: Path
) -> None:
    mid = tenants.b.municipality_id

    async def scenario() -> None:
        async with httpx.AsyncClient() as http, await _connect(interop_db) as conn:
            settings = ClientSettings(helseid.issuer, "vkp-client", str(key_file), (VKP_SCOPE,), peer.pmd_base)
            await clients.set_client(conn, OPERATOR, mid, "pmd", settings)
            await asyncio.to_thread(key_file.unlink)
            with pytest.raises(ClientConfigError, match=f"the key file {key_file} cannot be read"):
                await clients.machine_client(conn, mid, "pmd", http=http)
            assert await clients.disable(conn, OPERATOR, mid, "pmd")

    asyncio.run(scenario())


def test_the_administrator_changes_the_client_but_not_its_key_file(
    interop_db: TestDatabase, tenants: Tenants, client: TestClient, helseid: OidcProvider, key_file: Path
) -> None:
    admin = tenants.b.auth(Role.MUNICIPALITY_ADMIN)
    body = {
        "issuer": helseid.issuer,
        "client_id": "pmd-client",
        "scopes": ["nhn:pmd/x"],
        "base_url": "https://pmd.example/fhir",
    }
    assert client.get("/api/v1/interop/clients/vkp", headers=admin).status_code == 404
    assert client.put("/api/v1/interop/clients/vkp", json=body, headers=admin).status_code == 409
    assert client.get("/api/v1/interop/clients/vkp", headers=tenants.b.auth(Role.NURSE)).status_code == 403
    assert client.put("/api/v1/interop/clients/fhir", json=body, headers=admin).status_code == 422

    async def by_operator() -> None:
        async with await _connect(interop_db) as conn:
            settings = ClientSettings(helseid.issuer, "first", str(key_file), ("nhn:pmd/x",), "https://pmd.example")
            await clients.set_client(conn, OPERATOR, tenants.b.municipality_id, "vkp", settings)

    asyncio.run(by_operator())
    changed = client.put("/api/v1/interop/clients/vkp", json={**body, "key_file": "/etc/other"}, headers=admin)
    assert changed.status_code == 422  # the key file is not the administrator's to set
    changed = client.put("/api/v1/interop/clients/vkp", json=body, headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["client_id"] == "pmd-client" and changed.json()["key_file"] == str(key_file)
    assert client.get("/api/v1/interop/clients/vkp", headers=admin).json()["base_url"] == "https://pmd.example/fhir"
    other = client.get("/api/v1/interop/clients/vkp", headers=tenants.a.auth(Role.MUNICIPALITY_ADMIN))
    # A's administrator sees A's own client (test 1 made one) or none, never B's.
    assert other.status_code == 404 or other.json()["client_id"] == "vkp-client"
    staff = str(tenants.b.staff[Role.MUNICIPALITY_ADMIN])
    records = _rows(
        interop_db, "SELECT action FROM audit_log WHERE principal_id = %s AND action LIKE 'interop.%%'", staff
    )
    assert ("interop.set-client",) in records and ("interop.clients",) in records
    by = "SELECT updated_by FROM interop_clients WHERE municipality_id = %s AND service = 'vkp'"
    updated_by = _rows(interop_db, by, tenants.b.municipality_id)
    assert updated_by == [(UUID(staff),)]
