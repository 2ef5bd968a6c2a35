"""The citizen's own page (`/me`), for a patient signed in through ID-porten or a local citizen account: their
newest measurements and what they mean in plain words, the course of each over 30 days, when to measure next,
the questions of the day, who has looked at their record and why, the relatives they let see the page, and
whom they have blocked. Large text and high contrast (citizen.css: 20 px and more, contrast 7:1 and more), for
a reader of 85. Every form posts back here (redirect-after-post); a refused answer shows the page again with
the message next to the question, and nothing written.

The data come from the same services as the citizen API (`/api/v1/citizen/...`), under the same policy
(`own_record`, audited)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cloud.access import access_log, blocks, relatives
from cloud.access.blocks import AccessChangeError
from cloud.access.policy import PatientGrant, actor, own_record
from cloud.access.reasons import reason_text
from cloud.access.roles import ROLE_NAMES, Role
from cloud.ingest.manual import CAT_ITEMS, NotInServiceError, VitalsRefusedError
from cloud.registry import patients as registry
from cloud.registry.errors import ConflictError
from cloud.requests import Conn
from cloud.web.navigation import PAGES_TAG, see_other
from cloud.web.sparkline import sparkline
from cloud.web.templating import reader_of_page, render
from cloud.worklist import plain_words
from cloud.worklist.own_view import answer_questions, own_view
from common.i18n import N_

router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
SHOWN = 50  # the newest accesses; the API pages through the rest
HOME = "/me"
CAT_FIELDS = [f"cat_{number}" for number in range(1, 9)]
# The week's lung questions (the COPD Assessment Test's eight, in plain words), each 0 (not at all) to 5 (very
# much), in the test's order.
CAT_QUESTIONS = (
    N_("How much do you cough?"),
    N_("How much slime do you have in your chest?"),
    N_("How tight does your chest feel?"),
    N_("How out of breath are you when you walk up a hill or one floor of stairs?"),
    N_("How much does your breathing stop you doing things at home?"),
    N_("How unsure are you about leaving your home?"),
    N_("How badly do you sleep because of your lungs?"),
    N_("How tired are you?"),
)


async def own_page_context(conn: Conn, patient_id: UUID) -> dict[str, Any]:
    """What the patient's page and a relative's page of that patient both show."""
    record = await registry.details(conn, patient_id)
    return {
        "record": record,
        "view": await own_view(conn, patient_id, record["display_name"]),
        "entries": await access_log.entries(conn, patient_id, limit=SHOWN),
        "role_names": {str(role): name for role, name in ROLE_NAMES.items() if role != Role.PATIENT},
        "action_words": plain_words.action_words,
        "answer_words": plain_words.ANSWER_WORDS,
        "titles": plain_words.TITLES,
        "title_of": plain_words.title_of,
        "spark": sparkline,
        "reason_text": reason_text,
    }


async def _page(
    request: Request, conn: Conn, grant: PatientGrant, *, status: int = 200, errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None, message: str = "",
) -> Response:  # fmt: skip
    context = await own_page_context(conn, grant.patient_id)
    context |= {
        "blocks": [b for b in await blocks.list_blocks(conn, grant.patient_id) if b.active],
        "relatives": await relatives.of_patient(conn, grant.patient_id),
        "errors": errors or {}, "typed": typed or {}, "message": message, "cat_questions": CAT_QUESTIONS,
        "cat_fields": CAT_FIELDS, "done": request.query_params.get("done", ""),
    }  # fmt: skip
    return render(request, "citizen.html", context, status=status)


@router.get(HOME)
async def my_page(
    request: Request, conn: Conn, grant: Annotated[PatientGrant, own_record("patient.read_own")]
) -> Response:
    """The signed-in citizen's page."""
    return await _page(request, conn, grant)


