"""`tryggheim admin backup --out FILE` and `tryggheim admin restore FILE [--force]`: pg_dump / pg_restore in
custom format as the schema owner (TRYGGHEIM_DATABASE_OWNER_URL), with a manifest beside the file
(cloud/db/backup.py, docs/operations.md "Backup and restore").

Each prints one JSON object. Exit status: 0 done; 1 pg_dump or pg_restore failed (a restore then restored
nothing), or the restored row counts differ from the backup's; 2 a setting or argument is wrong; 3 the restore
target is not empty and --force was not given (nothing changed); 4 the backup file is missing, truncated,
altered or unreadable (nothing restored).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, NoReturn

import psycopg
import typer

from cloud.config import CloudSettings
from cloud.db import backup as dumps
from tryggheim.commands._startup import load_settings, reachable, required

OWNER = "TRYGGHEIM_DATABASE_OWNER_URL"
ADMIN = "TRYGGHEIM_DATABASE_ADMIN_URL"


def _owner_url() -> str:
    settings = load_settings(CloudSettings)
    url = required(settings.database_owner_url, OWNER, "backup and restore run as the role that owns the schema")
    return reachable(url, OWNER, settings.db_connect_timeout_s)


def _refuse(exc: dumps.BackupError | psycopg.Error) -> NoReturn:
    """One line on stderr and the exit status of the module docstring."""
    line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    print(f"tryggheim: {line}", file=sys.stderr)
    raise SystemExit(exc.exit_code if isinstance(exc, dumps.BackupError) else 1)


def register(app: typer.Typer) -> None:
    """Add `backup` and `restore` to the admin group."""

    @app.command("backup")
    def backup(
        out: Annotated[Path, typer.Option("--out", help="The new backup file (never overwritten).")],
    ) -> None:
        """Dump the service's database (pg_dump, custom format) into a new file, with a manifest beside it
        (size, SHA-256, schema revision, TimescaleDB version, row counts of the dumped snapshot)."""
        try:
            manifest = dumps.backup(_owner_url(), out)
        except (dumps.BackupError, psycopg.Error) as exc:
            _refuse(exc)
        summary = {k: v for k, v in asdict(manifest).items() if k != "rows"}
        print(json.dumps({**summary, "tables": len(manifest.rows), "manifest": str(dumps.manifest_path(out))}))

    @app.command("restore")
    def restore(
        file: Annotated[Path, typer.Argument(help="A backup made by `tryggheim admin backup`.")],
        force: Annotated[
            bool, typer.Option("--force", help="Restore into a database that is not empty, replacing its objects.")
        ] = False,
        admin_url: Annotated[
            str | None,
            typer.Option(
                envvar=ADMIN,
                show_default=False,
                help=f"A superuser's URL, for a TimescaleDB backup only (prefer the variable {ADMIN}).",
            ),
        ] = None,
    ) -> None:
        """Check the backup against its manifest and restore it into the configured database in one
        transaction; a target that is not empty is refused unless --force. A TimescaleDB backup is restored
        by a superuser in TimescaleDB's restore mode."""
        try:
            restored = dumps.restore(_owner_url(), file, force=force, admin_url=admin_url)
        except (dumps.BackupError, psycopg.Error) as exc:
            _refuse(exc)
        differ = {t: {"backup": n, "restored": restored.rows.get(t)} for t, n in restored.manifest.rows.items()
                  if restored.rows.get(t) != n}  # fmt: skip
        print(json.dumps({"restored": str(file), "database_from": restored.manifest.database,
                          "revision": restored.manifest.revision, "tables": len(restored.rows),
                          "rows_match": restored.rows_match, "differ": differ, "timescaledb": restored.timescaledb,
                          "forced": restored.forced}))  # fmt: skip
        if not restored.rows_match:
            raise typer.Exit(1)
