"""`tryggheim admin export --patient <id> --format fhir-ndjson [--out FILE]`: a patient's whole record as FHIR
NDJSON (the right of access), one resource per line, audited as `patient.export` by the operator
(cloud/interop/fhir/service.py)."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

import psycopg
import typer

from cloud.access import audit
from cloud.interop.fhir import service
from tryggheim.commands._startup import fail

Run = Callable[[Callable[[psycopg.AsyncConnection[Any]], Awaitable[Any]]], Any]


def command(run: Run) -> Callable[..., None]:
    """The `export` command, running its work through the admin group's `run` (database and errors)."""

    def export(
        patient: Annotated[UUID, typer.Option("--patient", help="The patient's id.")],
        format: Annotated[Literal["fhir-ndjson"], typer.Option("--format", help="Export format.")] = "fhir-ndjson",
        out: Annotated[
            Path | None, typer.Option("--out", help="Write to this file instead of standard output.")
        ] = None,
    ) -> None:
        """Export a patient's whole record as FHIR NDJSON (Patient, Devices, Observations,
        QuestionnaireResponses, DetectedIssues), audited."""
        actor = audit.Actor.system(f"cli:{getpass.getuser()}")

        async def work(conn: psycopg.AsyncConnection[Any]) -> int:
            sink = out.open("w", encoding="utf-8") if out is not None else sys.stdout
            count = 0
            try:
                async for resource in service.export_audited(conn, actor, patient):
                    sink.write(json.dumps(resource, ensure_ascii=False, separators=(",", ":")) + "\n")
                    count += 1
            finally:
                if out is not None:
                    sink.close()
            return count

        try:
            count = run(work)
        except service.NotFoundError:
            fail(f"no patient {patient}")
        if out is not None:
            print(f"{count} resources written to {out}", file=sys.stderr)

    return export
