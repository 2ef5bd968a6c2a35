"""The FHIR R4 read API under `/fhir` (application/fhir+json): `metadata`, and read and search of Patient,
Observation, Device, QuestionnaireResponse and DetectedIssue (docs/interop.md, "FHIR read API and export").

Every route declares one access policy like the rest of the API: reads by id check and audit the patient the
resource belongs to (another municipality's answers 404, recorded in both chains), searches naming a `patient`
do the same for that patient, searches without one are scoped to the caller's patients. Search parameters are
parsed strictly (`cloud.interop.fhir.search`); every 4xx on these routes is an OperationOutcome (`outcomes`).

`GET /api/v1/patients/{id}/export?format=fhir-ndjson`: the patient's whole record (the right of access), audited
as `patient.export`, streamed as application/fhir+ndjson.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException

from cloud.access.policy import (
    PatientGrant,
    PatientScopeFilter,
    Public,
    alert_access,
    patient_access,
    patient_query,
    patient_search,
    resource_patient,
)
from cloud.interop.fhir import search, service
from cloud.interop.fhir.capability import capability_statement
from cloud.interop.fhir.outcome import for_status
from cloud.requests import Conn
from common.i18n import N_

router = APIRouter(prefix="/fhir", tags=["fhir"])
RowId = Annotated[str, Path(examples=["1"])]  # a row id (Observation, QuestionnaireResponse); FHIR's name
DeviceId = Annotated[str, Path(examples=["00000000-0000-4000-8000-000000000000"])]
MEDIA_TYPE = "application/fhir+json"
PREFIX = "/fhir"
Found = Callable[[], Awaitable[dict[str, Any]]]


class FhirResponse(JSONResponse):
    """A FHIR JSON answer."""

    media_type = MEDIA_TYPE


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


async def _read(found: Found) -> FhirResponse:
    try:
        return FhirResponse(await found())
    except service.NotFoundError as missing:
        raise HTTPException(404, str(missing) or "No such resource.") from None


async def _search(
    request: Request, conn: Conn, resource: str, scope: PatientGrant | PatientScopeFilter, run: Any
) -> FhirResponse:
    items = list(request.query_params.multi_items())
    try:
        parsed = search.parse(resource, items)
    except search.SearchError as bad:
        raise HTTPException(400, str(bad)) from None
    patients = await service.visible_patients(conn, scope)
    return FhirResponse(await run(conn, patients, parsed, service.Bundler(_base(request), resource, items, parsed)))


@router.get("/metadata", dependencies=[Public], response_class=FhirResponse)
async def metadata(request: Request) -> FhirResponse:
    """The CapabilityStatement."""
    return FhirResponse(capability_statement(_base(request), datetime.now(UTC).date().isoformat()))


@router.get("/Patient", response_class=FhirResponse)
async def search_patients(
    request: Request, conn: Conn, scope: Annotated[PatientScopeFilter, patient_search("fhir.patient.search")]
) -> FhirResponse:
    """Patients the caller may see, by `identifier` or `_id`."""
    return await _search(request, conn, "Patient", scope, service.search_patients)


@router.get("/Patient/{patient_id}", response_class=FhirResponse)
async def read_patient(
    conn: Conn, patient_id: UUID, grant: Annotated[PatientGrant, patient_access("fhir.patient.read")]
) -> FhirResponse:
    """One Patient."""
    return await _read(lambda: service.read_patient(conn, grant.patient_id))


@router.get("/Observation", response_class=FhirResponse)
async def search_observations(
    request: Request, conn: Conn, scope: Annotated[Any, patient_query("fhir.observation.search")]
) -> FhirResponse:
    """Observations by `patient`, `code` and `date`."""
    return await _search(request, conn, "Observation", scope, service.search_observations)


@router.get("/Observation/{id}", response_class=FhirResponse)
async def read_observation(
    conn: Conn, id: RowId,
    grant: Annotated[PatientGrant, resource_patient("fhir.observation.read", service.observation_patient,
                                                    N_("No such observation."))],
) -> FhirResponse:  # fmt: skip
    """One Observation."""
    return await _read(lambda: service.read_observation(conn, int(id)))


@router.get("/Device", response_class=FhirResponse)
async def search_devices(
    request: Request, conn: Conn, scope: Annotated[Any, patient_query("fhir.device.search")]
) -> FhirResponse:
    """Devices (and their gateways) by `patient`."""
    return await _search(request, conn, "Device", scope, service.search_devices)


@router.get("/Device/{id}", response_class=FhirResponse)
async def read_device(
    conn: Conn, id: DeviceId,
    grant: Annotated[PatientGrant, resource_patient("fhir.device.read", service.device_patient, N_("No such device."))],
) -> FhirResponse:  # fmt: skip
    """One Device."""
    return await _read(lambda: service.read_device(conn, UUID(id)))


@router.get("/QuestionnaireResponse", response_class=FhirResponse)
async def search_responses(
    request: Request, conn: Conn, scope: Annotated[Any, patient_query("fhir.questionnaire_response.search")]
) -> FhirResponse:
    """The patients' own answers by `patient`."""
    return await _search(request, conn, "QuestionnaireResponse", scope, service.search_responses)


