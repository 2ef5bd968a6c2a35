"""A municipality's escalation settings: its policy document and where each named role is reached.

Both are validated before they are stored, with a message that names what is wrong; an alert keeps the copy
of the policy it opened with, so a change applies to alerts opened afterwards.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from alerts.escalation import PolicyDocument, default_policies, parse_policies
from cloud.notify.sealing import SecretBox
from cloud.notify.sms import check_options

Channel = Literal["email", "webhook", "sms"]
_TARGET = re.compile(r"^[a-z][a-z0-9_]*$")
# Deliberately loose (the SMTP server is the judge of deliverability); catches a pasted name or URL.
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>.]+$")
_PHONE = re.compile(r"^\+?[0-9]{8,15}$")
MIN_SECRET = 16


class EndpointError(ValueError):
    """An endpoint that cannot be stored; the message says why and `field` names what is at fault (`target`,
    `channel`, `address`, `secret` or `options`)."""

    def __init__(self, message: str, field: str = "address") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Endpoint:
    """Where a role is reached; the signing secret itself is never listed."""

    target: str
    channel: Channel
    address: str
    has_secret: bool
    options: dict[str, Any] | None = None


async def set_policy(conn: AsyncConnection[Any], municipality_id: UUID, document: Any, by: UUID) -> PolicyDocument:
    """Validate and store the municipality's policy document (PolicyError names the failing field)."""
    parsed = parse_policies(document, "policy")
    await conn.execute(
        "INSERT INTO escalation_policies (municipality_id, document, updated_by) VALUES (%s, %s, %s) "
        "ON CONFLICT (municipality_id) DO UPDATE SET document = EXCLUDED.document, "
        "updated_by = EXCLUDED.updated_by, updated_at = now()",
        (municipality_id, Jsonb(parsed.model_dump(mode="json")), by),
    )
    return parsed


async def reset_policy(conn: AsyncConnection[Any], municipality_id: UUID) -> bool:
    """Drop the municipality's own document (the shipped default applies again); False if it had none."""
    result = await conn.execute("DELETE FROM escalation_policies WHERE municipality_id = %s", (municipality_id,))
    return result.rowcount == 1


async def policy_in_effect(conn: AsyncConnection[Any], municipality_id: UUID) -> tuple[PolicyDocument, bool]:
    """The document new alerts follow, and whether it is the municipality's own (else the shipped default)."""
    row = await (
        await conn.execute("SELECT document FROM escalation_policies WHERE municipality_id = %s", (municipality_id,))
    ).fetchone()
    if row is None:
        return default_policies(), False
    return parse_policies(row[0], f"municipality {municipality_id}"), True


def unreached(document: PolicyDocument, endpoints: list[Endpoint]) -> list[str]:
    """`channel:target` pairs the document sends to without an endpoint (such steps would dead-letter)."""
    known = {(e.channel, e.target) for e in endpoints}
    wanted = {(step.channel, step.target) for policy in document.policies for step in policy.steps}
    wanted |= {(policy.renotify.channel, policy.renotify.target) for policy in document.policies}
    return sorted(f"{channel}:{target}" for channel, target in wanted - known if channel != "in_app")


def _check_address(channel: Channel, address: str) -> None:
    if channel == "email":
        if not _EMAIL.match(address):
            raise EndpointError(f"{address[:100]!r} is not an e-mail address")
        return
    if channel == "sms":
        if not _PHONE.match(address):
            raise EndpointError(f"{address[:100]!r} is not a phone number (8 to 15 digits, + first if international)")
        return
    url = urlsplit(address)
    if url.scheme not in {"https", "http"} or not url.hostname:
        raise EndpointError(f"{address[:100]!r} is not an http(s) URL")
    if url.scheme == "http" and not _loopback(url.hostname):
        # Alerts carry health information: in clear text only to a receiver on this machine.
        raise EndpointError("a webhook must use https (http only to a receiver on this machine)")


def _check_options(channel: Channel, options: dict[str, Any] | None) -> None:
    if channel != "sms":
        if options is not None:
            raise EndpointError(f"a {channel} endpoint has no options", "options")
        return
    if options is None:
        raise EndpointError("an SMS endpoint needs options: at least url, its gateway's address", "options")
    if problem := check_options(options):
        raise EndpointError(problem, "options")
    _check_address("webhook", str(options["url"]))


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def set_endpoint(
    conn: AsyncConnection[Any],
    municipality_id: UUID,
    *,
    target: str,
    channel: Channel,
    address: str,
    secret: str | None = None,
    box: SecretBox | None = None,
    options: dict[str, Any] | None = None,
) -> str | None:
    """Store where `target` is reached on `channel` (replacing what was there). A webhook or SMS endpoint gets
    `secret`, or a new random one when none is given, stored sealed by `box` when it has a key; the secret is
    returned so that it can be handed to the receiver once. An SMS endpoint needs its gateway's `options`."""
    if not _TARGET.match(target):
        raise EndpointError(f"{target[:60]!r} is not a role name (lower-case letters, digits, underscores)", "target")
    if channel not in {"email", "webhook", "sms"}:
        raise EndpointError(f"{channel!r} is not a channel (email, webhook or sms)", "channel")
    if not 3 <= len(address) <= 2000:
        raise EndpointError("the address must be 3 to 2,000 characters")
    _check_address(channel, address)
    _check_options(channel, options)
    if channel == "email":
        if secret is not None:
            raise EndpointError("an e-mail endpoint has no secret", "secret")
    elif secret is None:
        secret = secrets.token_urlsafe(32)
    elif len(secret) < MIN_SECRET:
        raise EndpointError(f"a {channel} secret needs at least {MIN_SECRET} characters", "secret")
    await conn.execute(
        "INSERT INTO notification_endpoints (municipality_id, target, channel, address, secret, options) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (municipality_id, target, channel) "
        "DO UPDATE SET address = EXCLUDED.address, secret = EXCLUDED.secret, options = EXCLUDED.options",
        (municipality_id, target, channel, address, box.seal(secret) if box and secret else secret,
         Jsonb(options) if options is not None else None),
    )  # fmt: skip
    return secret


async def list_endpoints(conn: AsyncConnection[Any], municipality_id: UUID) -> list[Endpoint]:
    """The municipality's endpoints, by role and channel."""
    rows = await (
        await conn.execute(
            "SELECT target, channel, address, secret IS NOT NULL, options FROM notification_endpoints "
            "WHERE municipality_id = %s ORDER BY target, channel",
            (municipality_id,),
        )
    ).fetchall()
    return [Endpoint(target, channel, address, has_secret, options) for target, channel, address, has_secret, options
            in rows]  # fmt: skip


async def remove_endpoint(conn: AsyncConnection[Any], municipality_id: UUID, target: str, channel: Channel) -> bool:
    """Remove one endpoint; False if there was none. Steps to that role then fail and dead-letter."""
    result = await conn.execute(
        "DELETE FROM notification_endpoints WHERE municipality_id = %s AND target = %s AND channel = %s",
        (municipality_id, target, channel),
    )
    return result.rowcount == 1
