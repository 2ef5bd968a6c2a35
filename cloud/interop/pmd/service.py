"""PMD sharing as a service: new measurements of consenting patients in batches, refused ones one by one.

One batch per patient and round (PMD takes the person in the `person-id` header), with a fresh
`correlation-id` that is logged with the outcome so a PMD operator and ours can find the same request. Only
vital signs with a LOINC code are shared: PMD takes vital measurements, not door events or device health.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from cloud.interop import clients
from cloud.interop.fhir.load import load_observations, load_patient, reference_limits
from cloud.interop.fhir.observation import observation_resources
from cloud.interop.fhir.patient import patient_identifier
from cloud.interop.helseid import InteropError, MachineClient
from cloud.interop.pmd import shares
from cloud.interop.pmd.batch import Entry, EntryResult, batch_bundle, entry, read_answer
from device_profiles.metrics import load_catalogue

log = logging.getLogger(__name__)
SETTLE = timedelta(minutes=2)  # far above any ingest transaction (statement and body deadlines are seconds)
BATCH_LIMIT = 100
FHIR_JSON = "application/fhir+json"


def shareable_metrics() -> list[str]:
    """The metrics PMD receives: stored vital signs with a LOINC code."""
    return sorted(
        key for key, metric in load_catalogue().metrics.items()
        if metric.kind == "vital" and metric.loinc is not None and not metric.transient
    )  # fmt: skip


async def _connect(
    conn: AsyncConnection[Any], municipality_id: UUID, http: httpx.AsyncClient
) -> tuple[MachineClient, str] | str:
    """The municipality's PMD client and base, or why there is none."""
    try:
        found = await clients.connect(conn, municipality_id, "pmd", http=http)
    except InteropError as refused:
        return str(refused)
    return found if found is not None else "the municipality has no enabled PMD client"


def bundle_url(base_url: str) -> str:
    """Where batches go."""
    return f"{base_url.rstrip('/')}/Bundle"


async def post_batch(
    client: MachineClient, base_url: str, entries: list[Entry], *, person_id: str, kommunenummer: str
) -> tuple[list[EntryResult] | None, str]:
    """Send one batch; the per-entry results, or None and the reason when the request as a whole failed."""
    correlation = str(uuid.uuid4())
    try:
        response = await client.request(
            "POST", bundle_url(base_url), json=batch_bundle(entries, municipality_number=kommunenummer),
            headers={"person-id": person_id, "correlation-id": correlation, "Content-Type": FHIR_JSON,
                     "Accept": FHIR_JSON},
        )  # fmt: skip
    except InteropError as failed:
        return None, str(failed)
    except httpx.HTTPError as failed:
        return None, f"PMD cannot be reached ({type(failed).__name__})"
    if response.status_code >= 300:
        log.warning("PMD refused batch %s: %s", correlation, response.status_code)
        return None, f"PMD answered {response.status_code} (correlation-id {correlation})"
    try:
        answer: Any = response.json()
    except ValueError:
        return None, f"PMD's answer is not JSON (correlation-id {correlation})"
    results = read_answer(entries, answer)
    log.info("PMD batch %s: %d of %d shared", correlation, sum(r.ok for r in results), len(results))
    return results, ""


async def share_new(pool: AsyncConnectionPool, http: httpx.AsyncClient, *, now: datetime, backoff_s: float) -> int:
    """One round over every consenting patient; returns how many measurements PMD accepted."""
    metrics = shareable_metrics()
    async with pool.connection() as conn:
        found = await shares.sharers(conn)
    accepted = 0
    for sharer in found:
        async with pool.connection() as conn:
            rows = await shares.next_ids(conn, sharer, metrics=metrics, until=now - SETTLE, limit=BATCH_LIMIT)
            if not rows:
                continue
            patient = await load_patient(conn, sharer.patient_id)
            identifier = patient_identifier(patient) if patient is not None else None
            client = await _connect(conn, sharer.municipality_id, http)
            observations = await load_observations(conn, [row["id"] for row in rows])
            limits = await reference_limits(conn, sharer.patient_id)
        if patient is None or identifier is None or isinstance(client, str):
            continue
        resources = observation_resources(observations, patient, limits)
        entries = [entry(int(r["id"]), r, {"identifier": identifier}) for r in resources]
        results, reason = await post_batch(
            *client, entries, person_id=identifier["value"], kommunenummer=sharer.kommunenummer,
        )  # fmt: skip
        if results is None:
            log.warning("PMD sharing for a patient waits: %s", reason)
            continue
        refused = [(e.observation_id, e.full_url, e.resource, r.detail) for e, r in zip(entries, results, strict=True)
                   if not r.ok]  # fmt: skip
        async with pool.connection() as conn, conn.transaction():
            await shares.advance(conn, sharer, last=rows[-1], refused=refused, now=now, backoff_s=backoff_s)
        accepted += len(entries) - len(refused)
    return accepted


async def retry_one(pool: AsyncConnectionPool, http: httpx.AsyncClient, *, now: datetime, backoff_s: float) -> bool:
    """Send the most overdue refused entry alone, holding its lock; False when nothing is due."""
    async with pool.connection() as conn, conn.transaction():
        retry = await shares.claim_retry(conn, now=now)
        if retry is None:
            return False
        client = await _connect(conn, retry.municipality_id, http)
        patient = await load_patient(conn, retry.patient_id)
        identifier = patient_identifier(patient) if patient is not None else None
        if isinstance(client, str) or identifier is None:
            ok, detail = False, client if isinstance(client, str) else "the patient has no national identity number"
        else:
            sent = Entry(retry.observation_id, retry.full_url, retry.resource)
            results, reason = await post_batch(
                *client, [sent], person_id=identifier["value"], kommunenummer=retry.kommunenummer,
            )  # fmt: skip
            ok, detail = (results[0].ok, results[0].detail) if results else (False, reason)
        await shares.settle_retry(conn, retry, ok=ok, detail=detail, now=now, backoff_s=backoff_s)
    return True
