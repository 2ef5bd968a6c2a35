"""Sharing with PMD end to end: nothing without the patient's consent; with it, the measurements stored since go
as one batch per patient to the PMD stand-in (real token endpoint, DPoP-checked), the entry PMD refuses is
retried on its own until shared, a failed round loses nothing, and a withdrawal stops the next round."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import httpx
import psycopg
import pytest
from fhir.resources.R4B.bundle import Bundle

from cloud.access import audit
from cloud.access.roles import Role
from cloud.db.pool import connect, make_pool
from cloud.interop import clients
from cloud.interop.clients import ClientSettings
from cloud.interop.pmd import service as pmd
from cloud.interop.pmd.batch import full_url
from tests.interop.conftest import CLIENT_KEY
from tests.support.app import app_client
from tests.support.db import named_rows
from tests.support.episodes import store
from tests.support.fixtures import database_fixture, tenants_fixture
from tests.support.oidc import OidcProvider
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants, insert_patient
from tests.web.helpers import HTML, csrf_of, sign_in, visible_text
from tryggheim.demo.fhir_peer import PMD_SCOPE, FhirPeer

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pmd")]

pmd_db, tenants = database_fixture(), tenants_fixture("pmd_db")
NATIONAL_ID = "12434110260"  # synthetic
OPERATOR = audit.Actor.system("tests")
T = TypeVar("T")


def _run(url: str, work: Callable[[Any, httpx.AsyncClient], Awaitable[T]]) -> T:
    async def run() -> T:
        pool = make_pool(url, min_size=1, max_size=2, timeout_s=5)
        await pool.open()
        try:
            async with httpx.AsyncClient() as http:
                return await work(pool, http)
        finally:
            await pool.close()

    return asyncio.run(run())


def _share(url: str, now: datetime) -> int:
    return _run(url, lambda pool, http: pmd.share_new(pool, http, now=now, backoff_s=60))


def _retry(url: str, now: datetime) -> bool:
    return _run(url, lambda pool, http: pmd.retry_one(pool, http, now=now, backoff_s=60))


@pytest.fixture(scope="module")
def patient(pmd_db: TestDatabase, tenants: Tenants) -> UUID:
    """A patient with a national id in municipality A."""
    url = pmd_db.runtime_url
    found = insert_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"], "Petra Puls")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE patients SET national_id = %s, national_id_kind = 'synthetic' WHERE id = %s",
                     (NATIONAL_ID, found))  # fmt: skip
    return found


def _configure(url: str, municipality: UUID, helseid: OidcProvider, peer: FhirPeer, key_file: Path) -> None:
    async def run() -> None:
        async with await connect(url) as conn:
            settings = ClientSettings(helseid.issuer, "vkp-client", str(key_file), (PMD_SCOPE,), peer.pmd_base)
            await clients.set_client(conn, OPERATOR, municipality, "pmd", settings)

    asyncio.run(run())


def _ids(url: str, patient: UUID, metric: str) -> list[int]:
    rows = named_rows(
        url, "SELECT id FROM observations WHERE patient_id = %s AND metric = %s ORDER BY id", patient, metric
    )
    return [row["id"] for row in rows]


def test_consent_batches_per_entry_retries_and_withdrawal(
    pmd_db: TestDatabase, tenants: Tenants, helseid: OidcProvider, peer: FhirPeer, patient: UUID, tmp_path: Path
) -> None:
    url = pmd_db.runtime_url
    key_file = tmp_path / "pmd.pem"
    key_file.write_bytes(CLIENT_KEY.as_pem(private=True))
    _configure(url, tenants.a.municipality_id, helseid, peer, key_file)
    store(url, patient, "heart_rate", [(71.0, timedelta(hours=1))])
    soon = datetime.now(UTC) + timedelta(minutes=3)  # past the settling time
    assert _share(url, soon) == 0 and peer.received("pmd") == [], "no consent, nothing shared"

    nurse = tenants.a.auth(Role.NURSE)
    with app_client(url) as app:
        given = app.post(f"/api/v1/patients/{patient}/pmd-sharing/consent", headers=nurse,
                         json={"note": "Samtykke gitt muntlig ved hjemmebesøk"})  # fmt: skip
        assert given.status_code == 201, given.text
        again = app.post(f"/api/v1/patients/{patient}/pmd-sharing/consent", headers=nurse, json={"note": "igjen"})
        assert again.status_code == 409
        store(url, patient, "heart_rate", [(72.0, timedelta(0)), (74.0, timedelta(0))])
        store(url, patient, "body.weight", [(81.5, timedelta(0))])
        store(url, patient, "door.open", [(1.0, timedelta(0))])  # not a vital sign: never shared
        pulse, weight = _ids(url, patient, "heart_rate"), _ids(url, patient, "body.weight")
        peer.fail_entries.add(full_url(pulse[-1]))
        peer.fail_next(1, "unavailable")
        later = datetime.now(UTC) + timedelta(minutes=3)
        assert _share(url, later) == 0, "PMD unavailable: the round moves nothing"
        assert _share(url, later) == 2, "then the batch, less the refused entry"
        waiting = app.get(f"/api/v1/patients/{patient}/pmd-sharing", headers=nurse).json()
        assert waiting["waiting"] == 1 and waiting["consent"]["note"].startswith("Samtykke")

        batches = [r for r in peer.received("pmd") if r.status == 200]
        assert len(batches) == 1
        batch = batches[0]
        Bundle.model_validate(batch.body)
        assert batch.body["type"] == "batch" and batch.headers["person-id"] == NATIONAL_ID
        assert batch.headers["correlation-id"] and batch.client_id == "vkp-client" and "ath" in batch.proof
        urls = [e["fullUrl"] for e in batch.body["entry"]]
        assert sorted(urls) == sorted(full_url(i) for i in [*pulse[1:], *weight]), "only readings since consent"
        loinc = {c["code"] for e in batch.body["entry"] for c in e["resource"]["code"]["coding"]
                 if c["system"] == "http://loinc.org"}  # fmt: skip
        assert loinc == {"8867-4", "29463-7"}

        peer.fail_entries.clear()
        assert _retry(url, later) is False, "not due yet (back-off)"
        assert _retry(url, later + timedelta(minutes=2)) is True
        retried = [r for r in peer.received("pmd") if r.status == 200][-1]
        assert [e["fullUrl"] for e in retried.body["entry"]] == [full_url(pulse[-1])], "the refused entry alone"
        assert app.get(f"/api/v1/patients/{patient}/pmd-sharing", headers=nurse).json()["waiting"] == 0

        withdrawn = app.post(f"/api/v1/patients/{patient}/pmd-sharing/withdraw", headers=nurse)
        assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_at"]
        store(url, patient, "heart_rate", [(90.0, timedelta(0))])
        sent = len(peer.received("pmd"))
        assert _share(url, later + timedelta(minutes=10)) == 0 and len(peer.received("pmd")) == sent
        assert app.post(f"/api/v1/patients/{patient}/pmd-sharing/withdraw", headers=nurse).status_code == 404


def test_the_registry_page_records_and_withdraws_the_consent(pmd_db: TestDatabase, tenants: Tenants) -> None:
    url = pmd_db.runtime_url
    patient = insert_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"], "Sigrid Samtykke")
    page = f"/registry/patients/{patient}"
    with app_client(url) as app:
        sign_in(app, tenants.a.usernames[Role.NURSE])
        before = app.get(page, headers={**HTML, "Accept-Language": "nb"}).text
        assert "Ikke samtykke: ingenting om denne pasienten deles med PMD." in visible_text(before)
        form = {"csrf_token": csrf_of(before), "note": "x"}
        short = app.post(f"{page}/pmd", data=form, headers={**HTML, "Accept-Language": "nb"})
        assert short.status_code == 422 and "Skriv hvordan samtykket ble gitt" in visible_text(short.text)
        given = app.post(f"{page}/pmd", data={**form, "note": "Muntlig, ved besøk"}, headers=HTML,
                         follow_redirects=False)  # fmt: skip
        assert given.status_code == 303
        after = visible_text(app.get(page, headers={**HTML, "Accept-Language": "nb"}).text)
        assert "Pasienten samtykket" in after and "Muntlig, ved besøk" in after
        withdrawn = app.post(f"{page}/pmd/withdraw", data={"csrf_token": form["csrf_token"]}, headers=HTML,
                             follow_redirects=False)  # fmt: skip
        assert withdrawn.status_code == 303
    rows = named_rows(url, "SELECT note, withdrawn_at FROM pmd_consents WHERE patient_id = %s", patient)
    assert [r["note"] for r in rows] == ["Muntlig, ved besøk"] and rows[0]["withdrawn_at"] is not None
    audited = named_rows(url, "SELECT action FROM audit_log WHERE action LIKE 'pmd.%%' ORDER BY id")
    assert {"pmd.consent", "pmd.withdraw"} <= {r["action"] for r in audited}
