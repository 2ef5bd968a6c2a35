"""`tryggheim admin homes|patients|consent|quarantine ...`: the registry from the operator's shell.

Every command that reads or writes patient data appends an audit record (principal `system`, the operating
system user, action `cli.<command>`) in the same way the API's policies do; changes go through the same
registry functions as the API, so they are validated and refused the same way.
"""

from __future__ import annotations

import getpass
import json
import uuid
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

import psycopg
import typer
from psycopg.rows import dict_row

from cloud.access import audit, directory
from cloud.registry import OPERATOR, consent, homes, release
from cloud.registry import patients as registry
from cloud.registry.identity import mask
from common.i18n import translations

homes_app = typer.Typer(no_args_is_help=True, help="Homes and their residents.")
patients_app = typer.Typer(no_args_is_help=True, help="Patients: register, list, lifecycle.")
consent_app = typer.Typer(no_args_is_help=True, help="Consent or assessment per supervision sensor.")
quarantine_app = typer.Typer(no_args_is_help=True, help="Quarantined readings: release to a patient.")

Municipality = Annotated[str, typer.Option("--municipality", "-m", help="Kommunenummer, four digits.")]
AsJson = Annotated[bool, typer.Option("--json", help="One JSON object per line instead of a table.")]
Lang = Annotated[str, typer.Option("--lang", help="Language of the table: nb or en.")]


async def audited(conn: psycopg.AsyncConnection[Any], municipality_id: UUID, action: str, patient: UUID | None) -> int:
    """Append the audit record of one command (before it touches patient data)."""
    record = audit.AuditRecord(
        municipality_id=municipality_id,
        principal_kind="system",
        principal_id=f"cli:{getpass.getuser()}",
        role=None,
        action=f"cli.{action}",
        resource=f"tryggheim admin {action}",
        outcome="allowed",
        correlation_id=str(uuid.uuid4()),
        patient_id=patient,
    )
    return await audit.write(conn, record)


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]], as_json: bool, lang: str) -> None:
    if as_json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False, default=str))
        return
    tr = translations(lang).gettext
    headers = [tr(title) for _key, title in columns]
    cells = [[str(row.get(key) if row.get(key) is not None else "") for key, _t in columns] for row in rows]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for line in cells:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def register(run: Any) -> list[tuple[typer.Typer, str]]:
    """Attach the commands, given admin.py's `_run` (database connection and error reporting)."""
    _home_commands(run)
    _patient_commands(run)
    _consent_commands(run)
    _quarantine_commands(run)
    return [(homes_app, "homes"), (patients_app, "patients"), (consent_app, "consent"), (quarantine_app, "quarantine")]


def _home_commands(run: Any) -> None:
    @homes_app.command("list")
    def homes_list(municipality: Municipality, as_json: AsJson = False, lang: Lang = "nb") -> None:
        """Homes of a municipality with their residents."""

        async def work(conn: psycopg.AsyncConnection[Any]) -> list[homes.Home]:
            mid = await directory.municipality_id(conn, municipality)
            await audited(conn, mid, "homes.list", None)
            return await homes.list_homes(conn, mid, None, 10_000, 0)

        found = run(work)
        rows = [{"id": str(h.id), "address": h.address, "access_notes": h.access_notes, "phone": h.phone,
                 "residents": ", ".join(r["display_name"] for r in h.residents)} for h in found]  # fmt: skip
        _table(rows, [("address", "Address"), ("residents", "Residents"), ("access_notes", "Access"),
                      ("phone", "Phone"), ("id", "Id")], as_json, lang)  # fmt: skip

    @homes_app.command("add")
    def homes_add(
        address: str,
        municipality: Municipality,
        access_notes: Annotated[str, typer.Option(help="Key box, electronic lock.")] = "",
        phone: Annotated[str | None, typer.Option()] = None,
    ) -> None:
        """Add a home."""

        async def work(conn: psycopg.AsyncConnection[Any]) -> UUID:
            mid = await directory.municipality_id(conn, municipality)
            await audited(conn, mid, "homes.add", None)
            return await homes.create(conn, municipality_id=mid, address=address, access_notes=access_notes,
                                      phone=phone)  # fmt: skip

        print(run(work))


