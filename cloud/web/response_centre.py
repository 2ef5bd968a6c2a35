"""The response centre's screen (`/response-centre`, trygghetssentral): safety alarms, newest first, and the two
things an operator does with one, take it and record its outcome.

The screen reads through the same service and access policy as `GET /api/v1/response-centre` (the response
centre's operators and the municipality's administrators, one audit record per view). Taking an alarm
(`POST /response-centre/{id}/take`) acknowledges it and recording what happened (`POST
/response-centre/{id}/outcome`) records an outcome, through the alert's access policy for the same roles and
the triage actions (cloud/worklist/actions.py), so the alert store, the audit records and the live events are
those of the API. Both are plain forms with the session's CSRF token that go back to the screen (redirect
after post); a refusal shows the screen again with the message at the alarm, and nothing was written.
With JavaScript (response_centre.js) the clocks run and the list follows the worklist's event stream.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cloud.access.policy import PatientGrant, PatientScopeFilter, alert_access, patient_search
from cloud.access.roles import RESPONSE_CENTRE_SCREEN
from cloud.alert_store.records import Actor
from cloud.requests import Conn
from cloud.web.alert_view import refusal
from cloud.web.forms import outcome_fields, read_form
from cloud.web.navigation import PAGES_TAG, see_other
from cloud.web.response_centre_view import Shown, page
from cloud.worklist import actions
from cloud.worklist.actions import ActionRefusedError

router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
SCREEN = "/response-centre"


def _actor(grant: PatientGrant) -> Actor:
    return Actor(by=grant.principal.id, audit_id=grant.audit_id)


@router.get(SCREEN)
async def response_centre_page(
    request: Request,
    conn: Conn,
    scope: Annotated[PatientScopeFilter, patient_search("response_centre.read", *RESPONSE_CENTRE_SCREEN)],
    alarm: int | None = None,
    done: str = "",
) -> Response:
    """The screen; with `HX-Request` the alarm list alone (the live refresh). `alarm` and `done` name what the
    operator just did, so the page confirms it and puts the focus where the next step is."""
    fragment = (
        request.headers.get("hx-request") == "true" and request.headers.get("hx-history-restore-request") != "true"
    )
    return await page(request, conn, scope.principal, Shown(alarm=alarm, done=done, fragment=fragment))


@router.post(SCREEN + "/{alert_id}/take")
async def take_alarm(
    alert_id: int,
    request: Request,
    conn: Conn,
    grant: Annotated[PatientGrant, alert_access("alerts.acknowledge", *RESPONSE_CENTRE_SCREEN)],
) -> Response:
    """Take the alarm (acknowledge it: escalation stops), then back to the screen at its outcome."""
    try:
        await actions.acknowledge(conn, alert_id, _actor(grant))
    except ActionRefusedError as exc:
        return await page(request, conn, grant.principal, Shown(alarm=alert_id, error=refusal(exc), status=exc.status))
    return see_other(f"{SCREEN}?alarm={alert_id}&done=taken")


@router.post(SCREEN + "/{alert_id}/outcome")
async def record_outcome(
    alert_id: int,
    request: Request,
    conn: Conn,
    grant: Annotated[PatientGrant, alert_access("alerts.outcome", *RESPONSE_CENTRE_SCREEN)],
) -> Response:
    """Record what was done, now, with an optional note; talked to the person, done and false alarm end the
    alarm."""
    checked = await read_form(request)
    outcome, _at, note = outcome_fields(checked, datetime.now(UTC))
    status = 422
    if not checked.errors:
        try:
            await actions.record_outcome(conn, alert_id, _actor(grant), outcome, None, note)  # type: ignore[arg-type]
        except ActionRefusedError as exc:
            status = exc.status
            checked.refuse("form", refusal(exc))
    if checked.errors:
        shown = Shown(alarm=alert_id, error=next(iter(checked.errors.values())), status=status, note=note or "")
        return await page(request, conn, grant.principal, shown)
    return see_other(f"{SCREEN}?alarm={alert_id}&done=outcome")
