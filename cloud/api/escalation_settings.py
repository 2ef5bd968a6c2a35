"""The caller's municipality's escalation settings: its policy document and where each role is reached.

Municipality administrators change them (audited); team leads may read them. The same validation as
`tryggheim admin escalation` (cloud/escalation/configuration.py): a refused change is a 422 naming the field
and writes nothing. Webhook secrets are never returned, except a newly generated one, once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from alerts.escalation import PolicyError
from alerts.escalation.hours import OSLO
from cloud.access.policy import staff_only
from cloud.access.principal import Principal
from cloud.access.roles import Role
from cloud.escalation import configuration, service_hours
from cloud.notify.sealing import SecretBox
from cloud.requests import Conn

router = APIRouter(prefix="/api/v1/escalation", tags=["escalation-settings"])
Reader = Annotated[Principal, staff_only(Role.MUNICIPALITY_ADMIN, Role.TEAM_LEAD)]
Admin = Annotated[Principal, staff_only(Role.MUNICIPALITY_ADMIN, audited="escalation.settings")]
Target = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]*$", max_length=60, description="Role name, e.g. team_lead.")]
ChannelName = Annotated[Literal["email", "webhook", "sms"], Path()]
RoutedClass = Literal["alarm", "clinical", "liveness", "data_quality"]


class PolicyOut(BaseModel):
    """The document new alerts follow, where it comes from, and roles it sends to without an endpoint."""

    source: Literal["municipality", "default"]
    unreached: list[str]
    policies: list[dict[str, Any]]


class EndpointIn(BaseModel):
    """An e-mail address, an https URL, or a phone number with its SMS gateway's `options` (cloud/notify/sms);
    webhook and SMS endpoints take an optional signing secret (a new one is made when absent)."""

    model_config = ConfigDict(extra="forbid")
    address: str = Field(min_length=3, max_length=2000)
    secret: str | None = Field(default=None, min_length=configuration.MIN_SECRET, max_length=500)
    options: dict[str, Any] | None = None


class EndpointOut(BaseModel):
    """Where a role is reached; `secret` only when the service generated it just now."""

    target: str
    channel: Literal["email", "webhook", "sms"]
    address: str
    has_secret: bool
    options: dict[str, Any] | None = None
    secret: str | None = None


async def _policy(conn: Conn, principal: Principal) -> PolicyOut:
    document, own = await configuration.policy_in_effect(conn, principal.municipality_id)
    endpoints = await configuration.list_endpoints(conn, principal.municipality_id)
    return PolicyOut(
        source="municipality" if own else "default",
        unreached=configuration.unreached(document, endpoints),
        policies=document.model_dump(mode="json")["policies"],
    )


@router.get("/policy")
async def get_policy(conn: Conn, reader: Reader) -> PolicyOut:
    """The policy in effect for the caller's municipality."""
    return await _policy(conn, reader)


@router.put("/policy", responses={422: {}})
async def put_policy(conn: Conn, admin: Admin, document: Annotated[dict[str, Any], Body()]) -> PolicyOut:
    """Replace the municipality's policy document; alerts opened from now on follow it."""
    try:
        async with conn.transaction():
            await configuration.set_policy(conn, admin.municipality_id, document, admin.id)
    except PolicyError as exc:
        raise HTTPException(422, str(exc)) from None
    return await _policy(conn, admin)


@router.delete("/policy")
async def delete_policy(conn: Conn, admin: Admin) -> PolicyOut:
    """Return to the shipped default policy."""
    await configuration.reset_policy(conn, admin.municipality_id)
    return await _policy(conn, admin)


@router.get("/endpoints")
async def get_endpoints(conn: Conn, reader: Reader) -> list[EndpointOut]:
    """Where each role is reached (secrets are never shown)."""
    return [EndpointOut(**e.__dict__) for e in await configuration.list_endpoints(conn, reader.municipality_id)]