def _answer(raw: str) -> float | str | None:
    """A typed answer as the service checks it: a number when it reads as one (the service refuses one that is
    not whole or out of range), else the text (refused too), None when not given."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        return raw


@router.post(HOME + "/answers")
async def answer(
    request: Request, conn: Conn, grant: Annotated[PatientGrant, own_record("answers.enter_own")]
) -> Response:
    """Store the day's answers; a refused answer shows the page again with the message by the question."""
    form = await request.form()
    typed = {name: str(form.get(name, "")) for name in ["dyspnoea", "oedema", "wellbeing", *CAT_FIELDS]}
    values: dict[str, object] = {name: _answer(typed[name]) for name in ["dyspnoea", "oedema", "wellbeing"]}
    cat = [_answer(typed[name]) for name in CAT_FIELDS]
    if any(item is not None for item in cat):
        values[CAT_ITEMS] = cat
    reader = reader_of_page(request)
    try:
        await answer_questions(conn, municipality_id=grant.principal.municipality_id, patient_id=grant.patient_id,
                               values=values, audit_id=grant.audit_id)  # fmt: skip
    except VitalsRefusedError as refused:
        errors = {p.field: p.text(reader) for p in refused.problems}
        return await _page(request, conn, grant, status=422, errors=errors, typed=typed)
    except NotInServiceError as stopped:
        return await _page(request, conn, grant, status=409, message=stopped.text(reader))
    except ConflictError as refused:
        return await _page(request, conn, grant, status=409, message=reader._(str(refused)))
    return see_other(HOME + "?done=answers#measurements")


@router.post(HOME + "/relatives")
async def invite(
    request: Request, conn: Conn, grant: Annotated[PatientGrant, own_record("relatives.change_own")]
) -> Response:
    """Invite a relative by name and national id: the patient's recorded consent."""
    form = await request.form()
    typed = {"name": str(form.get("name", "")), "national_id": str(form.get("national_id", ""))}
    _ = reader_of_page(request)._
    errors: dict[str, str] = {}
    person = ""
    for field in ("name", "national_id"):
        try:
            if field == "name":
                relatives.checked_name(typed["name"])
            else:
                allow = request.app.state.settings.allow_synthetic_ids
                person = relatives.checked_national_id(typed["national_id"], allow_synthetic=allow)
        except AccessChangeError as refused:
            errors[field] = _(refused.message)
    if errors:
        return await _page(request, conn, grant, status=422, errors=errors, typed=typed)
    try:
        await relatives.invite(conn, actor(request, grant.principal), patient_id=grant.patient_id,
                               display_name=typed["name"], person=person)  # fmt: skip
    except AccessChangeError as refused:
        return await _page(request, conn, grant, status=refused.status, errors={"national_id": _(refused.message)},
                           typed=typed)  # fmt: skip
    return see_other(HOME + "?done=invited#relatives")


@router.post(HOME + "/relatives/{relative_id}/revoke")
async def revoke(
    relative_id: UUID, request: Request, conn: Conn, grant: Annotated[PatientGrant, own_record("relatives.change_own")]
) -> Response:
    """Withdraw a relative's access, at once."""
    try:
        await relatives.revoke(
            conn, actor(request, grant.principal), patient_id=grant.patient_id, relative_id=relative_id
        )
    except AccessChangeError as refused:
        return await _page(
            request, conn, grant, status=refused.status, message=reader_of_page(request)._(refused.message)
        )
    return see_other(HOME + "?done=revoked#relatives")


@router.post(HOME + "/blocks/{block_id}/lift")
async def lift_block(
    block_id: UUID, request: Request, conn: Conn, grant: Annotated[PatientGrant, own_record("blocks.change_own")]
) -> Response:
    """Lift one of the patient's blocks (the row stays, with who lifted it)."""
    try:
        await blocks.lift_block(conn, actor(request, grant.principal), patient_id=grant.patient_id, block_id=block_id,
                                requested_by="patient")  # fmt: skip
    except AccessChangeError as refused:
        message = reader_of_page(request)._(refused.message)
        return await _page(request, conn, grant, status=refused.status, message=message)
    return see_other(HOME + "?done=lifted#blocks")