@router.get("/QuestionnaireResponse/{id}", response_class=FhirResponse)
async def read_response(
    conn: Conn, id: RowId,
    grant: Annotated[PatientGrant, resource_patient("fhir.questionnaire_response.read", service.response_patient,
                                                    N_("No such questionnaire response."))],
) -> FhirResponse:  # fmt: skip
    """One QuestionnaireResponse."""
    return await _read(lambda: service.read_response(conn, int(id)))


@router.get("/DetectedIssue", response_class=FhirResponse)
async def search_detected_issues(
    request: Request, conn: Conn, scope: Annotated[Any, patient_query("fhir.detected_issue.search")]
) -> FhirResponse:
    """Alerts and episodes by `patient`."""
    return await _search(request, conn, "DetectedIssue", scope, service.search_detected_issues)


@router.get("/DetectedIssue/{alert_id}", response_class=FhirResponse)
async def read_detected_issue(
    conn: Conn, alert_id: int, grant: Annotated[PatientGrant, alert_access("fhir.detected_issue.read")]
) -> FhirResponse:
    """One DetectedIssue."""
    return await _read(lambda: service.read_detected_issue(conn, alert_id))


def outcomes(
    handler: Callable[[Request, Exception], Awaitable[Response]],
) -> Callable[[Request, Exception], Awaitable[Response]]:
    """An exception handler answering an OperationOutcome on `/fhir` routes and `handler`'s answer elsewhere."""

    async def answer(request: Request, exc: Exception) -> Response:
        if request.url.path != PREFIX and not request.url.path.startswith(PREFIX + "/"):
            return await handler(request, exc)
        if isinstance(exc, RequestValidationError):
            return FhirResponse(for_status(400, "the request's parameters are not valid"), status_code=400)
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = str(exc.detail) if isinstance(exc, HTTPException) else "internal error"
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        return FhirResponse(for_status(status, detail), status_code=status, headers=headers)

    return answer


export_router = APIRouter(prefix="/api/v1", tags=["fhir"])
NDJSON = "application/fhir+ndjson"


@export_router.get(
    "/patients/{patient_id}/export",
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {}}}, 404: {}},
)
async def export_patient(
    request: Request,
    patient_id: UUID,
    grant: Annotated[PatientGrant, patient_access("patient.export")],
    format: Annotated[Literal["fhir-ndjson"], Query(examples=["fhir-ndjson"])],
) -> StreamingResponse:
    """The patient's whole record (the right of access) as FHIR NDJSON, one resource per line: the Patient, their
    Devices, every Observation, QuestionnaireResponse and DetectedIssue; streamed on a connection of its own."""
    lines = service.export_lines(request.app.state.pool, grant.patient_id)
    name = f"patient-{grant.patient_id}.ndjson"
    return StreamingResponse(
        lines, media_type=NDJSON, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
