"""Requests to measure again: the open ones of a patient (for staff) and of the patients a gateway serves
(for the gateway's screen, which may show "measure again").

Detection asks for a new measurement when the device flagged a reading as doubtful, and judges the reading
itself when none has come by `wait_until` (docs/detection.md, "Doubtful readings").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter

from cloud.access.policy import PatientGrant, gateway_only, patient_access
from cloud.evaluation import remeasure
from cloud.gateways.credentials import GatewayPrincipal
from cloud.requests import Conn, GatewayConn

router = APIRouter(prefix="/api/v1", tags=["remeasure"])

OpenRequest = remeasure.OpenRequest


@router.get("/patients/{patient_id}/remeasure-requests")
async def patient_requests(
    patient_id: UUID, conn: Conn, grant: Annotated[PatientGrant, patient_access("remeasure.read")]
) -> list[OpenRequest]:
    """The patient's open requests to measure again (asked, no newer reading of the metric yet, at most a day
    old), oldest first."""
    return await remeasure.open_requests(conn, [grant.patient_id], datetime.now(UTC))


@router.get("/gateways/{gateway_id}/remeasure-requests")
async def gateway_requests(
    gateway_id: UUID, conn: GatewayConn, gateway: Annotated[GatewayPrincipal, gateway_only()]
) -> list[OpenRequest]:
    """The open requests of the patients this gateway serves now, oldest first (only the gateway itself)."""
    return await remeasure.of_gateway(conn, gateway.id, datetime.now(UTC))
