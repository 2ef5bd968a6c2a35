"""`POST /api/v1/ingest`: a gateway's batch of readings.

The most frequent request by far (every gateway, every few seconds to minutes), so it skips FastAPI's
per-request machinery: it is a direct route (cloud/api/direct.py). It is declared as usual, so the OpenAPI
document, the access-policy check (cloud/access/route_check.py), the service middleware and the application's
error answers all apply, but its handler authenticates the gateway itself (`gateway_only()`'s answers, with a
longer memory of accepted credentials: cloud/ingest/trusted.py) and calls the endpoint, with no routing, no
dependency solving and no response validation.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, HTTPException, Request, Response
from prometheus_client import Counter
from pydantic import BaseModel

from cloud import telemetry
from cloud.access.policy import gateway_only
from cloud.api.direct import application_answer, direct_route
from cloud.gateways.credentials import GatewayPrincipal
from cloud.ingest.body import read_json
from cloud.ingest.quarantine import quota_of
from cloud.ingest.store import CredentialRefused, Upload
from cloud.ingest.trusted import TrustedCredentials
from cloud.ingest.uploads import UploadSlots
from cloud.ingest.validate import Rejection, ValidReading, validate
from device_profiles import load_catalogue, wire

Gateway = Annotated[GatewayPrincipal, gateway_only()]
MAX_READINGS = 5000
_CATALOGUE = load_catalogue()
_TRUSTED = TrustedCredentials()
_REFUSED = "Unknown, rotated-out or revoked gateway credential."
# Counters by label, looked up once rather than per request.
_BATCHES: dict[int, Counter] = {}
_OUTCOMES = {name: telemetry.READINGS.labels(name) for name in ("stored", "duplicate", "resent", "quarantined")}


async def _handle(request: Request) -> Response:
    """The endpoint behind `gateway_only()`'s check; every answer, refusals and failures included, counted by its
    status (`tryggheim_ingest_batches_total`, which operators alert on)."""
    try:
        response = await _authenticated(request)
    except Exception as exc:
        try:
            response = await application_answer(request, exc)
        except Exception:
            _batches(500).inc()
            raise
    _batches(response.status_code).inc()
    return response


async def _authenticated(request: Request) -> Response:
    """`gateway_only()`'s check (401 with `WWW-Authenticate: Bearer` for a missing or refused credential),
    then the endpoint."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        gateway, digest = await _TRUSTED.check(request.app.state.gateway_pool, header[7:].strip())
        if gateway is not None:
            request.state.credential_digest = digest
            return await ingest(request, gateway)
    raise HTTPException(401, _REFUSED, {"WWW-Authenticate": "Bearer"})


def _batches(status: int) -> Counter:
    """The batch counter of one HTTP status."""
    counter = _BATCHES.get(status)
    if counter is None:
        counter = _BATCHES[status] = telemetry.BATCHES.labels(str(status))
    return counter


router = APIRouter(prefix="/api/v1", tags=["ingest"], route_class=direct_route(_handle))


class IngestResult(BaseModel):
    """`committed` lists every sequence number durably handled (stored, duplicate or quarantined)."""

    committed: list[int]
    stored: int
    duplicates: int
    resent: int
    quarantined: dict[str, int]


def _split(items: list[Any], stored_at: datetime) -> tuple[list[ValidReading], list[Rejection], int]:
    """Validate each reading; resolve repeated sequence numbers inside one batch."""
    readings: dict[int, ValidReading] = {}
    rejections: list[Rejection] = []
    repeats = 0
    for raw in items:
        checked = validate(raw, _CATALOGUE, stored_at)
        if isinstance(checked, Rejection):
            rejections.append(checked)
        elif checked.seq not in readings:
            readings[checked.seq] = checked
        elif readings[checked.seq] == checked:
            repeats += 1
        else:
            rejections.append(
                Rejection(checked.seq, checked.device, "sequence_conflict", "sequence repeated in one batch with a "
                          "different reading", raw, checked.received_at)
            )  # fmt: skip
    return list(readings.values()), rejections, repeats


@router.post(
    "/ingest",
    response_model=IngestResult,
    # Documented from the wire contract; the handler parses the body itself, reading by reading, so that one
    # bad reading is quarantined instead of failing the whole batch with a 422.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": wire.batch_schema(MAX_READINGS)}},
        }
    },
    responses={400: {}, 408: {}, 413: {}, 415: {}, 422: {}, 429: {}, 503: {}},
)
async def ingest(request: Request, gateway: Gateway) -> Response:
    """Store a batch; reply with the sequences the gateway may delete from its outbox. 429 while the same
    gateway has another upload in flight; 408 when the body does not arrive in time."""
    started = time.perf_counter()
    uploads: UploadSlots = request.app.state.uploads
    loop = asyncio.get_running_loop()
    # The order bounds what one credential can hold: authenticated (a connection for the look-up alone), one
    # upload per gateway, the body read against its deadline and checked with no connection held, and only
    # then a place in the process's ingest writers' queue (cloud/ingest/writer.py), which hold the connections.
    with uploads.hold(gateway.id, loop.time(), request.state.body_deadline):
        body = await read_json(request)
        uploads.body_read(gateway.id, loop.time())
        if not isinstance(body, dict) or not isinstance(body.get("observations"), list):
            raise HTTPException(422, "The body must be an object with `epoch` and an `observations` list.")
        try:
            epoch = UUID(str(body.get("epoch")))
        except ValueError:
            raise HTTPException(422, "`epoch` must be a UUID.") from None
        items = body["observations"]
        if len(items) > MAX_READINGS:
            raise HTTPException(413, f"At most {MAX_READINGS} readings per batch.")
        stored_at = datetime.now(UTC)
        readings, rejections, repeats = _split(items, stored_at)
        # A database failure propagates to the application's 503 handler: nothing is acknowledged.
        # The credential is checked again in the group's transaction: the check before the body is remembered.
        digest: bytes = request.state.credential_digest
        upload = Upload(
            gateway_id=gateway.id,
            municipality_id=gateway.municipality_id,
            epoch=epoch,
            readings=readings,
            rejections=rejections,
            credential_digest=digest,
            quota=quota_of(request.app.state.settings),
        )
        try:
            outcome = await request.app.state.ingest_writer.store(upload)
        except CredentialRefused:
            _TRUSTED.forget(digest)
            raise HTTPException(401, _REFUSED, {"WWW-Authenticate": "Bearer"}) from None
    outcome.duplicates += repeats
    telemetry.BATCH_SECONDS.observe(time.perf_counter() - started)
    for name, count in (("stored", outcome.stored), ("duplicate", outcome.duplicates), ("resent", outcome.resent)):
        if count:
            _OUTCOMES[name].inc(count)
    for reason, count in outcome.quarantined.items():
        telemetry.QUARANTINED.labels(reason).inc(count)
        _OUTCOMES["quarantined"].inc(count)
    # Encoded here, not validated against `IngestResult` by FastAPI (which documents it): these are plain ints.
    answer = {
        "committed": outcome.committed,
        "stored": outcome.stored,
        "duplicates": outcome.duplicates,
        "resent": outcome.resent,
        "quarantined": dict(outcome.quarantined),
    }
    return Response(orjson.dumps(answer), media_type="application/json")
