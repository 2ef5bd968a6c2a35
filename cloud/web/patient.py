"""The patient page (`/patients/{id}`) and its forms.

The page goes through the same access policy and audit record as `GET /api/v1/patients/{id}`
(`patient_access("patient.read")`): another team's patient is a 403 page, another municipality's (or none) a
404 page, both audited. Its forms are plain posts with the session's CSRF token, each under the policy of the
API route that does the same (vitals at a visit, a pause, the decision on a baseline proposal; resuming is
audited as `alerts.resume`), through the same services; each answers with a redirect back to the page, or,
when refused, the page again with the message next to the field at fault and nothing written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from alerts.protocols.load import ProtocolError
from cloud.access.policy import PatientGrant, patient_access
from cloud.access.roles import Role
from cloud.alert_store import suppression
from cloud.evaluation import proposal_reads
from cloud.evaluation.baselines import Decision, NothingWaitingError, decide
from cloud.ingest.manual import FIELDS, NotInServiceError, VitalsRefusedError, enter
from cloud.requests import Conn
from cloud.web.forms import Checked
from cloud.web.navigation import PAGES_TAG, see_other
from cloud.web.patient_forms import decision_fields, pause_fields, vitals_entry
from cloud.web.patient_page import Refused, page, page_reader
from cloud.web.templating import gettext_of
from common.i18n import N_

T = TypeVar("T")
router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
Reading = Annotated[PatientGrant, patient_access("patient.read")]
Entering = Annotated[PatientGrant, patient_access("vitals.enter", Role.NURSE, Role.TEAM_LEAD)]
Pausing = Annotated[PatientGrant, patient_access("alerts.pause")]
Resuming = Annotated[PatientGrant, patient_access("alerts.resume")]
Deciding = Annotated[PatientGrant, patient_access("baselines.decide")]
# The visit form's fields (the measurements and the time measured); a refusal of anything else is shown above it.
VISIT_FIELDS = frozenset({*FIELDS, "measured_at"})
NOT_WAITING = N_("This proposal is no longer waiting for a decision; nothing was changed. Look at the page again.")
NOT_FITTING = N_("The proposed limits no longer fit the patient's protocol; nothing was changed.")
NOT_PAUSED = N_("The alerts were not paused; nothing was changed.")


@router.get("/patients/{patient_id}")
async def patient_page(patient_id: UUID, request: Request, conn: Conn, grant: Reading) -> Response:
    """The patient page; `?range=` chooses the charts' period, `?done=` confirms a form that was saved."""
    return await page(request, conn, grant)


async def _read(request: Request) -> Checked:
    form = await request.form()
    return Checked({key: value for key, value in form.items() if isinstance(value, str)})


async def _refused(
    request: Request, conn: Conn, grant: PatientGrant, form: str, errors: dict[str, str], typed: dict[str, str],
    status: int = 422,
) -> Response:  # fmt: skip
    """The page again with the refused form's messages (texts in the reader's language) and values."""
    return await page(request, conn, grant, Refused(form, errors, typed, status))


async def _filled(
    request: Request, conn: Conn, grant: PatientGrant, form: str, read: Callable[[Checked, datetime], T]
) -> tuple[T, Checked, Response | None]:
    """The form's fields as `read` checks them, what was typed, and the page with the messages when a field is
    at fault (None: go on)."""
    checked = await _read(request)
    fields = read(checked, datetime.now(UTC))
    if not checked.errors:
        return fields, checked, None
    _ = gettext_of(request)
    errors = {name: _(message) for name, message in checked.errors.items()}
    return fields, checked, await _refused(request, conn, grant, form, errors, checked.values)


def _back(patient_id: UUID, done: str, anchor: str) -> Response:
    return see_other(f"/patients/{patient_id}?done={done}#{anchor}")


@router.post("/patients/{patient_id}/vitals")
async def enter_vitals(patient_id: UUID, request: Request, conn: Conn, grant: Entering) -> Response:
    """Vitals measured at a home visit, stored as `manual` readings by the visit service."""
    entry, checked, refused_fields = await _filled(request, conn, grant, "vitals", vitals_entry)
    if refused_fields is not None:
        return refused_fields
    reader = page_reader(request)
    try:
        await enter(
            conn, municipality_id=grant.principal.municipality_id, patient_id=grant.patient_id, entry=entry,
            by=grant.principal.id, audit_id=grant.audit_id,
        )  # fmt: skip
    except VitalsRefusedError as refused:
        errors: dict[str, str] = {}
        for problem in refused.problems:
            errors.setdefault(problem.field if problem.field in VISIT_FIELDS else "values", problem.text(reader))
        return await _refused(request, conn, grant, "vitals", errors, checked.values)
    except NotInServiceError as stopped:
        return await _refused(request, conn, grant, "vitals", {"values": stopped.text(reader)}, checked.values, 409)
    return _back(grant.patient_id, "vitals", "news2")


@router.post("/patients/{patient_id}/pause")
async def pause(patient_id: UUID, request: Request, conn: Conn, grant: Pausing) -> Response:
    """Pause the patient's alerts other than safety alarms from now (a hospital stay)."""
    fields, _checked, refused = await _filled(request, conn, grant, "pause", pause_fields)
    if refused is None:
        await suppression.add_pause(
            conn, grant.patient_id, starts_at=None, until=fields.until, reason=fields.reason, set_by=grant.principal.id
        )
    return refused or _back(grant.patient_id, "paused", "pause")


@router.post("/patients/{patient_id}/resume")
async def resume(patient_id: UUID, request: Request, conn: Conn, grant: Resuming) -> Response:
    """End the pause in force now: every rule runs again."""
    if not await suppression.end_pause(conn, grant.patient_id):
        return await _refused(request, conn, grant, "resume", {"pause": gettext_of(request)(NOT_PAUSED)}, {}, 409)
    return _back(grant.patient_id, "resumed", "pause")


@router.post("/patients/{patient_id}/baseline")
async def decide_baseline(patient_id: UUID, request: Request, conn: Conn, grant: Deciding) -> Response:
    """Approve or reject the waiting baseline proposal, with a reason and the next review date."""
    fields, checked, refused = await _filled(request, conn, grant, "baseline", decision_fields)
    if refused is not None:
        return refused
    waiting = await proposal_reads.waiting_for(conn, grant.patient_id)
    refusal = NOT_WAITING
    if waiting is not None and waiting.id == fields.proposal_id:
        decision = Decision(approve=fields.approve, reason=fields.reason, review_by=fields.review_by,
                            by=grant.principal.id, audit_id=grant.audit_id)  # fmt: skip
        try:
            await decide(conn, grant.patient_id, waiting.id, decision)
            return _back(grant.patient_id, "approved" if fields.approve else "rejected", "baseline")
        except NothingWaitingError:
            refusal = NOT_WAITING
        except ProtocolError:
            refusal = NOT_FITTING
    errors = {"proposal": gettext_of(request)(refusal)}
    return await _refused(request, conn, grant, "baseline", errors, checked.values, 409)
