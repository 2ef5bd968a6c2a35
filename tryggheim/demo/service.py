"""The demo municipality's service hours (its day team on weekdays 08:00-15:30, the response centre outside
them) and a watcher that prints whom each new alert reaches and when, so the person running the demo sees it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from cloud.access import directory
from cloud.db.pool import connect
from cloud.escalation import service_hours
from cloud.registry import OPERATOR
from common.i18n import N_
from common.timefmt import OSLO
from tryggheim.demo.console import gettext, say

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
POLL_S = 2.0


def document(team: str) -> dict[str, object]:
    """The demo's service settings: the day team's hours and the response centre out of hours."""
    day = [{"opens": "08:00", "closes": "15:30"}]
    return {"teams": [{"team": team, "weekly": dict.fromkeys(WEEKDAYS, day)}], "out_of_hours": "response_centre"}


async def _configure(url: str, municipality_number: str, team: str) -> None:
    async with await connect(url) as conn:
        municipality = await directory.municipality_id(conn, municipality_number)
        await service_hours.set_service(conn, municipality, document(team), OPERATOR)


def configure(runtime_url: str, municipality_number: str, team: str) -> None:
    """Store the demo municipality's service hours (idempotent)."""
    asyncio.run(_configure(runtime_url, municipality_number, team))


async def _new_routes(url: str, after: int) -> list[dict[str, object]]:
    async with await connect(url) as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT a.id, a.rule, a.escalation->'route'->>'recipient' AS recipient, "
            "(a.escalation->'route'->>'deliver_at')::float8 AS deliver_at, p.display_name AS patient "
            "FROM alerts a JOIN patients p ON p.id = a.patient_id WHERE a.id > %s AND a.escalation ? 'route' "
            "ORDER BY a.id",
            (after,),
        )
        return await cur.fetchall()


# Who an alert goes to, in the console's words (the route's recipient is a rota role).
RECIPIENTS = {"nurse": N_("the care team"), "care_team": N_("the care team"),
              "response_centre": N_("the response centre"), "team_lead": N_("the team lead")}  # fmt: skip


def _route_line(row: dict[str, object]) -> str:
    """One line for a new alert: whose, which rule, and who it reaches when (in this run's language)."""
    recipient = str(row["recipient"])
    who = gettext(RECIPIENTS[recipient]) if recipient in RECIPIENTS else recipient
    fields = {"id": row["id"], "rule": row["rule"], "patient": row["patient"], "who": who}
    deliver_at = row["deliver_at"]
    if not isinstance(deliver_at, float):
        return gettext("Alert {id} for {patient} ({rule}): to {who} at once").format(**fields)
    when = datetime.fromtimestamp(deliver_at, OSLO).strftime("%H:%M")
    return gettext("Alert {id} for {patient} ({rule}): waits for {who} until {when}").format(**fields, when=when)


def _print_route(row: dict[str, object]) -> None:
    say(_route_line(row))


def configure_and_watch(runtime_url: str, municipality_number: str, team: str) -> None:
    """Store the service hours and print each alert's route from now on (a daemon thread: it ends with the
    demo's process)."""
    configure(runtime_url, municipality_number, team)
    watch_routes(runtime_url, _print_route, threading.Event())


def watch_routes(
    runtime_url: str, tell: Callable[[dict[str, object]], None], stop: threading.Event
) -> threading.Thread:
    """Print (through `tell(row)`: id, rule, recipient, deliver_at, patient) the route of each alert that opens
    from now, until `stop` is set."""

    with psycopg.connect(runtime_url) as conn:  # alerts of an earlier run were told then
        newest = conn.execute("SELECT coalesce(max(id), 0) FROM alerts").fetchone()

    def run() -> None:
        seen = int(newest[0]) if newest else 0
        while not stop.is_set():
            try:
                for row in asyncio.run(_new_routes(runtime_url, seen)):
                    seen = max(seen, int(str(row["id"])))
                    tell(row)
            except psycopg.Error:  # the database is starting or stopping: try again on the next poll
                pass
            stop.wait(POLL_S)

    thread = threading.Thread(target=run, name="demo-routes", daemon=True)
    thread.start()
    return thread
