"""The escalation settings page (`/admin/escalation`): the municipality's policy document as a form of its
steps (wait, channel, whom), and where each role is reached (e-mail or webhook).

Both go the validated path of `PUT /api/v1/escalation/policy` and `.../endpoints/...` and of `tryggheim admin
escalation` (`cloud.escalation.configuration`): the page shows the validator's own message next to the field it
names (`policies[1].steps[0].after_minutes`), and a refused change writes nothing. Alerts opened afterwards copy
the new policy; a running chain keeps its copy. Only the municipality administrator reaches the page (audited
as `escalation.settings`, like the API's writes).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from alerts.escalation import PolicyError
from alerts.escalation.schema import CARE_TEAM
from cloud.access.policy import staff_only
from cloud.access.principal import Principal
from cloud.access.roles import Role
from cloud.escalation import configuration
from cloud.notify.sealing import SecretBox
from cloud.requests import Conn
from cloud.web.admin_forms import Refused, posted
from cloud.web.navigation import PAGES_TAG, see_other
from cloud.web.templating import render

router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
Admin = Annotated[Principal, staff_only(Role.MUNICIPALITY_ADMIN, audited="escalation.settings")]
CHANNELS = ("in_app", "email", "webhook")
ENDPOINT_CHANNELS = ("email", "webhook")
# A field the validator names, as the form names it: policies[0].steps[1].after_minutes -> p0s1_after_minutes.
WHERE = re.compile(r"^policies\[(\d+)\](?:\.steps\[(\d+)\])?(?:\.(\w+))?")


def field_of(where: str) -> str:
    """The form's field for the validator's path: a step's field, a step, a policy's field, a policy, or the
    whole document."""
    found = WHERE.match(where)
    if not found:
        return "document"
    policy, step, name = found.groups()
    prefix = f"p{policy}s{step}" if step is not None else f"p{policy}"
    return f"{prefix}_{name}" if name else prefix


def _number(typed: str) -> Any:
    """A wait as typed (a decimal comma too); left as text when it is not a number, for the validator to say so."""
    cleaned = typed.strip().replace(",", ".")
    try:
        return float(cleaned)
    except ValueError:
        return typed


def edited(current: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """The stored document with the form's steps and acknowledgement timeouts written over it."""
    for i, policy in enumerate(current["policies"]):
        for j, step in enumerate(policy["steps"]):
            for name in ("after_minutes", "channel", "target"):
                typed = values.get(f"p{i}s{j}_{name}")
                if typed is not None:
                    step[name] = _number(typed) if name == "after_minutes" else typed.strip()
        ack = values.get(f"p{i}_ack_timeout_minutes")
        if ack is not None:
            policy["ack_timeout_minutes"] = _number(ack) if ack.strip() else None
    return current


async def _page(request: Request, conn: Conn, admin: Principal, refusal: Refused, secret: str = "") -> Response:
    document, own = await configuration.policy_in_effect(conn, admin.municipality_id)
    endpoints = await configuration.list_endpoints(conn, admin.municipality_id)
    context = {
        "policies": document.model_dump(mode="json")["policies"], "own": own, "endpoints": endpoints,
        "unreached": configuration.unreached(document, endpoints), "channels": CHANNELS, "care_team": CARE_TEAM,
        "endpoint_channels": ENDPOINT_CHANNELS, "done": request.query_params.get("done", ""), "secret": secret,
        **refusal.context(),
    }  # fmt: skip
    return render(request, "admin_escalation.html", context, status=refusal.status)


@router.get("/admin/escalation")
async def escalation_page(request: Request, conn: Conn, admin: Admin) -> Response:
    """The policy in effect as a form, and the endpoints."""
    return await _page(request, conn, admin, Refused())


@router.post("/admin/escalation/policy")
async def save_policy(request: Request, conn: Conn, admin: Admin) -> Response:
    """Store the edited document through the validator; a refusal names the field on the page."""
    checked, _ticked = await posted(request)
    document, _own = await configuration.policy_in_effect(conn, admin.municipality_id)
    try:
        async with conn.transaction():
            await configuration.set_policy(
                conn, admin.municipality_id, edited(document.model_dump(mode="json"), checked.values), admin.id
            )
    except PolicyError as exc:
        refusal = Refused("policy", {field_of(exc.where): exc.problem, "document": str(exc)}, checked.values, 422)
        return await _page(request, conn, admin, refusal)
    return see_other("/admin/escalation?done=policy")


@router.post("/admin/escalation/reset")
async def reset_policy(conn: Conn, admin: Admin) -> Response:
    """Return to the shipped default policy."""
    await configuration.reset_policy(conn, admin.municipality_id)
    return see_other("/admin/escalation?done=reset")


@router.post("/admin/escalation/endpoints")
async def save_endpoint(request: Request, conn: Conn, admin: Admin) -> Response:
    """Set where a role is reached on a channel; a webhook without a secret gets a new one, shown once."""
    checked, _ticked = await posted(request)
    values = checked.values
    channel = values.get("channel", "")
    key = request.app.state.settings.secrets_key
    try:
        secret = await configuration.set_endpoint(
            conn, admin.municipality_id, target=values.get("target", "").strip(), channel=channel,  # type: ignore[arg-type]
            address=values.get("address", "").strip(), secret=values.get("secret", "").strip() or None,
            box=SecretBox(key.get_secret_value() if key else None),
        )  # fmt: skip
    except configuration.EndpointError as exc:
        return await _page(request, conn, admin, Refused("endpoint", {exc.field: str(exc)}, values, 422))
    if channel == "webhook" and not values.get("secret", "").strip() and secret:
        return await _page(request, conn, admin, Refused(), secret=secret)  # shown once: never in an address
    return see_other("/admin/escalation?done=endpoint#endpoints")


@router.post("/admin/escalation/endpoints/remove")
async def remove_endpoint(request: Request, conn: Conn, admin: Admin) -> Response:
    """Remove where a role is reached on a channel."""
    checked, _ticked = await posted(request)
    channel = checked.values.get("channel", "")
    if channel in ENDPOINT_CHANNELS:
        await configuration.remove_endpoint(
            conn,
            admin.municipality_id,
            checked.values.get("target", ""),
            channel,  # type: ignore[arg-type]
        )
    return see_other("/admin/escalation?done=removed#endpoints")