def _patient_commands(run: Any) -> None:
    @patients_app.command("list")
    def patients_list(municipality: Municipality, as_json: AsJson = False, lang: Lang = "nb") -> None:
        """Patients of a municipality (identity numbers masked)."""

        async def work(conn: psycopg.AsyncConnection[Any]) -> list[dict[str, Any]]:
            mid = await directory.municipality_id(conn, municipality)
            await audited(conn, mid, "patients.list", None)
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT p.id, p.display_name AS name, p.lifecycle, p.national_id, t.name AS team, h.address AS home, "
                "(SELECT count(*) FROM patient_contacts c WHERE c.patient_id = p.id) AS contacts, "
                "(SELECT count(*) FROM supervision_consents s WHERE s.patient_id = p.id AND s.withdrawn_at IS NULL "
                "AND s.expires_at > now()) AS consents FROM patients p LEFT JOIN care_teams t ON t.id = p.care_team_id "
                "LEFT JOIN homes h ON h.id = p.home_id WHERE p.municipality_id = %s ORDER BY p.display_name",
                (mid,),
            )
            return await cur.fetchall()

        _ = translations(lang).gettext
        rows = [{**r, "id": str(r["id"]), "lifecycle": _(r["lifecycle"]),
                 "national_id": mask(r["national_id"]) if r["national_id"] else None} for r in run(work)]  # fmt: skip
        _table(rows, [("name", "Name"), ("lifecycle", "Lifecycle"), ("national_id", "National id"), ("team", "Team"),
                      ("home", "Home"), ("contacts", "Contacts"), ("consents", "Valid consents"), ("id", "Id")],
               as_json, lang)  # fmt: skip

    @patients_app.command("add")
    def patients_add(
        name: str,
        municipality: Municipality,
        national_id: Annotated[str | None, typer.Option(help="Fødselsnummer or D-number.")] = None,
        phone: Annotated[str | None, typer.Option()] = None,
        home: Annotated[UUID | None, typer.Option()] = None,
        team: Annotated[str | None, typer.Option(help="Care team name.")] = None,
        lifecycle: Annotated[str, typer.Option(help="referral, trial or active.")] = "referral",
    ) -> None:
        """Register a patient (the national identity number is validated, never printed)."""

        async def work(conn: psycopg.AsyncConnection[Any]) -> UUID:
            mid = await directory.municipality_id(conn, municipality)
            operator = audit.Actor.system(f"cli:{getpass.getuser()}")
            team_id = await directory.ensure_team(conn, mid, team, actor=operator) if team else None
            await audited(conn, mid, "patients.add", None)
            fields = registry.PatientFields(display_name=name, national_id=national_id, phone=phone, home_id=home,
                                            care_team_id=team_id)  # fmt: skip
            return await registry.create(conn, municipality_id=mid, fields=fields, lifecycle=lifecycle,  # type: ignore[arg-type]
                                         allow_synthetic=False, by=OPERATOR)  # fmt: skip

        print(run(work))

    @patients_app.command("lifecycle")
    def patients_lifecycle(
        patient: UUID,
        to: str,
        municipality: Municipality,
        reason: Annotated[str, typer.Option(help="Why (at least 3 characters).")],
    ) -> None:
        """Move a patient in the service; discharged and deceased stop all alerts and keep the record."""

        async def work(conn: psycopg.AsyncConnection[Any]) -> str:
            mid = await directory.municipality_id(conn, municipality)
            await audited(conn, mid, "patients.lifecycle", patient)
            return await registry.change_lifecycle(conn, municipality_id=mid, patient_id=patient, to=to,  # type: ignore[arg-type]
                                                   reason=reason, by=OPERATOR)  # fmt: skip

        print(json.dumps({"patient": str(patient), "from": run(work), "to": to}))


def _consent_commands(run: Any) -> None:
    @consent_app.command("add")
    def consent_add(
        patient: UUID,
        municipality: Municipality,
        device: Annotated[UUID, typer.Option(help="The supervision sensor.")],
        review_by: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="Review date (required).")],
        note: Annotated[str, typer.Option(help="What was consented to or assessed, and by whom.")],
        assessment: Annotated[bool, typer.Option(help="A documented assessment instead of a consent.")] = False,
    ) -> None:
        """Record a consent or assessment for one supervision sensor of a patient."""

        async def work(conn: psycopg.AsyncConnection[Any]) -> consent.ConsentRecord:
            mid = await directory.municipality_id(conn, municipality)
            await audited(conn, mid, "consent.add", patient)
            return await consent.record(
                conn, municipality_id=mid, patient_id=patient, device_id=device,
                basis="assessment" if assessment else "consent", note=note, review_by=date.fromisoformat(
                    review_by.date().isoformat()), valid_from=None, by=OPERATOR,
            )  # fmt: skip

        record = run(work)
        print(json.dumps({"id": record.id, "status": record.status, "expires_at": record.expires_at.isoformat()}))


def _quarantine_commands(run: Any) -> None:
    @quarantine_app.command("release")
    def quarantine_release(
        patient: UUID,
        municipality: Municipality,
        device: Annotated[UUID, typer.Option()],
        start: Annotated[datetime, typer.Option(help="Start of the range (ISO 8601 with offset).")],
        end: Annotated[datetime, typer.Option(help="End of the range, exclusive.")],
    ) -> None:
        """Release a device's `unassigned` quarantined readings in [start, end) to a patient (idempotent)."""
        if start.tzinfo is None or end.tzinfo is None:
            raise typer.BadParameter("start and end need a UTC offset, e.g. 2026-11-23T08:00:00+01:00")

        async def work(conn: psycopg.AsyncConnection[Any]) -> release.Released:
            mid = await directory.municipality_id(conn, municipality)
            audit_id = await audited(conn, mid, "quarantine.release", patient)
            return await release.release(conn, municipality_id=mid, device_id=device, patient_id=patient,
                                         start=start, end=end, by=OPERATOR, audit_id=audit_id)  # fmt: skip

        done = run(work)
        print(json.dumps({"release_id": done.release_id, "released": done.released,
                          "without_consent": done.without_consent}))  # fmt: skip