@router.put("/endpoints/{target}/{channel}", responses={422: {}})
async def put_endpoint(
    request: Request, conn: Conn, admin: Admin, target: Target, channel: ChannelName, endpoint: EndpointIn
) -> EndpointOut:
    """Set where a role is reached on a channel (https only for webhooks, except to this machine)."""
    key = request.app.state.settings.secrets_key
    try:
        secret = await configuration.set_endpoint(
            conn, admin.municipality_id, target=target, channel=channel, address=endpoint.address,
            secret=endpoint.secret, box=SecretBox(key.get_secret_value() if key else None), options=endpoint.options,
        )  # fmt: skip
    except configuration.EndpointError as exc:
        raise HTTPException(422, str(exc)) from None
    generated = secret if channel != "email" and endpoint.secret is None else None
    return EndpointOut(target=target, channel=channel, address=endpoint.address, has_secret=secret is not None,
                       options=endpoint.options, secret=generated)  # fmt: skip


@router.delete("/endpoints/{target}/{channel}", status_code=204, responses={404: {}})
async def delete_endpoint(conn: Conn, admin: Admin, target: Target, channel: ChannelName) -> Response:
    """Remove where a role is reached on a channel (steps to it then fail and dead-letter)."""
    if not await configuration.remove_endpoint(conn, admin.municipality_id, target, channel):
        raise HTTPException(404, f"No {channel} endpoint for {target!r} in your municipality.")
    return Response(status_code=204)


class RouteOut(BaseModel):
    """Who an alert of this class would reach at `at`, from when (`deliver_at`, null: at once) and why."""

    recipient: str
    deliver_at: datetime | None
    why: str
    staff: list[str]


@router.get("/service", responses={404: {}})
async def get_service(conn: Conn, reader: Reader) -> dict[str, Any]:
    """The municipality's service hours, overrides, rota and out-of-hours service."""
    settings = await service_hours.service_in_effect(conn, reader.municipality_id)
    if settings is None:
        raise HTTPException(404, "No service hours: alerts reach the worklist at once, around the clock.")
    return settings.model_dump(mode="json")


@router.put("/service", responses={422: {}})
async def put_service(conn: Conn, admin: Admin, document: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Replace the service settings; alerts opened from now on are routed by them."""
    try:
        async with conn.transaction():
            parsed = await service_hours.set_service(conn, admin.municipality_id, document, admin.id)
    except PolicyError as exc:
        raise HTTPException(422, str(exc)) from None
    return parsed.model_dump(mode="json")


@router.delete("/service", status_code=204)
async def delete_service(conn: Conn, admin: Admin) -> Response:
    """Drop the service settings (alerts reach the worklist at once again)."""
    await service_hours.reset_service(conn, admin.municipality_id)
    return Response(status_code=204)


@router.get("/route-preview", responses={404: {}})
async def route_preview(
    conn: Conn, reader: Reader, event_class: Annotated[RoutedClass, Query()],
    severity: Annotated[Literal["red", "yellow"], Query()], at: Annotated[datetime, Query()],
    detector: Annotated[str | None, Query(max_length=60)] = None,
    team: Annotated[str | None, Query(max_length=200)] = None,
) -> RouteOut:  # fmt: skip
    """Who would be notified for an alert of this class at this time (`detector=event`: a fall or night door;
    a time without an offset is Oslo time)."""
    at = at if at.tzinfo is not None else at.replace(tzinfo=OSLO)
    chosen = await service_hours.route_at(
        conn, reader.municipality_id, event_class=event_class, severity=severity, detector=detector, team=team,
        t=at.timestamp(),
    )  # fmt: skip
    if chosen is None:
        raise HTTPException(404, "No service hours: alerts reach the worklist at once, around the clock.")
    deliver = None if chosen.deliver_at is None else datetime.fromtimestamp(chosen.deliver_at, OSLO)
    return RouteOut(recipient=chosen.recipient, deliver_at=deliver, why=chosen.why, staff=list(chosen.staff))
