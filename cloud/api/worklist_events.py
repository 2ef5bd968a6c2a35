"""Live worklist updates by server-sent events, fanned out across cloud processes (cloud.worklist.live).

A stream lasts as long as the credential it was opened with: sign-out, revocation of its token or
deactivation of its owner ends it at once on whichever process holds it; an expired credential ends it within
`RECHECK_S`. A process told to stop ends its streams at once (cloud/serve.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from cloud.access import authn
from cloud.access.policy import PatientScopeFilter, patient_search
from cloud.worklist.live import CLOSING, RECHECK, Broadcaster

router = APIRouter(tags=["triage"])
KEEPALIVE_S = 15.0
# How soon a browser reconnects after its stream ends (a process stopping ends them all): the events of the gap
# are not replayed, so the page fetches its list again on reconnecting; the shorter the gap, the sooner.
RECONNECT_MS = 1000
RECHECK_S = 60.0


def _visible(event: dict[str, Any], scope: PatientScopeFilter) -> bool:
    if event.get("municipality_id") != str(scope.municipality_id):
        return False
    if scope.hidden and event.get("patient_id") in {str(p) for p in scope.hidden}:
        return False
    return scope.team_ids is None or event.get("care_team_id") in {str(t) for t in scope.team_ids}


async def _still_valid(request: Request, scope: PatientScopeFilter) -> bool:
    async with request.app.state.pool.connection() as conn:
        return await authn.still_valid(conn, scope.principal)


@router.get("/api/v1/worklist/events", response_class=EventSourceResponse)
async def worklist_events(
    request: Request, scope: Annotated[PatientScopeFilter, patient_search("worklist.live")]
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events for the caller's worklist (`opened`, `notified`, `escalated`, `acknowledged`, ...),
    from every cloud process. The data names the alert and patient ids, never a name or a value. The stream
    ends with an `ended` event when the caller signs out, their token is revoked or they are deactivated, and
    without one when the process stops (the client reconnects)."""
    live: Broadcaster = request.app.state.live
    async with live.subscribe(scope.principal.id) as subscription:
        yield ServerSentEvent(event="ready", data={"listening": live.listening.is_set()}, retry=RECONNECT_MS)
        next_check = time.monotonic() + RECHECK_S
        while True:
            try:
                event: dict[str, Any] | None = await asyncio.wait_for(subscription.queue.get(), KEEPALIVE_S)
            except TimeoutError:
                event = None
            if event is CLOSING:
                return  # the process stops; the browser's EventSource reconnects to a replica that runs
            if subscription.recheck.is_set() or time.monotonic() >= next_check:
                subscription.recheck.clear()
                next_check = time.monotonic() + RECHECK_S
                if not await _still_valid(request, scope):
                    yield ServerSentEvent(event="ended", data={"reason": "signed out, revoked or deactivated"})
                    return
            if event is None:
                if await request.is_disconnected():
                    return
                continue
            if event is not RECHECK and _visible(event, scope):
                yield ServerSentEvent(event=event["event"], id=str(event["alert_id"]), data=event)
