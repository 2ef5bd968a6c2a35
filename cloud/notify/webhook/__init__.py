"""Webhook channel: the message as JSON, signed with HMAC-SHA256 over the timestamp and the body.

Headers: `X-Tryggheim-Idempotency-Key` (the same on every retry: receivers drop duplicates),
`X-Tryggheim-Timestamp` (Unix seconds) and `X-Tryggheim-Signature: sha256=<hex>` of `"<timestamp>.<body>"`.
A receiver verifies the signature with the shared secret and rejects timestamps older than a few minutes, so
a captured request cannot be replayed later. `verify` is the receiver's side, used by tests and documented
for integrators.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx

from cloud.notify import DeliveryError, Message, Receipt

KEY_HEADER = "X-Tryggheim-Idempotency-Key"
TIMESTAMP_HEADER = "X-Tryggheim-Timestamp"
SIGNATURE_HEADER = "X-Tryggheim-Signature"
REPLAY_WINDOW_S = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>." + body)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, headers: dict[str, str], body: bytes, now: float | None = None) -> bool:
    """The receiver's check: a valid signature over a timestamp within the replay window."""
    lower = {k.lower(): v for k, v in headers.items()}
    stamp = lower.get(TIMESTAMP_HEADER.lower(), "")
    sent = lower.get(SIGNATURE_HEADER.lower(), "")
    try:
        age = abs((time.time() if now is None else now) - int(stamp))
    except ValueError:
        return False
    return age <= REPLAY_WINDOW_S and hmac.compare_digest(sent, signature(secret, stamp, body))


class WebhookChannel:
    """POST the signed message; any 2xx answer is a delivery, anything else a failure to retry."""

    name = "webhook"

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, message: Message) -> Receipt:
        """Deliver once; raise DeliveryError on a non-2xx answer or a transport error."""
        if not message.secret:
            raise DeliveryError("the webhook endpoint has no signing secret")
        body = json.dumps(message.body(), separators=(",", ":")).encode()
        return await post_signed(self.client, message.address, message.secret, message.idempotency_key, body)


async def post_signed(
    client: httpx.AsyncClient, url: str, secret: str, idempotency_key: str, body: bytes,
    content_type: str = "application/json",
) -> Receipt:  # fmt: skip
    """POST `body` once with the idempotency key, timestamp and signature headers; any 2xx answer is a
    delivery, anything else raises DeliveryError. Also sends the audit checkpoints (cloud/access/anchor_runner.py)."""
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": content_type,
        KEY_HEADER: idempotency_key,
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: signature(secret, stamp, body),
    }
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"webhook: {type(exc).__name__}: {exc}"[:500]) from exc
    if not response.is_success:
        raise DeliveryError(f"webhook: HTTP {response.status_code} {response.text[:200]}")
    return Receipt(f"HTTP {response.status_code}", {"status": response.status_code})
