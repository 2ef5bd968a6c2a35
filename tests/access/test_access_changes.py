"""Findings 3 and 7 of issue 17, who may do what: a token or account that is ended fails at once, on every
replica, including an event stream already open; every change to who may do what is audited, and a probe of
another municipality's patient is recorded in that municipality's chain too. Two real `tryggheim cloud serve`
processes share one database: changes are made on A, and credentials and streams are checked on B."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import httpx
import psycopg
import pytest

from cloud.access.roles import Role
from tests.access.live_server import Stream, client_from, new_staff, servers, session_of
from tests.support.db import named_rows
from tests.support.proc import env_with, run_cli
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, audit_rows

pytestmark = pytest.mark.slow
ENDS_WITHIN_S = 2.0


@dataclass
class Replicas:
    """Two cloud processes on one database."""

    a: httpx.Client
    b: httpx.Client
    b_url: str


@pytest.fixture(scope="module")
def replicas(access_db: TestDatabase, tenants: Tenants) -> Iterator[Replicas]:
    with (
        servers(access_db.runtime_url, 2) as (a_url, b_url),
        client_from("127.0.0.1", a_url) as a,
        client_from("127.0.0.1", b_url) as b,
    ):
        yield Replicas(a, b, b_url)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _new_token(replicas: Replicas, username: str, **body: object) -> tuple[str, str]:
    """(token id, secret) minted from a fresh session of `username` on A."""
    session = session_of(replicas.a, username)
    response = replicas.a.post("/api/v1/tokens", json={"label": "script", **body}, headers=session.headers)
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()["token"]


def test_revoked_tokens_fail_at_once_with_their_streams(
    replicas: Replicas, access_db: TestDatabase, tenants: Tenants
) -> None:
    url = access_db.runtime_url
    _, owner = new_staff(url, tenants.a)
    token_id, token = _new_token(replicas, owner)
    listed = replicas.b.get("/api/v1/tokens", headers=_bearer(token)).json()
    assert [(t["id"], t["label"], t["active"]) for t in listed] == [(token_id, "script", True)]
    created, expires = listed[0]["created_at"], listed[0]["expires_at"]
    assert 29.9 < (_days(expires) - _days(created)) <= 30.0  # the new default lifetime
    assert listed[0]["last_used_at"] is not None  # the listing itself used it

    # The owner revokes their own token on A; B refuses it at once and its stream on B ends.
    stream = Stream(replicas.b_url, _bearer(token))
    assert stream.status == 200
    started = time.monotonic()
    assert replicas.a.delete(f"/api/v1/tokens/{token_id}", headers=_bearer(token)).status_code == 204
    assert replicas.b.get("/api/v1/me", headers=_bearer(token)).status_code == 401
    owner_latency = stream.ends_within(ENDS_WITHIN_S, started)
    assert stream.events[-1] == "ended"

    # An administrator revokes a nurse's token; the nurse's other token keeps working.
    nurse_id, nurse = new_staff(url, tenants.a)
    kept_id, kept = _new_token(replicas, nurse)
    revoked_id, revoked = _new_token(replicas, nurse)
    stream = Stream(replicas.b_url, _bearer(revoked))
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    assert {t["id"] for t in replicas.a.get(f"/api/v1/staff/{nurse_id}/tokens", headers=admin).json()} == {
        kept_id,
        revoked_id,
    }
    started = time.monotonic()
    request_id = uuid.uuid4().hex
    gone = replicas.a.delete(
        f"/api/v1/staff/{nurse_id}/tokens/{revoked_id}", headers={**admin, "X-Request-ID": request_id}
    )
    assert gone.status_code == 204
    assert replicas.b.get("/api/v1/me", headers=_bearer(revoked)).status_code == 401
    admin_latency = stream.ends_within(ENDS_WITHIN_S, started)
    assert replicas.b.get("/api/v1/me", headers=_bearer(kept)).status_code == 200
    [record] = audit_rows(url, request_id)
    assert (record["action"], record["principal_id"]) == ("token.revoke", str(tenants.a.staff[Role.MUNICIPALITY_ADMIN]))
    print(f"\nstream ended after revocation: owner {owner_latency * 1000:.0f} ms, admin {admin_latency * 1000:.0f} ms")

    # A token cannot mint its successor, and a lifetime beyond the maximum is refused.
    assert replicas.a.post("/api/v1/tokens", json={}, headers=_bearer(kept)).status_code == 403
    session = session_of(replicas.a, nurse)
    too_long = replicas.a.post("/api/v1/tokens", json={"expires_in_days": 91}, headers=session.headers)
    assert too_long.status_code == 422 and "at most 90" in too_long.json()["detail"]


def test_sign_out_ends_the_session_and_its_stream_but_not_script_tokens(
    replicas: Replicas, access_db: TestDatabase, tenants: Tenants
) -> None:
    _, nurse = new_staff(access_db.runtime_url, tenants.a)
    session = session_of(replicas.a, nurse)
    created = replicas.a.post("/api/v1/tokens", json={"label": "script"}, headers=session.headers)
    token = created.json()["token"]
    stream = Stream(replicas.b_url, {"Cookie": f"trygg_session={session.cookie}"})
    started = time.monotonic()
    assert replicas.a.post("/auth/logout", headers=session.headers).status_code == 204
    latency = stream.ends_within(ENDS_WITHIN_S, started)
    assert replicas.b.get("/api/v1/me", headers={"Cookie": f"trygg_session={session.cookie}"}).status_code == 401
    # The decision in docs/operations.md: a token is a script's credential and outlives the browser session.
    assert replicas.b.get("/api/v1/me", headers=_bearer(token)).status_code == 200
    print(f"\nstream ended after sign-out: {latency * 1000:.0f} ms")


def test_deactivation_ends_everything_at_once(replicas: Replicas, access_db: TestDatabase, tenants: Tenants) -> None:
    url = access_db.runtime_url
    nurse_id, nurse = new_staff(url, tenants.a)
    session = session_of(replicas.b, nurse)
    _, token = _new_token(replicas, nurse)
    streams = [
        Stream(replicas.b_url, {"Cookie": f"trygg_session={session.cookie}"}),
        Stream(replicas.b_url, _bearer(token)),
    ]
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    started = time.monotonic()
    answer = replicas.a.post(f"/api/v1/staff/{nurse_id}/deactivate", headers=admin)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["sessions_ended"], answer.json()["tokens_revoked"]) == (2, 1)
    assert replicas.b.get("/api/v1/me", headers=_bearer(token)).status_code == 401
    assert replicas.b.get("/api/v1/me", headers={"Cookie": f"trygg_session={session.cookie}"}).status_code == 401
    latencies = [stream.ends_within(ENDS_WITHIN_S, started) for stream in streams]
    assert (
        replicas.a.post("/auth/login", json={"username": nurse, "password": "correct horse battery staple"}).status_code
        == 401
    )
    member = next(s for s in replicas.a.get("/api/v1/staff", headers=admin).json() if s["id"] == str(nurse_id))
    assert member["active"] is False and member["deactivated_at"]
    print(f"\nstreams ended after deactivation: {[round(s * 1000) for s in latencies]} ms")

    # The command line does the same, from outside any cloud process.
    _, other = new_staff(url, tenants.a)
    _, other_token = _new_token(replicas, other)
    stream = Stream(replicas.b_url, _bearer(other_token))
    started = time.monotonic()
    result = run_cli("admin", "staff", "deactivate", other, env=env_with(TRYGGHEIM_DATABASE_URL=url))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["tokens_revoked"] == 1
    assert replicas.b.get("/api/v1/me", headers=_bearer(other_token)).status_code == 401
    stream.ends_within(ENDS_WITHIN_S, started)


def test_an_administrator_reaches_only_her_own_municipalitys_staff(
    replicas: Replicas, access_db: TestDatabase, tenants: Tenants
) -> None:
    url = access_db.runtime_url
    foreign_id, foreign = new_staff(url, tenants.b)
    foreign_token_id, foreign_token = _new_token(replicas, foreign)
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    probes = [
        ("GET", f"/api/v1/staff/{foreign_id}/tokens"),
        ("DELETE", f"/api/v1/staff/{foreign_id}/tokens/{foreign_token_id}"),
        ("POST", f"/api/v1/staff/{foreign_id}/deactivate"),
    ]
    for method, path in probes:
        request_id = uuid.uuid4().hex
        answer = replicas.a.request(method, path, headers={**admin, "X-Request-ID": request_id})
        missing = replicas.a.request(method, path.replace(str(foreign_id), str(uuid.uuid4())), headers=admin)
        assert (
            (answer.status_code, answer.json()) == (404, missing.json()) == (404, {"detail": "No such staff member."})
        )
        rows = audit_rows(url, request_id)
        assert {(r["municipality_id"], r["outcome"]) for r in rows} == {
            (tenants.a.municipality_id, "denied"),
            (tenants.b.municipality_id, "denied"),
        }, (method, path)
    # Nothing happened to B's staff member; a token of A's cannot be revoked through B's staff member either.
    assert replicas.b.get("/api/v1/me", headers=_bearer(foreign_token)).status_code == 200
    _, own = new_staff(url, tenants.a)
    own_token_id, _own_token = _new_token(replicas, own)
    b_admin = tenants.b.auth(Role.MUNICIPALITY_ADMIN)
    wrong_owner = replicas.a.delete(f"/api/v1/staff/{foreign_id}/tokens/{own_token_id}", headers=b_admin)
    assert wrong_owner.status_code == 404
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT revoked_at FROM api_tokens WHERE id = %s", (own_token_id,)).fetchone() == (None,)
    # A nurse is no administrator.
    nurse = tenants.a.auth(Role.NURSE)
    assert replicas.a.post(f"/api/v1/staff/{foreign_id}/deactivate", headers=nurse).status_code == 403


def _days(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp() / 86400


def test_privilege_changes_are_audited_in_their_transaction(
    replicas: Replicas, access_db: TestDatabase, tenants: Tenants
) -> None:
    url, admin_id = access_db.runtime_url, str(tenants.a.staff[Role.MUNICIPALITY_ADMIN])
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)

    def as_admin(path: str, body: dict[str, object]) -> tuple[httpx.Response, list[dict[str, object]]]:
        request_id = uuid.uuid4().hex
        response = replicas.a.post(path, json=body, headers={**admin, "X-Request-ID": request_id})
        return response, audit_rows(url, request_id)

    team, [record] = as_admin("/api/v1/teams", {"name": "Vest"})
    assert team.status_code == 201
    assert (record["action"], record["resource"], record["principal_id"], record["municipality_id"]) == (
        "team.create", f"care_team/{team.json()['id']}", admin_id, tenants.a.municipality_id
    )  # fmt: skip
    again, records = as_admin("/api/v1/teams", {"name": "Vest"})
    assert again.json() == team.json() and records == []  # nothing changed, nothing recorded
    body = {"username": f"new.admin.{uuid.uuid4().hex[:6]}", "display_name": "Ny", "role": "municipality_admin",
            "team_ids": [team.json()["id"]]}  # fmt: skip
    created, [record] = as_admin("/api/v1/staff", body)
    assert created.status_code == 201
    assert (record["action"], record["principal_id"], record["outcome"]) == ("staff.create", admin_id, "allowed")
    assert record["resource"] == (
        f"staff/{created.json()['id']} username={body['username']} role=municipality_admin teams={team.json()['id']}"
    )
    # A refused change leaves no record: the record is written in the change's own transaction.
    taken, records = as_admin("/api/v1/staff", body)
    assert taken.status_code == 409 and records == []

    # The command line audits as the operator.
    env = env_with(TRYGGHEIM_DATABASE_URL=url)
    username = f"cli.admin.{uuid.uuid4().hex[:6]}"
    [before] = named_rows(url, "SELECT coalesce(max(id), 0) AS last_id FROM audit_log")
    added = run_cli("admin", "staff", "add", username, "-m", "0301", "--name", "CLI", "--role", "municipality_admin",
                    "--team", "Øst", env=env)  # fmt: skip
    assert added.returncode == 0, added.stderr
    issued = run_cli("admin", "staff", "token", username, "--days", "7", env=env)
    assert issued.returncode == 0, issued.stderr
    rows = named_rows(
        url,
        "SELECT action, principal_kind, municipality_id, resource FROM audit_log "
        "WHERE id > %s AND principal_kind = 'system' AND principal_id LIKE 'cli:%%' ORDER BY id",
        before["last_id"],
    )
    assert [(r["action"], r["principal_kind"], r["municipality_id"]) for r in rows] == [
        ("team.create", "system", tenants.a.municipality_id),
        ("staff.create", "system", tenants.a.municipality_id),
        ("token.create", "system", tenants.a.municipality_id),
    ]
    assert f"username={username} role=municipality_admin" in rows[1]["resource"]
    assert replicas.b.get("/api/v1/me", headers=_bearer(issued.stdout.strip())).json()["role"] == "municipality_admin"


def test_a_probe_of_another_municipalitys_patient_is_in_both_chains(
    replicas: Replicas, access_db: TestDatabase, tenants: Tenants
) -> None:
    request_id = uuid.uuid4().hex
    probed = tenants.b.patients["nord"]
    probe = replicas.a.get(
        f"/api/v1/patients/{probed}", headers={**tenants.a.auth(Role.NURSE), "X-Request-ID": request_id}
    )
    missing = replicas.a.get(f"/api/v1/patients/{uuid.uuid4()}", headers=tenants.a.auth(Role.NURSE))
    assert (probe.status_code, probe.json()) == (missing.status_code, missing.json()) == (404, missing.json())
    rows = audit_rows(access_db.runtime_url, request_id)
    assert sorted((r["municipality_id"] == tenants.b.municipality_id, r["outcome"]) for r in rows) == [
        (False, "denied"),
        (True, "denied"),
    ]
    # B's auditor sees who probed B's patient; A's auditor sees what A's nurse did.
    for tenant in (tenants.a, tenants.b):
        seen = replicas.b.get("/api/v1/audit", params={"patient_id": str(probed)}, headers=tenant.auth(Role.AUDITOR))
        [entry] = [e for e in seen.json() if e["correlation_id"] == request_id]
        assert (entry["principal_id"], entry["outcome"]) == (str(tenants.a.staff[Role.NURSE]), "denied")
    verified = run_cli("admin", "audit", "verify", env=env_with(TRYGGHEIM_DATABASE_URL=access_db.runtime_url))
    assert verified.returncode == 0, verified.stdout
    assert json.loads(verified.stdout)["intact"] is True
