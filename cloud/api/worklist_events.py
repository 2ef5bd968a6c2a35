"""Live worklist updates by server-sent events, fanned out across cloud processes (cloud.escalation.live)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from cloud.access.policy import PatientScopeFilter, patient_search
from cloud.escalation.live import Broadcaster

router = APIRouter(tags=["triage"])
KEEPALIVE_S = 15.0


def _visible(event: dict[str, Any], scope: PatientScopeFilter) -> bool:
    if event.get("municipality_id") != str(scope.municipality_id):
        return False
    return scope.team_ids is None or event.get("care_team_id") in {str(t) for t in scope.team_ids}


@router.get("/api/v1/worklist/events", response_class=EventSourceResponse)
async def worklist_events(
    request: Request, scope: Annotated[PatientScopeFilter, patient_search("worklist.live")]
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events for the caller's worklist (`opened`, `notified`, `escalated`, `acknowledged`, ...),
    from every cloud process. The data names the alert and patient ids, never a name or a value."""
    live: Broadcaster = request.app.state.live
    async with live.subscribe() as queue:
        yield ServerSentEvent(event="ready", data={"listening": live.listening.is_set()})
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                continue
            if _visible(event, scope):
                yield ServerSentEvent(event=event["event"], id=str(event["alert_id"]), data=event)
