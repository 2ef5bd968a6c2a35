"""Journaling to VKP end to end: a nurse resolves a heart-failure patient's worsening episode, and the service's
own worker sends its DHO document to the VKP stand-in as the municipality's HelseID client (the real OpenID
provider checks the assertion and binds the token; the stand-in checks the token and each DPoP proof). A refusal
leaves the episode in the worklist as "journaling failed" with VKP's reason; a restart of the service loses
nothing; an answer that is not JSON, a token endpoint that refuses us and an unreachable VKP each leave a clear
reason and a retry, never a lost document."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhirclient.models.bundle import Bundle as ClientBundle

from cloud.access import audit
from cloud.access.roles import Role
from cloud.db.pool import connect, make_pool
from cloud.interop import clients
from cloud.interop.clients import ClientSettings
from cloud.interop.vkp import service as vkp
from cloud.telemetry import REGISTRY
from common.ports import free_port
from tests.escalation.conftest import open_alerts
from tests.interop.conftest import CLIENT_KEY
from tests.support.app import app_client
from tests.support.db import drain, named_rows
from tests.support.episodes import WORSENING, heart_failure_patient, store
from tests.support.fixtures import database_fixture, tenants_fixture
from tests.support.oidc import OidcProvider
from tests.support.proc import env_with, run_cli
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, insert_patient
from tests.web.helpers import HTML, sign_in, visible_text, wait_for_alerts
from tryggheim.demo.fhir_peer import VKP_SCOPE, FhirPeer

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("vkp")]

vkp_db, tenants = database_fixture(), tenants_fixture("vkp_db")
ORGNR = "974760673"  # passes the mod-11 check
SYNTHETIC_ID = "12434110260"
OTHER_ID = "05466810098"  # synthetic too
THIRD_ID = "03435010074"  # synthetic: 3 March 1950, month + 40
NOTE = "Økt vanndrivende etter samtale med fastlegen"
OPERATOR = audit.Actor.system("tests")
FAST = {"interop": True, "interop_tick_s": 0.2, "interop_backoff_s": 0.3, "evaluation": False}


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "vkp-client.pem"
    path.write_bytes(CLIENT_KEY.as_pem(private=True))
    return path


def _configure(url: str, municipality: UUID, settings: ClientSettings) -> None:
    async def run() -> None:
        async with await connect(url) as conn:
            await conn.execute("UPDATE municipalities SET orgnr = %s WHERE id = %s", (ORGNR, municipality))
            await clients.set_client(conn, OPERATOR, municipality, "vkp", settings)

    asyncio.run(run())


@pytest.fixture
def vkp_client(vkp_db: TestDatabase, tenants: Tenants, helseid: OidcProvider, peer: FhirPeer, key_file: Path) -> None:
    """Municipality A journals to the stand-in as "vkp-client"."""
    settings = ClientSettings(helseid.issuer, "vkp-client", str(key_file), (VKP_SCOPE,), peer.vkp_base)
    _configure(vkp_db.runtime_url, tenants.a.municipality_id, settings)


def _resolved_episode(url: str, tenants: Tenants, app: TestClient, name: str, national_id: str = SYNTHETIC_ID) -> int:
    """A heart-failure patient with a synthetic national id whose episode the nurse resolves by phone."""
    patient = heart_failure_patient(url, tenants.a, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE patients SET national_id = %s, national_id_kind = 'synthetic' WHERE id = %s",
                     (national_id, patient))  # fmt: skip
    for metric, values in WORSENING.values():
        store(url, patient, metric, values)
    drain(url)
    episode = wait_for_alerts(url, patient, {"episode.clinical"})["episode.clinical"]
    outcome = {"outcome": "resolved_by_phone", "note": NOTE}
    answer = app.post(f"/api/v1/alerts/{episode}/outcomes", headers=tenants.a.auth(Role.NURSE), json=outcome)
    assert answer.status_code == 201, answer.text
    return episode


def _wait(check: Any, timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return found


def _backlog(kind: str) -> float | None:
    """The interoperability worker's gauge in this process's metrics (the application runs in-process)."""
    return REGISTRY.get_sample_value("tryggheim_interop_backlog", {"kind": kind})


def _journal_row(url: str, alert_id: int) -> dict[str, Any] | None:
    found = named_rows(url, "SELECT * FROM vkp_journal WHERE alert_id = %s", alert_id)
    return found[0] if found else None


def _worklisted(app: TestClient, tenants: Tenants, alert_id: int) -> dict[str, Any] | None:
    listed = app.get("/api/v1/worklist", headers=tenants.a.auth(Role.NURSE)).json()
    return next((a for p in listed["patients"] for a in p["alerts"] if a["id"] == alert_id), None)


@pytest.mark.usefixtures("vkp_client")
def test_a_refused_document_waits_in_the_worklist_and_is_journaled_after_a_restart(
    vkp_db: TestDatabase, tenants: Tenants, peer: FhirPeer
) -> None:
    url = vkp_db.runtime_url
    peer.require_nonce = True  # the service asks for its own DPoP nonce first: the client's retry runs
    peer.fail_next(1000, "outcome")  # VKP refuses every try while the first service runs
    with app_client(url, **FAST) as app:
        episode = _resolved_episode(url, tenants, app, "Jorunn Journal")
        failed = _wait(lambda: (row := _journal_row(url, episode)) and row["last_error"] and row)
        listed = _wait(lambda: _worklisted(app, tenants, episode))
        assert listed["state"] == "resolved" and listed["journal_error"] == failed["last_error"]
        assert failed["last_error"].startswith("VKP refused the document: ")
        _wait(lambda: _backlog("vkp_failing") == 1.0)  # the operations metric says so too
        sign_in(app, tenants.a.usernames[Role.NURSE])
        page = visible_text(app.get("/", headers={**HTML, "Accept-Language": "nb"}).text)
        assert "Journalføring feilet: VKP refused the document: " in page
    # The service stops; VKP takes documents again; a new service picks the row up from the database.
    peer.clear()
    with app_client(url, **FAST) as app:
        journaled = _wait(lambda: (row := _journal_row(url, episode)) and row["journaled_at"] and row)
        assert _worklisted(app, tenants, episode) is None, "journaled: the episode leaves the worklist"
        _wait(lambda: _backlog("vkp_failing") == 0.0)
        sign_in(app, tenants.a.usernames[Role.NURSE])
        shown = visible_text(app.get(f"/alerts/{episode}", headers={**HTML, "Accept-Language": "nb"}).text)
        assert "Journalført i pasientjournalen (VKP)" in shown
        state = app.get(f"/api/v1/alerts/{episode}/journal", headers=tenants.a.auth(Role.NURSE)).json()
    assert state["state"] == "journaled" and state["alert_code"] == "5.1"
    oks = [a["ok"] for a in state["attempts"]]
    assert oks[-1] and not any(oks[:-1]) and len(oks) >= 2 and state["attempts"][0]["status"] == 400
    sent = [r for r in peer.received("vkp") if r.status == 201]
    assert len(sent) == 1 and journaled["receipt"]["status"] == 201
    received = sent[0]
    assert received.path == f"/vkp/{ORGNR}/Bundle" and received.headers["servicecodes"] == "dho"
    assert received.client_id == "vkp-client" and received.proof["htm"] == "POST" and "ath" in received.proof
    assert any(r.refused and "nonce" in r.refused for r in peer.received("vkp")), "the nonce retry ran"
    _check_document(received.body, episode)


def _check_document(document: dict[str, Any], episode: int) -> None:
    Bundle.model_validate(document)
    ClientBundle(document)
    kinds = [e["resource"]["resourceType"] for e in document["entry"]]
    assert kinds[0] == "Composition" and kinds.count("DetectedIssue") == 1
    composition, issue = document["entry"][0]["resource"], document["entry"][1]["resource"]
    subject = {"identifier": {"use": "official", "system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": SYNTHETIC_ID}}
    assert composition["subject"] == subject and issue["patient"] == subject
    assert composition["type"]["coding"][0]["code"] == "5.1" and issue["code"]["coding"][0]["code"] == "5.1"
    assert composition["author"][0]["display"] == "nurse a"
    assert NOTE in composition["section"][0]["text"]["div"]
    assert "Løst på telefon" in composition["section"][0]["text"]["div"]
    observations = [e["resource"] for e in document["entry"] if e["resource"]["resourceType"] == "Observation"]
    loinc = {c["code"] for o in observations for c in o["code"]["coding"] if c["system"] == "http://loinc.org"}
    assert {"29463-7", "8867-4", "2708-6"} <= loinc, "the episode implicates its members' readings"
    assert len(issue["implicated"]) == len(observations)
    urls = {e["fullUrl"] for e in document["entry"]}
    assert all(ref["reference"] in urls for ref in issue["implicated"])
    assert all("reference" not in o["subject"] for o in observations)


def _deliver(url: str, *, now: datetime) -> vkp.Delivered | None:
    async def run() -> vkp.Delivered | None:
        pool = make_pool(url, min_size=1, max_size=2, timeout_s=5)
        await pool.open()
        try:
            async with httpx.AsyncClient() as http:
                return await vkp.deliver(pool, http, now=now, process="test", backoff_s=0.3)
        finally:
            await pool.close()

    return asyncio.run(run())


@pytest.mark.usefixtures("vkp_client")
def test_bad_answers_and_a_refusing_token_endpoint_are_reasons_not_losses(
    vkp_db: TestDatabase, tenants: Tenants, helseid: OidcProvider, peer: FhirPeer, key_file: Path
) -> None:
    url = vkp_db.runtime_url
    peer.fail_next(10, "not_json")
    with app_client(url, **FAST) as app:
        episode = _resolved_episode(url, tenants, app, "Berit Bad-svar", OTHER_ID)
        row = _wait(lambda: (r := _journal_row(url, episode)) and r["last_error"] and r)
    assert "not JSON" in row["last_error"] and row["journaled_at"] is None
    # No worker of the application from here: the test sends the row itself.
    municipality = tenants.a.municipality_id
    refused = ClientSettings(helseid.issuer, "refused-client", str(key_file), (VKP_SCOPE,), peer.vkp_base)
    _configure(url, municipality, refused)
    later = datetime.now(UTC) + timedelta(hours=2)
    delivered = _deliver(url, now=later)
    assert delivered is not None and not delivered.sent.ok
    assert "invalid_client" in delivered.sent.detail, delivered.sent.detail
    closed = f"http://127.0.0.1:{free_port()}/vkp"
    _configure(url, municipality, ClientSettings(helseid.issuer, "vkp-client", str(key_file), (VKP_SCOPE,), closed))
    unreachable = _deliver(url, now=later + timedelta(hours=2))
    assert unreachable is not None and "cannot be reached" in unreachable.sent.detail
    attempts = named_rows(url, "SELECT ok FROM vkp_journal_attempts WHERE alert_id = %s", episode)
    assert attempts and not any(a["ok"] for a in attempts)
    assert _journal_row(url, episode)["journaled_at"] is None, "still waiting, never dropped"


def _resolved_alerts(url: str, patient: UUID, count: int, resolved_ago: timedelta, prefix: str) -> list[int]:
    """Alerts of rules the patient's protocol lacks, resolved `resolved_ago` (stored as the alert store would)."""
    opened = open_alerts(url, patient, count, prefix=prefix)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE alerts SET state = 'resolved', resolved_at = now() - %s, updated_at = now() WHERE id = ANY(%s)",
            (resolved_ago, opened),
        )
    return opened


