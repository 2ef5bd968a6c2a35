"""SMS channel: a generic HTTP SMS-gateway adapter, configured per endpoint, with signed delivery receipts.

Norwegian gateways (LINK Mobility, Intelecom, Sveve and others) take a JSON or a form POST with the number,
the text and a reference. An SMS endpoint's `options` say which: `url`, `format` (`json` or `form`),
`fields` (the gateway's field names, each a template over `{to}`, `{text}`, `{id}` and `{receipt_url}`)
and optionally `credentials_env`, the name of an environment variable holding the gateway's token, sent as
`Authorization: Bearer` (credentials never sit in the database). The request is also signed like a webhook
(`X-Tryggheim-Signature` over the timestamp and body) with the endpoint's secret.

The text is the e-mail's subject line and the link: severity and kind of alert, never a name or a value.
The gateway must answer 2xx with a JSON object; anything else is a failed attempt, retried with the same
reference (`{id}`, the idempotency key), so a gateway that did accept it drops the duplicate.

Receipts: the gateway (or an adapter in front of it) POSTs `{"id": <idempotency key>, "status":
"delivered"|"failed", "detail": "..."}` to `/api/v1/notify/sms/receipts`, signed with the same secret and
headers as the webhook channel; `cloud/escalation/receipts.py` verifies and applies it.
"""

from __future__ import annotations

import json
import os
import time
from string import Formatter
from typing import Any
from urllib.parse import urlencode

import httpx

from cloud.notify import DeliveryError, Message, Receipt
from cloud.notify.email import headline
from cloud.notify.webhook import KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature

RECEIPT_PATH = "/api/v1/notify/sms/receipts"
PLACEHOLDERS = frozenset({"to", "text", "id", "receipt_url"})
DEFAULT_FIELDS = {"to": "{to}", "text": "{text}", "ref": "{id}", "callback": "{receipt_url}"}
MAX_TEXT = 306  # two concatenated SMS segments


def check_options(options: dict[str, Any]) -> str | None:
    """Why `options` cannot configure a gateway (None when they can)."""
    if set(options) - {"url", "format", "fields", "credentials_env"}:
        return f"unknown option(s): {', '.join(sorted(set(options) - {'url', 'format', 'fields', 'credentials_env'}))}"
    if not isinstance(options.get("url"), str):
        return "options.url (the gateway's URL) is required"
    if options.get("format", "json") not in {"json", "form"}:
        return "options.format must be json or form"
    fields = options.get("fields", DEFAULT_FIELDS)
    if not isinstance(fields, dict) or not fields or not all(isinstance(v, str) for v in fields.values()):
        return "options.fields must map the gateway's field names to text templates"
    for name, template in fields.items():
        try:
            used = {f for _, f, _, _ in Formatter().parse(template) if f is not None}
        except ValueError:
            return f"options.fields.{name}: unbalanced braces"
        if used - PLACEHOLDERS:
            return f"options.fields.{name}: unknown placeholder(s) {sorted(used - PLACEHOLDERS)}"
    env = options.get("credentials_env")
    if env is not None and not (isinstance(env, str) and env.isidentifier()):
        return "options.credentials_env must name an environment variable"
    return None


def text(message: Message) -> str:
    """The SMS text: severity and kind of alert in bokmål, then the link."""
    return f"{headline(message)}\n{message.link}"[:MAX_TEXT]


def render(message: Message, options: dict[str, Any], receipt_url: str) -> tuple[bytes, str]:
    """The request body and its content type for the gateway."""
    values = {"to": message.address, "text": text(message), "id": message.idempotency_key, "receipt_url": receipt_url}
    fields = {name: template.format(**values) for name, template in options.get("fields", DEFAULT_FIELDS).items()}
    if options.get("format", "json") == "form":
        return urlencode(fields).encode(), "application/x-www-form-urlencoded"
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode(), "application/json"


class SmsChannel:
    """POST to the endpoint's gateway; a 2xx answer with a JSON object is an accepted message."""

    name = "sms"

    def __init__(self, client: httpx.AsyncClient, public_url: str) -> None:
        self.client = client
        self.receipt_url = public_url.rstrip("/") + RECEIPT_PATH

    async def send(self, message: Message) -> Receipt:
        """Hand the message to the gateway once; raise DeliveryError when it is not accepted."""
        options = message.options or {}
        problem = check_options(options)
        if problem or not message.secret:
            raise DeliveryError(f"sms: the endpoint is misconfigured: {problem or 'no secret'}")
        body, content_type = render(message, options, self.receipt_url)
        stamp = str(int(time.time()))
        headers = {"Content-Type": content_type, KEY_HEADER: message.idempotency_key, TIMESTAMP_HEADER: stamp,
                   SIGNATURE_HEADER: signature(message.secret, stamp, body)}  # fmt: skip
        if env := options.get("credentials_env"):
            token = os.environ.get(env)
            if not token:
                raise DeliveryError(f"sms: the environment variable {env} with the gateway's token is not set")
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = await self.client.post(options["url"], content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"sms: {type(exc).__name__}: {exc}"[:500]) from exc
        if not response.is_success:
            raise DeliveryError(f"sms: HTTP {response.status_code} {response.text[:200]}")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise DeliveryError(f"sms: the gateway's answer is not a JSON object: {response.text[:120]!r}")
        return Receipt(f"HTTP {response.status_code}, accepted by the gateway", {"status": response.status_code,
                                                                                 "gateway": answer})  # fmt: skip
