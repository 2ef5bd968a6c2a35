"""The response centre's screen as JSON: open and recent safety alarms with what an operator needs, and the
share taken within the answer target (cloud/worklist/response_centre.py).

Taking an alarm is `POST /api/v1/alerts/{id}/acknowledge`, its outcome `POST /api/v1/alerts/{id}/outcomes`:
the same routes, access checks and records as for a nurse.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from cloud.access.policy import PatientScopeFilter, patient_search
from cloud.access.roles import RESPONSE_CENTRE_SCREEN
from cloud.requests import Conn, ReaderOf
from cloud.worklist.response_centre import ResponseCentre, screen

router = APIRouter(prefix="/api/v1", tags=["response centre"])


@router.get("/response-centre")
async def response_centre(
    conn: Conn,
    reader: ReaderOf,
    scope: Annotated[PatientScopeFilter, patient_search("response_centre.read", *RESPONSE_CENTRE_SCREEN)],
) -> ResponseCentre:
    """Safety alarms (alarm button, fall, door at night, and every alarm-urgency metric), newest first."""
    teams = None if scope.team_ids is None else sorted(scope.team_ids)
    return await screen(conn, scope.municipality_id, teams, reader)
