"""The alert page (`/alerts/{id}`, where escalation e-mails link) and its actions.

`GET /alerts/{id}` answers a browser (Accept: text/html) with the page and an API client with the alert's
JSON, through the same access policy and audit record (`alert_access("alerts.read")`); a signed-out browser
goes to sign-in and comes back. The actions are plain forms (they work without JavaScript) that post with the
session's CSRF token to `/alerts/{id}/<action>`, go through the same policy, triage service and alert store as
the API, and answer with a redirect to the page (or, with a refusal, the page again with the message next to
the field at fault and nothing written).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cloud.access.policy import PatientGrant, alert_access
from cloud.alert_store.records import Actor
from cloud.requests import Conn
from cloud.web import alert_view
from cloud.web.forms import RESOLUTION_LENGTH, Checked, outcome_fields, snooze_minutes, text
from cloud.web.navigation import PAGES_TAG, is_page_request, local_path, see_other
from cloud.worklist import actions, triage
from cloud.worklist.actions import ActionRefusedError
from cloud.worklist.models import AlertDetail
from common.i18n import N_

link_router = APIRouter(tags=["triage"])
router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
Grant = PatientGrant


@link_router.get(
    "/alerts/{alert_id}",
    summary="An alert (the link in e-mails and webhooks)",
    response_model=AlertDetail,
    responses={200: {"content": {"text/html": {}}}, 404: {}},
)
async def alert_detail(
    alert_id: int, request: Request, conn: Conn, grant: Annotated[PatientGrant, alert_access("alerts.read")]
) -> Any:
    """The alert with its explanation, recent readings of its metrics, notifications and notes: the page to a
    browser (Accept: text/html), the JSON to an API client."""
    detail = await triage.alert_detail(conn, alert_id, grant.patient_id)
    if not is_page_request(request):
        return detail
    return await alert_view.page(request, conn, detail, done=request.query_params.get("done", ""))


def _actor(grant: PatientGrant) -> Actor:
    return Actor(by=grant.principal.id, audit_id=grant.audit_id)


async def _form(request: Request) -> Checked:
    form = await request.form()
    return Checked({key: value for key, value in form.items() if isinstance(value, str)})


async def _act(
    request: Request,
    conn: Conn,
    grant: PatientGrant,
    alert_id: int,
    checked: Checked,
    action: Callable[[], Awaitable[Any]],
    *,
    form: str,
    done: str,
) -> Response:
    """Run `action` unless the form is at fault; then back to the page the form came from. A refusal shows
    the alert page again with the message, and nothing was written."""
    status = 422
    if not checked.errors:
        try:
            await action()
        except ActionRefusedError as exc:
            status = exc.status
            checked.refuse(exc.field or "form", alert_view.refusal(exc))
    if not checked.errors:
        target = checked.values.get("next") or f"/alerts/{alert_id}?done={done}"
        return see_other(local_path(target))
    detail = await triage.alert_detail(conn, alert_id, grant.patient_id)
    return await alert_view.page(request, conn, detail, status=status, form=form, checked=checked)


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge(
    alert_id: int, request: Request, conn: Conn, grant: Annotated[Grant, alert_access("alerts.acknowledge")]
) -> Response:
    """Take the alert."""
    checked = await _form(request)

    async def run() -> None:
        await actions.acknowledge(conn, alert_id, _actor(grant))

    return await _act(request, conn, grant, alert_id, checked, run, form="acknowledge", done="acknowledged")


@router.post("/alerts/{alert_id}/comment")
async def comment(
    alert_id: int, request: Request, conn: Conn, grant: Annotated[Grant, alert_access("alerts.comment")]
) -> Response:
    """Add a comment."""
    checked = await _form(request)
    body = text(checked, "body", required=N_("Write a comment."))

    async def run() -> None:
        await actions.comment(conn, alert_id, _actor(grant), body)

    return await _act(request, conn, grant, alert_id, checked, run, form="comment", done="commented")


@router.post("/alerts/{alert_id}/outcome")
async def outcome(
    alert_id: int, request: Request, conn: Conn, grant: Annotated[Grant, alert_access("alerts.outcome")]
) -> Response:
    """Record what was done (a closing outcome resolves the alert)."""
    checked = await _form(request)
    what, at, note = outcome_fields(checked, datetime.now(UTC))

    async def run() -> None:
        await actions.record_outcome(conn, alert_id, _actor(grant), what, at, note)  # type: ignore[arg-type]

    return await _act(request, conn, grant, alert_id, checked, run, form="outcome", done="outcome")


@router.post("/alerts/{alert_id}/resolve")
async def resolve(
    alert_id: int, request: Request, conn: Conn, grant: Annotated[Grant, alert_access("alerts.resolve")]
) -> Response:
    """Close the alert with a resolution."""
    checked = await _form(request)
    resolution = text(checked, "resolution", required=N_("Say how the alert ended."), bounds=RESOLUTION_LENGTH)

    async def run() -> None:
        await actions.resolve(conn, alert_id, _actor(grant), resolution)

    return await _act(request, conn, grant, alert_id, checked, run, form="resolve", done="resolved")


@router.post("/alerts/{alert_id}/snooze")
async def snooze(
    alert_id: int, request: Request, conn: Conn, grant: Annotated[Grant, alert_access("alerts.snooze")]
) -> Response:
    """Hold re-notification until the chosen end time."""
    checked = await _form(request)
    minutes = snooze_minutes(checked, datetime.now(UTC))

    async def run() -> None:
        await actions.snooze(conn, alert_id, _actor(grant), minutes)

    return await _act(request, conn, grant, alert_id, checked, run, form="snooze", done="snoozed")
