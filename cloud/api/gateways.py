"""Gateway endpoints: enrolment by code, credential rotation, heartbeat/status, configuration, device
proposals."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from cloud.access.policy import Public, gateway_only
from cloud.gateways import credentials, reports
from cloud.gateways.credentials import GatewayPrincipal
from cloud.gateways.heartbeat import SKEW_FLAG_S
from cloud.gateways.reports import StatusReport
from cloud.requests import GatewayConn
from device_profiles.device_catalogue import load_devices

router = APIRouter(prefix="/api/v1/gateways", tags=["gateways"])
_DEVICES = load_devices()
Gateway = Annotated[GatewayPrincipal, gateway_only()]


class EnrolRequest(BaseModel):
    """The code from the installer's screen or QR code."""

    code: str = Field(min_length=4, max_length=40)


class Enrolled(BaseModel):
    """Store `credential` in a 0600 file; it is shown only this once."""

    gateway_id: UUID
    credential: str


class StatusReply(BaseModel):
    """The cloud's view of the gateway's clock."""

    clock_skew_s: float
    clock_flagged: bool


PARTLY = (
    "The heartbeat was recorded without the device figures named in `detail` (`recorded: true`); the body "
    "also carries `clock_skew_s` and `clock_flagged`."
)


class DeviceProposal(BaseModel):
    """A device the gateway discovered and believes it should listen to."""

    address: str = Field(min_length=1, max_length=200)
    profile_id: str = Field(min_length=1, max_length=200)
    details: dict[str, Any] = Field(default_factory=dict)


WAITING = "The code waits for the installer's confirmation of the home; ask again in a few seconds."


@router.post("/enrol", dependencies=[Public], status_code=201, responses={400: {}, 409: {}, 429: {}})
async def enrol(body: EnrolRequest, request: Request, conn: GatewayConn) -> Enrolled:
    """Exchange a single-use enrolment code for this gateway's own credential. A code made on the pages works
    only once an installer has confirmed the home on site: until then the answer is 409 (ask again; it does
    not count as a wrong code)."""
    client = request.client.host if request.client else "unknown"
    try:
        gateway_id, credential = await credentials.enrol(conn, body.code, client)
    except credentials.EnrolmentThrottled:
        raise HTTPException(429, "Too many wrong codes; wait 15 minutes.") from None
    except credentials.EnrolmentError as exc:
        raise HTTPException(400, str(exc)) from None
    except credentials.EnrolmentPending:
        raise HTTPException(409, WAITING, {"Retry-After": "3"}) from None
    return Enrolled(gateway_id=gateway_id, credential=credential)


@router.post("/{gateway_id}/credential", status_code=201)
async def rotate_credential(gateway_id: UUID, conn: GatewayConn, gateway: Gateway) -> dict[str, str]:
    """A new credential; the current one keeps working for 24 hours."""
    return {"credential": await credentials.rotate(conn, gateway.id)}


@router.post("/{gateway_id}/status", response_model=StatusReply, responses={422: {"description": PARTLY}})
async def report_status(gateway_id: UUID, body: StatusReport, conn: GatewayConn, gateway: Gateway) -> Response:
    """Heartbeat: liveness, outbox, devices' health. Records the gateway's clock skew. A bad device figure is
    left out and named in a 422 whose body says the rest was recorded."""
    skew = await reports.record_heartbeat(conn, gateway.id, now=datetime.now(UTC), heartbeat=body)
    reply = StatusReply(clock_skew_s=round(skew, 3), clock_flagged=abs(skew) > SKEW_FLAG_S)
    if body.refused:
        refused = [r.model_dump() for r in body.refused]
        return JSONResponse({"detail": refused, "recorded": True, **reply.model_dump()}, status_code=422)
    return JSONResponse(reply.model_dump())


@router.get("/{gateway_id}/config", responses={304: {}})
async def config(
    gateway_id: UUID,
    response: Response,
    conn: GatewayConn,
    gateway: Gateway,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Any:
    """Devices to listen to and the heartbeat interval; ETag lets an unchanged config cost one line."""
    body = await reports.config_of(conn, gateway.id)
    etag = '"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32] + '"'
    if if_none_match == etag:
        return Response(status_code=304, headers={"ETag": etag})
    response.headers["ETag"] = etag
    return body


@router.post("/{gateway_id}/devices", status_code=202, responses={422: {}})
async def propose_device(gateway_id: UUID, body: DeviceProposal, conn: GatewayConn, gateway: Gateway) -> dict[str, int]:
    """Propose a discovered device; it becomes active when an installer confirms it."""
    if body.profile_id not in _DEVICES:
        raise HTTPException(422, f"{body.profile_id!r} is not in the device catalogue.")
    proposal_id = await reports.propose_device(
        conn, gateway.id, address=body.address, profile_id=body.profile_id, details=body.details
    )
    return {"proposal_id": proposal_id}
