"""`tryggheim admin interop ...`: a municipality's HelseID clients for VKP and PMD (cloud/interop/clients.py).
Changes are audited like the other admin changes (principal `system`, `cli:<operating system user>`); the key
file's path is stored, never the key; output is one JSON object per line."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
import typer

from cloud.access import audit, directory
from cloud.interop import clients, status
from cloud.interop.clients import ClientConfigError, ClientSettings
from cloud.interop.vkp import service as vkp
from tryggheim.commands._admin_escalation import Run
from tryggheim.commands._startup import fail

interop_app = typer.Typer(no_args_is_help=True, help="HelseID clients for the national services (VKP, PMD).")
Municipality = Annotated[str, typer.Option("--municipality", "-m", help="Kommunenummer, four digits.")]
ServiceOption = Annotated[str, typer.Option("--service", help="vkp or pmd.")]


def register(run: Run) -> list[tuple[typer.Typer, str]]:
    """Attach the commands, given admin.py's `_run` (database connection and error reporting)."""
    _commands(run)
    return [(interop_app, "interop")]


def _operator() -> audit.Actor:
    return audit.Actor.system(f"cli:{getpass.getuser()}")


def _checked(run: Run, work: Any) -> Any:
    try:
        return run(work)
    except ClientConfigError as exc:
        fail(str(exc))


def _active_from(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise typer.BadParameter("an ISO time with an offset, e.g. 2026-12-01T00:00+01:00")
    return moment


def _commands(run: Run) -> None:
    @interop_app.command("set-client")
    def set_client(
        municipality: Municipality,
        service: ServiceOption,
        issuer: Annotated[str, typer.Option(help="HelseID's issuer, e.g. https://helseid-sts.nhn.no.")],
        client_id: Annotated[str, typer.Option("--client-id", help="The client id HelseID registered.")],
        key_file: Annotated[str, typer.Option("--key-file", help="Absolute path of the private key (JWK or PEM).")],
        scope: Annotated[list[str], typer.Option("--scope", help="A scope to ask for; repeat for several.")],
        base_url: Annotated[str, typer.Option("--base-url", help="The service's FHIR base address.")],
        active_from: Annotated[
            str | None, typer.Option("--active-from", help="Send nothing from before this time (default: now).")
        ] = None,
    ) -> None:
        """Create or replace the municipality's client for a service and enable it (audited). The key file
        must be readable here and hold a private key."""
        settings = ClientSettings(issuer, client_id, key_file, tuple(scope), base_url, _active_from(active_from))

        async def work(conn: psycopg.AsyncConnection[Any]) -> dict[str, Any]:
            mid = await directory.municipality_id(conn, municipality)
            stored = await clients.set_client(conn, _operator(), mid, clients.service_of(service), settings)
            return stored.as_json()

        print(json.dumps(_checked(run, work), ensure_ascii=False))

    @interop_app.command("show")
    def show(
        municipality: Annotated[
            str | None, typer.Option("--municipality", "-m", help="Kommunenummer; all municipalities if absent.")
        ] = None,
    ) -> None:
        """The configured clients (the key file's path, never the key)."""

        async def work(conn: psycopg.AsyncConnection[Any]) -> list[dict[str, Any]]:
            mid = None if municipality is None else await directory.municipality_id(conn, municipality)
            return [client.as_json() for client in await clients.list_clients(conn, mid)]

        for row in _checked(run, work):
            print(json.dumps(row, ensure_ascii=False))

    @interop_app.command("disable")
    def disable(municipality: Municipality, service: ServiceOption) -> None:
        """Stop sending to a service for the municipality (audited); the settings are kept."""

        async def work(conn: psycopg.AsyncConnection[Any]) -> bool:
            mid = await directory.municipality_id(conn, municipality)
            return await clients.disable(conn, _operator(), mid, clients.service_of(service))

        print(json.dumps({"disabled": _checked(run, work)}))

    @interop_app.command("journal")
    def journal_state(alert: Annotated[int, typer.Option("--alert", help="The alert's id.")]) -> None:
        """Where one alert's journaling to VKP stands: its state, VKP code and every attempt (no patient data)."""

        async def work(conn: psycopg.AsyncConnection[Any]) -> dict[str, Any]:
            return await status.journal_of(conn, alert)

        print(json.dumps(_checked(run, work), ensure_ascii=False, default=str))

    @interop_app.command("catch-up")
    def catch_up(
        since: Annotated[str, typer.Option("--since", help="ISO time with an offset: journal alerts resolved since.")],
    ) -> None:
        """Freeze the documents of alerts resolved since `--since` that have none yet: after every process was down
        longer than the worker's one-week look-back. The running service sends them."""
        start = _active_from(since)
        assert start is not None

        async def work(conn: psycopg.AsyncConnection[Any]) -> int:
            now = datetime.now(UTC)
            return await vkp.sweep(conn, now=now, window=now - start)

        print(json.dumps({"added": _checked(run, work)}))
