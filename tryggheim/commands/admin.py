"""`tryggheim admin ...`: municipalities, care teams, staff and the audit chain, straight on the database
(as the runtime role, from TRYGGHEIM_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from uuid import UUID

import psycopg
import segno
import typer

from alerts.escalation import PolicyError
from cloud.access import audit, citizen_accounts, directory, tokens
from cloud.access.roles import Role
from cloud.config import CloudSettings
from cloud.db.pool import connect
from cloud.escalation.configuration import EndpointError
from cloud.gateways import credentials, devices
from cloud.registry import assignments
from cloud.registry.errors import RegistryError
from cloud.registry.identity import IdentifierError, national_id
from tryggheim.commands import (
    _admin_audit,
    _admin_backup,
    _admin_escalation,
    _admin_export,
    _admin_interop,
    _admin_registry,
    _admin_service,
)
from tryggheim.commands._fleet import fleet
from tryggheim.commands._startup import (
    ADMIN_DATABASE,
    STATE_DIR_HELP,
    fail,
    load_settings,
    required,
    use_state_dir,
)

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Administration: municipalities, staff, teams, registry, audit."
)
municipality_app = typer.Typer(no_args_is_help=True, help="Municipalities.")
team_app = typer.Typer(no_args_is_help=True, help="Care teams.")
staff_app = typer.Typer(no_args_is_help=True, help="Staff accounts.")
gateway_app = typer.Typer(no_args_is_help=True, help="Gateways: enrolment codes and revocation.")
device_app = typer.Typer(no_args_is_help=True, help="Devices: registration to a gateway, assignment to a patient.")
citizen_app = typer.Typer(no_args_is_help=True, help="Local citizen accounts (demo, tests).")
app.add_typer(municipality_app, name="municipality")
app.add_typer(team_app, name="team")
app.add_typer(staff_app, name="staff")
app.add_typer(gateway_app, name="gateway")
app.add_typer(device_app, name="device")
app.add_typer(citizen_app, name="citizen")
app.command("fleet")(fleet)


@app.callback()
def admin(
    state_dir: Annotated[Path | None, typer.Option("--state-dir", help=STATE_DIR_HELP)] = None,
) -> None:
    """Administration: municipalities, staff, teams, registry, audit (on TRYGGHEIM_DATABASE_URL, or the
    database of a running demo)."""
    use_state_dir(state_dir)


T = TypeVar("T")
Municipality = Annotated[str, typer.Option("--municipality", "-m", help="Kommunenummer, four digits.")]


def _run(work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
    settings = load_settings(CloudSettings)
    url = required(settings.database_url, "TRYGGHEIM_DATABASE_URL", ADMIN_DATABASE)

    async def go() -> T:
        async with await connect(url) as conn:
            return await work(conn)

    try:
        return asyncio.run(go())
    except (
        directory.DirectoryError,
        credentials.EnrolmentError,
        tokens.TokenError,
        devices.AssignmentError,
        RegistryError,
        PolicyError,
        EndpointError,
    ) as exc:
        fail(str(exc))
    except psycopg.OperationalError as exc:
        fail(f"TRYGGHEIM_DATABASE_URL: {str(exc).strip().splitlines()[0]}")
    except psycopg.Error as exc:
        fail(f"database: {str(exc).strip().splitlines()[0]} (is the schema current? `tryggheim db status`)")


for sub_app, sub_name in [
    *_admin_registry.register(lambda work: _run(work)),
    *_admin_escalation.register(lambda work: _run(work)),
    *_admin_service.register(lambda work: _run(work)),
    *_admin_audit.register(lambda work: _run(work)),
    *_admin_interop.register(lambda work: _run(work)),
]:
    app.add_typer(sub_app, name=sub_name)
app.command("export")(_admin_export.command(lambda work: _run(work)))
_admin_backup.register(app)


@municipality_app.command("add")
def municipality_add(number: str, name: str, orgnr: Annotated[str | None, typer.Option()] = None) -> None:
    """Register a municipality (idempotent)."""
    print(_run(lambda c: directory.ensure_municipality(c, number, name, orgnr)))


def _operator() -> audit.Actor:
    """The person at the command line, as the actor of the changes they make."""
    return audit.Actor.system(f"cli:{getpass.getuser()}")


@team_app.command("add")
def team_add(name: str, municipality: Municipality) -> None:
    """Create a care team (idempotent; a new team is audited)."""

    async def work(conn: psycopg.AsyncConnection[Any]) -> Any:
        mid = await directory.municipality_id(conn, municipality)
        return await directory.ensure_team(conn, mid, name, actor=_operator())

    print(_run(work))


@staff_app.command("add")
def staff_add(
    username: str,
    municipality: Municipality,
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    role: Annotated[Role, typer.Option()],
    team: Annotated[list[str] | None, typer.Option(help="Care team name; repeat for several.")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read a local-account password from stdin.")] = False,
    national_id_stdin: Annotated[
        bool, typer.Option(help="Read the national identity number that binds HelseID sign-in from stdin.")
    ] = False,
) -> None:
    """Create a staff member (audited, like the teams it creates)."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    person = _national_id(sys.stdin.readline().strip()) if national_id_stdin else None
    operator = _operator()

    async def work(conn: psycopg.AsyncConnection[Any]) -> Any:
        mid = await directory.municipality_id(conn, municipality)
        teams = [await directory.ensure_team(conn, mid, t, actor=operator) for t in team or []]
        return await directory.add_staff(
            conn,
            actor=operator,
            municipality=mid,
            username=username,
            display_name=name,
            role=role,
            team_ids=teams,
            password=password,
            national_id=person,
        )

    print(_run(work))


