"""`tryggheim admin escalation service ...`: a municipality's service hours, rota and out-of-hours service,
and a preview of who an alert class reaches at a given time. Changes are audited like the other admin
commands; output is one JSON object per line."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import psycopg
import typer

from alerts.escalation.hours import OSLO
from cloud.access import directory
from cloud.escalation import service_hours
from cloud.registry import OPERATOR
from tryggheim.commands._admin_escalation import Run, _read_document, escalation_app
from tryggheim.commands._admin_registry import Municipality, audited

service_app = typer.Typer(no_args_is_help=True, help="Service hours, rota, out-of-hours service and routing.")


def register(run: Run) -> list[tuple[typer.Typer, str]]:
    """Add the `service` sub-command group under `admin escalation` (nothing at the top level)."""
    _commands(run)
    escalation_app.add_typer(service_app, name="service")
    return []


def _at(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("an ISO time, e.g. 2026-12-01T22:00 (Oslo time unless an offset is given)",
                                 param_hint="--at") from None  # fmt: skip
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=OSLO)).timestamp()


def _commands(run: Run) -> None:
    @service_app.command("show")
    def show(municipality: Municipality) -> None:
        """The stored service settings (null: alerts reach the worklist at once, around the clock)."""

        async def work(conn: psycopg.AsyncConnection[Any]) -> Any:
            found = await service_hours.service_in_effect(conn, await directory.municipality_id(conn, municipality))
            return None if found is None else found.model_dump(mode="json")

        print(json.dumps(run(work), ensure_ascii=False))

    @service_app.command("set")
    def set_(
        source: Annotated[str, typer.Argument(metavar="FILE", help="Service document (YAML or JSON); - for stdin.")],
        municipality: Municipality,
    ) -> None:
        """Validate and store hours, overrides, rota and the out-of-hours service (audited)."""
        document = _read_document(source)

        async def work(conn: psycopg.AsyncConnection[Any]) -> Any:
            mid = await directory.municipality_id(conn, municipality)
            async with conn.transaction():
                await audited(conn, mid, "escalation.set-service", None)
                return await service_hours.set_service(conn, mid, document, OPERATOR)

        parsed = run(work)
        print(json.dumps({"teams": [t.team for t in parsed.teams], "out_of_hours": parsed.out_of_hours}))

    @service_app.command("reset")
    def reset(municipality: Municipality) -> None:
        """Drop the service settings (audited)."""

        async def work(conn: psycopg.AsyncConnection[Any]) -> bool:
            mid = await directory.municipality_id(conn, municipality)
            async with conn.transaction():
                await audited(conn, mid, "escalation.reset-service", None)
                return await service_hours.reset_service(conn, mid)

        print(json.dumps({"removed": run(work)}))

    @service_app.command("preview")
    def preview(
        municipality: Municipality,
        event_class: Annotated[str, typer.Option(help="alarm, clinical, liveness or data_quality.")],
        severity: Annotated[str, typer.Option(help="red or yellow.")] = "red",
        at: Annotated[str, typer.Option(help="ISO time (Oslo unless an offset is given).")] = "",
        detector: Annotated[str | None, typer.Option(help="`event` for falls and night-door events.")] = None,
        team: Annotated[str | None, typer.Option(help="The care team's name.")] = None,
    ) -> None:
        """Who would be notified for this alert class at this time, from when, and why."""
        t = _at(at) if at else datetime.now(OSLO).timestamp()

        async def work(conn: psycopg.AsyncConnection[Any]) -> Any:
            return await service_hours.route_at(
                conn, await directory.municipality_id(conn, municipality), event_class=event_class,
                severity=severity, detector=detector, team=team, t=t,
            )  # fmt: skip

        chosen = run(work)
        if chosen is None:
            print(json.dumps({"recipient": "care_team", "deliver_at": None, "why": "no service hours stored"}))
            return
        deliver = None if chosen.deliver_at is None else datetime.fromtimestamp(chosen.deliver_at, OSLO).isoformat()
        print(json.dumps({**chosen.as_json(), "deliver_at": deliver}, ensure_ascii=False))
