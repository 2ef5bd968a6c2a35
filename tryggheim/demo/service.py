"""The demo municipality's service hours (its day team on weekdays 08:00-15:30, the response centre outside
them) and a watcher that prints the route each new alert took, so the person running the demo sees it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import psycopg
from psycopg.rows import dict_row

from cloud.access import directory
from cloud.escalation import service_hours
from cloud.registry import OPERATOR

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
POLL_S = 2.0


def document(team: str) -> dict[str, object]:
    """The demo's service settings: the day team's hours and the response centre out of hours."""
    day = [{"opens": "08:00", "closes": "15:30"}]
    return {"teams": [{"team": team, "weekly": dict.fromkeys(WEEKDAYS, day)}], "out_of_hours": "response_centre"}


async def _configure(url: str, municipality_number: str, team: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        municipality = await directory.municipality_id(conn, municipality_number)
        await service_hours.set_service(conn, municipality, document(team), OPERATOR)


def configure(runtime_url: str, municipality_number: str, team: str) -> None:
    """Store the demo municipality's service hours (idempotent)."""
    asyncio.run(_configure(runtime_url, municipality_number, team))


async def _new_routes(url: str, after: int) -> list[dict[str, object]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT id, rule, escalation->'route'->>'why' AS why FROM alerts WHERE id > %s "
            "AND escalation ? 'route' ORDER BY id",
            (after,),
        )
        return await cur.fetchall()


def _print_route(alert_id: int, rule: str, why: str) -> None:
    from tryggheim.demo.console import tell

    tell("Alert {id} ({rule}) routed: {why}", id=alert_id, rule=rule, why=why)


def configure_and_watch(runtime_url: str, municipality_number: str, team: str) -> None:
    """Store the service hours and print each alert's route from now on (a daemon thread: it ends with the
    demo's process)."""
    configure(runtime_url, municipality_number, team)
    watch_routes(runtime_url, _print_route, threading.Event())


def watch_routes(runtime_url: str, say: Callable[[int, str, str], None], stop: threading.Event) -> threading.Thread:
    """Print (through `say(alert id, rule, why)`) the route of each alert as it opens, until `stop` is set."""

    def run() -> None:
        seen = 0
        while not stop.is_set():
            try:
                for row in asyncio.run(_new_routes(runtime_url, seen)):
                    seen = max(seen, int(str(row["id"])))
                    say(seen, str(row["rule"]), str(row["why"]))
            except psycopg.Error:  # the database is starting or stopping: try again on the next poll
                pass
            stop.wait(POLL_S)

    thread = threading.Thread(target=run, name="demo-routes", daemon=True)
    thread.start()
    return thread
