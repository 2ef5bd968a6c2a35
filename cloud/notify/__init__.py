"""Notification channels behind one small interface: a `Message` goes in, a `Receipt` comes out, or
`DeliveryError` says why not (the outbox then retries with back-off).

One sub-package per channel: `in_app` (the worklist and its live push), `webhook` (signed JSON over HTTP),
`email` (SMTP), `sms` (an HTTP SMS gateway, with signed delivery receipts). A message carries no name,
identity number or measured value: only the category, the severity and a link into the app (Normen: open
networks; docs/architecture.md, "Decisions and why").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class DeliveryError(Exception):
    """A delivery attempt failed; the message says why (kept on the notification as `last_error`)."""


@dataclass(frozen=True)
class Message:
    """What one notification says, and where it goes. `idempotency_key` is the same on every attempt."""

    idempotency_key: str
    alert_id: int
    step: int
    kind: str  # "step" or "renotify"
    category: str  # the event class: alarm, clinical, liveness, data_quality, internal
    severity: str
    link: str
    address: str  # an e-mail address or a webhook URL
    secret: str | None = None  # the webhook's signing secret
    # The rule's title as the protocol names it (English source text, "Alarm button pressed"): what kind of
    # alert, never whose or which value. Channels for people translate it; machines get the category.
    title: str | None = None
    # Per-endpoint channel settings (an SMS gateway's URL, body format and template): cloud/notify/sms.
    options: dict[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        """The JSON-safe content every channel sends: nothing that identifies the patient."""
        return {
            "id": self.idempotency_key,
            "alert_id": self.alert_id,
            "step": self.step,
            "kind": self.kind,
            "category": self.category,
            "severity": self.severity,
            "link": self.link,
        }


@dataclass(frozen=True)
class Receipt:
    """Proof of delivery as the receiving side answered it."""

    detail: str
    data: dict[str, Any] = field(default_factory=dict)


class Channel(Protocol):
    """A way to reach a person or a system."""

    name: str

    async def send(self, message: Message) -> Receipt:
        """Deliver the message once, or raise DeliveryError."""
        ...
