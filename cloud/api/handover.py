"""The shift handover as JSON (cloud/worklist/handover.py): for the caller's teams since a chosen time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import AwareDatetime

from cloud.access.policy import PatientScopeFilter, patient_search
from cloud.requests import Conn, ReaderOf
from cloud.worklist.handover import Handover, HandoverError, handover, period_start

router = APIRouter(prefix="/api/v1", tags=["handover"])


@router.get("/handover", responses={422: {}})
async def shift_handover(
    conn: Conn,
    reader: ReaderOf,
    scope: Annotated[PatientScopeFilter, patient_search("handover.read")],
    since: Annotated[AwareDatetime | None, Query(description="Start of the handover (default: 8 hours ago).")] = None,
) -> Handover:
    """Alerts opened, acknowledged and resolved (with outcomes) since `since`, alerts still open, paused
    patients and waiting baseline proposals. `since` may be neither in the future nor more than 7 days ago."""
    now = datetime.now(UTC)
    try:
        start = period_start(since, now)
    except HandoverError as refused:
        detail = [{"loc": ["query", "since"], "msg": refused.text(reader), "type": "value_error.handover"}]
        raise HTTPException(422, detail) from None
    teams = None if scope.team_ids is None else sorted(scope.team_ids)
    return await handover(conn, scope.municipality_id, teams, start, reader, now, scope.hidden)
