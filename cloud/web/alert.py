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
from psycopg import AsyncConnection

from cloud.access.policy import PatientGrant, alert_access
from cloud.alert_store.records import Actor
from cloud.requests import Conn, reader_of
from cloud.web import alert_view
from cloud.web.forms import RESOLUTION_LENGTH, Checked, outcome_fields, read_form, snooze_minutes, text
from cloud.web.navigation import PAGES_TAG, is_page_request, local_path, see_other
from cloud.web.templating import reader_of_page
from cloud.worklist import actions, triage
from cloud.worklist.actions import ActionRefusedError
from cloud.worklist.models import AlertDetail
from common.i18n import N_

link_router = APIRouter(tags=["triage"])
router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])


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
    browser (Accept: text/html), the JSON to an API client (its words in the language of Accept-Language)."""
    if not is_page_request(request):
        return await triage.alert_detail(conn, alert_id, grant.patient_id, reader_of(request))
    detail = await triage.alert_detail(conn, alert_id, grant.patient_id, reader_of_page(request))
    return await alert_view.page(request, conn, detail, done=request.query_params.get("done", ""))


# An action on an alert, ready to run (its form's fields checked), and what reads a form into one.
Run = Callable[[AsyncConnection[Any], int, Actor], Awaitable[Any]]
Prepare = Callable[[Checked], Run]


async def _act(
    request: Request, conn: Conn, grant: PatientGrant, alert_id: int, name: str, prepare: Prepare
) -> Response:
    """Check the form, then run the action unless a field is at fault, then back to the page the form came
    from. A refusal shows the alert page again with the message, and nothing was written."""
    checked = await read_form(request)
    run = prepare(checked)
    status = 422
    if not checked.errors:
        try:
            await run(conn, alert_id, Actor(by=grant.principal.id, audit_id=grant.audit_id))
        except ActionRefusedError as exc:
            status = exc.status
            checked.refuse(exc.field or "form", alert_view.refusal(exc))
    if not checked.errors:
        target = checked.values.get("next") or f"/alerts/{alert_id}?done={DONE[name]}"
        return see_other(local_path(target))
    detail = await triage.alert_detail(conn, alert_id, grant.patient_id, reader_of_page(request))
    return await alert_view.page(request, conn, detail, status=status, form=name, checked=checked)


def _acknowledge(checked: Checked) -> Run:
    return actions.acknowledge


def _comment(checked: Checked) -> Run:
    body = text(checked, "body", required=N_("Write a comment."))
    return lambda conn, alert_id, actor: actions.comment(conn, alert_id, actor, body)


def _outcome(checked: Checked) -> Run:
    what, at, note = outcome_fields(checked, datetime.now(UTC))
    return lambda conn, alert_id, actor: actions.record_outcome(conn, alert_id, actor, what, at, note)  # type: ignore[arg-type]


def _resolve(checked: Checked) -> Run:
    resolution = text(checked, "resolution", required=N_("Say how the alert ended."), bounds=RESOLUTION_LENGTH)
    return lambda conn, alert_id, actor: actions.resolve(conn, alert_id, actor, resolution)


def _snooze(checked: Checked) -> Run:
    minutes = snooze_minutes(checked, datetime.now(UTC))
    return lambda conn, alert_id, actor: actions.snooze(conn, alert_id, actor, minutes)


# Each form: what it reads from the fields, the audited action of its access policy, the page's confirmation.
FORMS: dict[str, tuple[Prepare, str]] = {
    "acknowledge": (_acknowledge, "alerts.acknowledge"),
    "comment": (_comment, "alerts.comment"),
    "outcome": (_outcome, "alerts.outcome"),
    "resolve": (_resolve, "alerts.resolve"),
    "snooze": (_snooze, "alerts.snooze"),
}
DONE = {"acknowledge": "acknowledged", "comment": "commented", "outcome": "outcome", "resolve": "resolved",
        "snooze": "snoozed"}  # fmt: skip


def _form_route(name: str, prepare: Prepare, audited: str) -> None:
    """`POST /alerts/{id}/<name>`: the form's action under the alert's access policy for `audited`."""

    # The policy is a default value, not in the annotation: annotations are strings here (postponed
    # evaluation), and FastAPI resolves them in the module's globals, where this policy does not exist.
    policy = alert_access(audited)

    async def post_form(alert_id: int, request: Request, conn: Conn, grant: PatientGrant = policy) -> Response:
        return await _act(request, conn, grant, alert_id, name, prepare)

    post_form.__doc__ = f"The alert page's {name} form."
    router.post(f"/alerts/{{alert_id}}/{name}", name=f"alert_{name}_form")(post_form)


for _name, (_prepare, _audited) in FORMS.items():
    _form_route(_name, _prepare, _audited)
