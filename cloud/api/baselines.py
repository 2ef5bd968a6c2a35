"""Personal baseline proposals: the worklist of waiting proposals, a patient's proposals, and the decision.

Proposals are made by the evaluation sweep (cloud/evaluation/baselines.py); a nurse approves or rejects the
waiting one with a reason and a review date. Every call is audited by its policy.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts.protocols.load import ProtocolError
from cloud.access.policy import PatientGrant, PatientScopeFilter, patient_access, patient_search
from cloud.evaluation import proposal_reads
from cloud.evaluation.baselines import MAX_REVIEW_DAYS, Decision, NothingWaitingError, decide
from cloud.requests import Conn
from common.timefmt import OSLO

router = APIRouter(prefix="/api/v1", tags=["baselines"])


Proposal = proposal_reads.Proposal


@router.get("/patients/{patient_id}/baselines")
async def patient_baselines(
    patient_id: UUID,
    conn: Conn,
    grant: Annotated[PatientGrant, patient_access("baselines.read")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[Proposal]:
    """The patient's proposals, newest first (the waiting one, if any, is the first)."""
    return await proposal_reads.of_patient(conn, grant.patient_id, limit)


@router.get("/baselines/waiting")
async def waiting_baselines(
    conn: Conn, scope: Annotated[PatientScopeFilter, patient_search("baselines.worklist")]
) -> list[Proposal]:
    """Proposals waiting for a decision among the patients the caller may see, oldest first (a task list)."""
    return await proposal_reads.waiting(conn, scope.municipality_id, scope.team_ids, scope.hidden)


def _example(schema: dict[str, Any]) -> None:
    # The review date must lie ahead, so the example is computed when the document is built.
    review = (datetime.now(OSLO).date() + timedelta(days=90)).isoformat()
    schema["examples"] = [
        {"decision": "approve", "reason": "Stabil etter oppstart, kjent lav metning", "review_by": review}
    ]


class DecisionRequest(BaseModel):
    """Approve or reject the waiting proposal. `proposal_id`, when given, must be the waiting one (so a nurse
    never decides on limits she has not seen); `review_by` is when the next proposal is due."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_example)

    decision: Literal["approve", "reject"]
    reason: str = Field(min_length=3, max_length=500)
    review_by: date
    proposal_id: int | None = Field(default=None, ge=1)

    @field_validator("review_by")
    @classmethod
    def _ahead(cls, value: date) -> date:
        today = datetime.now(OSLO).date()
        if not today < value <= today + timedelta(days=MAX_REVIEW_DAYS):
            raise ValueError(f"the review date must be after today and within {MAX_REVIEW_DAYS} days")
        return value

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if len(value.strip()) < 3:
            raise ValueError("give a reason of at least 3 characters")
        return value.strip()


@router.post("/patients/{patient_id}/baselines/decision", responses={409: {}, 422: {}})
async def decide_baseline(
    patient_id: UUID,
    body: DecisionRequest,
    conn: Conn,
    grant: Annotated[PatientGrant, patient_access("baselines.decide")],
) -> Proposal:
    """Approve (the limits become the patient's rule overrides, with the reason and review date) or reject."""
    waiting = await proposal_reads.waiting_for(conn, grant.patient_id)
    if waiting is None or (body.proposal_id is not None and body.proposal_id != waiting.id):
        raise HTTPException(409, "No such proposal is waiting for this patient; fetch the patient's proposals again.")
    decision = Decision(
        approve=body.decision == "approve",
        reason=body.reason,
        review_by=body.review_by,
        by=grant.principal.id,
        audit_id=grant.audit_id,
    )
    try:
        await decide(conn, grant.patient_id, waiting.id, decision)
    except NothingWaitingError as exc:
        raise HTTPException(409, "The proposal was decided by someone else meanwhile.") from exc
    except ProtocolError as exc:
        raise HTTPException(409, f"The limits no longer fit the patient's protocol: {exc}") from exc
    decided = await proposal_reads.by_id(conn, waiting.id)
    assert decided is not None
    return decided