def _national_id(raw: str) -> str:
    """A checked national identity number, or exit with what is wrong (never echoing the number)."""
    try:
        return national_id(raw, allow_synthetic=load_settings(CloudSettings).allow_synthetic_ids).number
    except IdentifierError as exc:
        raise typer.BadParameter(str(exc), param_hint="--national-id-stdin") from None


@citizen_app.command("add")
def citizen_add(
    username: str,
    municipality: Municipality,
    national_id_stdin: Annotated[
        bool, typer.Option(help="Read the person's national identity number from stdin (first line).")
    ] = False,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin (the next line).")] = False,
) -> None:
    """Create a local citizen account: bound by national id like an ID-porten sign-in, to the person's patient
    record or to their invitations as a relative (audited; refused in production with every local account)."""
    if not national_id_stdin or not password_stdin:
        raise typer.BadParameter("give both --national-id-stdin and --password-stdin (never on the command line)")
    person = _national_id(sys.stdin.readline().strip())
    password = sys.stdin.readline().rstrip("\n")

    async def work(conn: psycopg.AsyncConnection[Any]) -> Any:
        mid = await directory.municipality_id(conn, municipality)
        return await citizen_accounts.add(
            conn, _operator(), municipality=mid, username=username, password=password, person=person
        )

    print(_run(work))


@staff_app.command("list")
def staff_list(municipality: Municipality) -> None:
    """Staff of a municipality, one JSON object per line."""

    async def work(conn: psycopg.AsyncConnection[Any]) -> list[directory.StaffMember]:
        return await directory.list_staff(conn, await directory.municipality_id(conn, municipality))

    for member in _run(work):
        print(json.dumps({**asdict(member), "id": str(member.id)}, ensure_ascii=False, default=str))


@staff_app.command("token")
def staff_token(
    username: str,
    label: str = "cli",
    days: Annotated[int | None, typer.Option(help="Lifetime in days (default TRYGGHEIM_TOKEN_DAYS).")] = None,
) -> None:
    """Issue an API bearer token for a staff member (shown once; audited)."""
    lifetimes = tokens.Lifetimes.from_settings(load_settings(CloudSettings))

    async def work(conn: psycopg.AsyncConnection[Any]) -> str:
        staff_id, mid = await directory.staff_id_by_username(conn, username)
        _token, secret = await tokens.issue(
            conn, _operator(), staff_id=staff_id, municipality_id=mid, label=label, lifetime=lifetimes.choose(days)
        )
        return secret

    print(_run(work))


@staff_app.command("deactivate")
def staff_deactivate(username: str) -> None:
    """Deactivate a staff member at once: no sign-in, every session and token ended, open event streams closed
    on every cloud process (audited)."""

    async def work(conn: psycopg.AsyncConnection[Any]) -> directory.Deactivation | None:
        staff_id, mid = await directory.staff_id_by_username(conn, username)
        return await directory.deactivate(conn, _operator(), staff_id, mid, by=None)

    ended = _run(work)
    if ended is None:
        fail(f"no staff member {username!r}")
    print(json.dumps(asdict(ended), default=str))


@gateway_app.command("enrol")
def gateway_enrol(
    home: Annotated[UUID, typer.Option(help="The home the kit is installed in.")],
    cloud_url: Annotated[str, typer.Option(envvar="TRYGGHEIM_PUBLIC_URL", help="URL gateways reach.")] = (
        "http://127.0.0.1:8080"
    ),
    qr: Annotated[bool, typer.Option(help="Also print a terminal QR code.")] = True,
) -> None:
    """Print a single-use enrolment code (valid 24 h) for a kit, with a QR code of the URL and code."""
    code, expires = _run(lambda c: credentials.create_code(c, home))
    print(json.dumps({"code": code, "expires_at": expires.isoformat(), "cloud_url": cloud_url}))
    if qr:
        segno.make(f"{cloud_url}#enrol={code}", error="m").terminal(compact=True)


@gateway_app.command("revoke")
def gateway_revoke(gateway_id: UUID) -> None:
    """Revoke a gateway's credentials at once (for a lost or stolen kit)."""
    if not _run(lambda c: credentials.revoke(c, gateway_id)):
        fail(f"no active gateway {gateway_id}")
    print(json.dumps({"revoked": str(gateway_id)}))


@device_app.command("register")
def device_register(
    address: str,
    gateway: Annotated[UUID, typer.Option(help="Gateway the device talks to.")],
    profile: Annotated[str, typer.Option(help="Device catalogue id.")],
) -> None:
    """Register a device to a gateway from now on."""
    print(_run(lambda c: devices.register(c, gateway_id=gateway, address=address, profile_id=profile)))


@device_app.command("assign")
def device_assign(
    device_id: UUID,
    municipality: Municipality,
    patient: Annotated[UUID | None, typer.Option(help="Patient measured by it.")] = None,
    home: Annotated[UUID | None, typer.Option(help="Home whose residents share it (door, motion).")] = None,
    valid_from: Annotated[datetime | None, typer.Option("--from", help="Start (ISO 8601 with offset; now).")] = None,
    valid_to: Annotated[datetime | None, typer.Option("--to", help="End, exclusive (open when left out).")] = None,
) -> None:
    """Assign a device to a patient or a home for [from, to); an overlapping period is refused."""

    async def work(conn: psycopg.AsyncConnection[Any]) -> int:
        mid = await directory.municipality_id(conn, municipality)
        await _admin_registry.audited(conn, mid, "device.assign", patient)
        return await assignments.assign(
            conn, municipality_id=mid, device_id=device_id, patient_id=patient, home_id=home, valid_from=valid_from,
            valid_to=valid_to,
        )  # fmt: skip

    print(json.dumps({"device": str(device_id), "assignment": _run(work)}))