def test_unjournaled_alerts_never_hold_up_the_others_and_a_long_outage_is_caught_up(
    vkp_db: TestDatabase, tenants: Tenants, helseid: OidcProvider, peer: FhirPeer, key_file: Path
) -> None:
    url = vkp_db.runtime_url
    month_ago = datetime.now(UTC) - timedelta(days=30)  # the client was active before these alerts resolved
    settings = ClientSettings(helseid.issuer, "vkp-client", str(key_file), (VKP_SCOPE,), peer.vkp_base, month_ago)
    _configure(url, tenants.a.municipality_id, settings)
    team = tenants.a.teams["Nord"]
    nameless = insert_patient(url, tenants.a.municipality_id, team, "Uten fødselsnummer")
    named = insert_patient(url, tenants.a.municipality_id, team, "Med fødselsnummer")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE patients SET national_id = %s, national_id_kind = 'synthetic' WHERE id = %s",
                     (THIRD_ID, named))  # fmt: skip
    ahead = vkp.SWEEP_LIMIT + 5  # more than one page of alerts VKP cannot file (no national id)
    _resolved_alerts(url, nameless, ahead, timedelta(minutes=10), "nameless")
    [wanted] = _resolved_alerts(url, named, 1, timedelta(minutes=5), "named")
    [old] = _resolved_alerts(url, named, 1, timedelta(days=10), "old")

    async def sweep() -> int:
        async with await connect(url) as conn:
            return await vkp.sweep(conn, now=datetime.now(UTC), window=timedelta(hours=1))

    assert asyncio.run(sweep()) == 1, "the one alert behind a full page of unfileable ones is found"
    assert _journal_row(url, wanted) is not None and _journal_row(url, old) is None
    env = env_with(TRYGGHEIM_DATABASE_URL=url)
    since = (datetime.now(UTC) - timedelta(days=11)).isoformat()
    caught = run_cli("admin", "interop", "catch-up", "--since", since, env=env)
    assert caught.returncode == 0 and json.loads(caught.stdout) == {"added": 1}, caught.stderr
    shown = run_cli("admin", "interop", "journal", "--alert", str(old), env=env)
    assert shown.returncode == 0 and json.loads(shown.stdout)["state"] == "waiting", shown.stderr
