"""Channel callbacks and limits: the SMS gateway's delivery receipts (public, verified by signature) and the
municipality's rate-limit windows (cloud/escalation/ratelimit.py)."""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from cloud.access.policy import Public, staff_only
from cloud.access.principal import Principal
from cloud.access.roles import Role
from cloud.escalation import ratelimit, receipts
from cloud.escalation.outbox import OutboxSettings
from cloud.notify.sealing import SecretBox
from cloud.notify.sms import RECEIPT_PATH
from cloud.requests import Conn, correlation_id

router = APIRouter(tags=["notifications"])
MAX_RECEIPT_BYTES = 8192


class ReceiptOut(BaseModel):
    """What the receipt did to the notification: delivered, retry, dead or duplicate."""

    notification_id: int
    result: str


class RateWindow(BaseModel):
    """One channel's window: messages sent, non-alarm messages suppressed, alarms sent over the limit."""

    channel: str
    window_start: datetime
    sent: int
    suppressed: int
    alarm_excess: int
    tripped_at: datetime | None
    noticed_at: datetime | None


@router.post(RECEIPT_PATH, dependencies=[Public], responses={400: {}, 401: {}, 413: {}})
async def sms_receipt(request: Request, conn: Conn) -> ReceiptOut:
    """A delivery receipt from the SMS gateway, signed with the endpoint's secret (see cloud/notify/sms)."""
    body = await request.body()
    if len(body) > MAX_RECEIPT_BYTES:
        raise HTTPException(413, "receipt too large")
    settings = request.app.state.settings
    outbox = OutboxSettings(
        max_attempts=settings.notify_max_attempts, backoff_s=settings.notify_backoff_s,
        public_url=settings.public_url, process=f"{socket.gethostname()}:{os.getpid()}",
        box=SecretBox(settings.secrets_key.get_secret_value() if settings.secrets_key else None),
    )  # fmt: skip
    refused: receipts.ReceiptError | None = None
    async with conn.transaction():  # a refusal's audit record commits; the refusal is answered after
        try:
            applied = await receipts.apply(conn, body, dict(request.headers), time.time(), outbox,
                                           correlation_id(request))  # fmt: skip
        except receipts.ReceiptError as exc:
            refused = exc
    if refused is not None:
        raise HTTPException(refused.status, str(refused))
    return ReceiptOut(notification_id=applied.notification_id, result=applied.result)


@router.get("/api/v1/notifications/rate-limits")
async def rate_limits(
    conn: Conn,
    principal: Annotated[Principal, staff_only(Role.MUNICIPALITY_ADMIN, Role.TEAM_LEAD, Role.RESPONSE_CENTRE)],
) -> list[RateWindow]:
    """The caller's municipality's latest rate-limit windows, newest first."""
    return [RateWindow(**row) for row in await ratelimit.windows(conn, principal.municipality_id)]
