"""SMS delivery receipts: verified, then applied to the notification they are about.

The gateway POSTs `{"id": <idempotency key>, "status": "delivered"|"failed", "detail": "..."}` signed with
the SMS endpoint's secret (`X-Tryggheim-Timestamp`, `X-Tryggheim-Signature`, as the webhook channel signs;
the timestamp keeps a captured receipt from being replayed later). A receipt that does not verify, or names
no SMS notification (the two are not told apart, so nobody can probe for keys), is refused and audited. A
malformed receipt is refused before anything is read or written. `delivered` records when the message
reached the phone (once); `failed` counts as a failed attempt: retried with back-off under the same key,
dead-lettered after the last (cloud/escalation/outbox.py). A repeated receipt changes nothing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID, uuid4

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cloud.access import audit
from cloud.escalation.outbox import OutboxSettings, failed_attempt
from cloud.notify.sealing import SealError
from cloud.notify.webhook import verify

log = logging.getLogger(__name__)
ACTION = "notify.sms_receipt"


class ReceiptError(Exception):
    """A refused receipt: `status` is the HTTP status to answer (400 malformed, 401 not verified)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ReceiptBody(BaseModel):
    """What a gateway says about one message."""

    model_config = ConfigDict(extra="ignore")
    id: UUID
    status: Literal["delivered", "failed"]
    detail: str = Field(default="", max_length=500)


@dataclass(frozen=True)
class Applied:
    """What the receipt did: `delivered`, `retry`, `dead` or `duplicate`."""

    notification_id: int
    result: str


def parse(body: bytes) -> ReceiptBody:
    """The receipt, or ReceiptError(400) naming what is wrong."""
    try:
        return ReceiptBody.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        raise ReceiptError(400, f"malformed receipt: {str(exc).splitlines()[0][:200]}") from None


_FIND = (
    "SELECT n.id, n.status, n.attempts, n.delivered_at, p.municipality_id, e.secret FROM notifications n "
    "JOIN alerts a ON a.id = n.alert_id JOIN patients p ON p.id = a.patient_id "
    "LEFT JOIN notification_endpoints e ON e.municipality_id = p.municipality_id AND e.target = n.target "
    "AND e.channel = n.channel WHERE n.idempotency_key = %s AND n.channel = 'sms' FOR UPDATE OF n"
)


async def apply(
    conn: AsyncConnection[Any], body: bytes, headers: dict[str, str], now: float, settings: OutboxSettings,
    correlation_id: str | None = None,
) -> Applied:  # fmt: skip
    """Verify and apply one receipt in the caller's transaction; raises ReceiptError when refused."""
    receipt = parse(body)
    cur = conn.cursor(row_factory=dict_row)
    row = await (await cur.execute(_FIND, (receipt.id,))).fetchone()
    try:
        secret = settings.box.open(row["secret"]) if row else None
    except SealError:
        secret = None
    if row is None or not secret or not verify(secret, headers, body, now=now):
        await _refused(conn, row["municipality_id"] if row else None, correlation_id)
        raise ReceiptError(401, "the receipt's signature is not valid")
    nid, at = row["id"], datetime.fromtimestamp(now, UTC)
    if row["status"] != "sent" or row["delivered_at"] is not None:
        return Applied(nid, "duplicate")
    if receipt.status == "delivered":
        await conn.execute(
            "UPDATE notifications SET delivered_at = %s, receipt = coalesce(receipt, '{}') || %s WHERE id = %s",
            (at, Jsonb({"delivery": {"status": "delivered", "at": at.isoformat(), "detail": receipt.detail}}), nid),
        )
        await conn.execute(
            "INSERT INTO notification_attempts (notification_id, at, ok, detail, process) VALUES (%s, %s, true, "
            "%s, %s)",
            (nid, at, f"delivered to the phone (gateway receipt) {receipt.detail}".strip(), settings.process),
        )
        return Applied(nid, "delivered")
    detail = f"sms: the gateway's receipt says not delivered: {receipt.detail or 'no reason given'}"
    outcome = await failed_attempt(conn, nid, row["attempts"], now, detail, "sms", settings)
    return Applied(nid, "dead" if outcome.status == "dead" else "retry")


async def _refused(conn: AsyncConnection[Any], municipality_id: UUID | None, correlation_id: str | None) -> None:
    """Log and audit a refused receipt in the caller's transaction (the caller commits it, then answers 401)."""
    log.warning("sms receipt refused: signature not valid", extra={"municipality_id": str(municipality_id)})
    await audit.append(conn, audit.AuditRecord(
        municipality_id=municipality_id, principal_kind="anonymous", principal_id=None, role=None, action=ACTION,
        resource="POST /api/v1/notify/sms/receipts", outcome="denied", correlation_id=correlation_id or str(uuid4()),
        reason="signature not valid",
    ))  # fmt: skip
