"""Backup and restore of the service's database with PostgreSQL's own tools (docs/operations.md, "Backup and
restore").

A backup is `pg_dump --format=custom` of the database, taken as the schema owner with the client tools
`embedded.find_bindir(CLIENT_TOOLS)` finds (PostgreSQL 15 or newer; the server's own binaries are not needed, so
the cloud image carries only Debian's client package), plus a manifest beside it (`FILE.manifest.json`): the
file's size and SHA-256, the schema revision, the TimescaleDB version if any, and each public table's row count
read in the very snapshot pg_dump dumps (`pg_export_snapshot`).

A restore checks the file before it touches the target: the manifest must be there and match the file byte for
byte, and `pg_restore --list` must read it (custom format keeps its table of contents at the start, so a
truncated file can still list: the checksum is what catches it). A target whose public schema holds any table,
view or sequence is refused unless forced (then `--clean --if-exists`). The restore is one transaction
(`--single-transaction`), so a failure restores nothing. A plain backup is restored as the owner and its
objects become the owner's (`--no-owner`); the runtime role's privileges are restored by name, so the target
server needs a runtime role of the same name. A TimescaleDB backup puts chunks into the extension's own schemas,
which only a superuser may write: it is restored as a superuser between `timescaledb_pre_restore()` and
`timescaledb_post_restore()`, each object keeping its recorded owner, so the owner role must exist by name too.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, LiteralString

import psycopg
from psycopg import conninfo, sql
from psycopg.rows import dict_row

from cloud.db.embedded import CLIENT_TOOLS, find_bindir

MANIFEST_SUFFIX = ".manifest.json"
FORMAT = "tryggheim-backup/1"
_CHUNK = 1 << 20
_PUBLIC_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
# Relations in the public schema that no extension owns: what a restore would collide with.
_OCCUPANTS = """
SELECT count(*) AS n FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')
"""


class BackupError(RuntimeError):
    """A backup or restore did not happen; `exit_code` tells the command line which kind (module docstring)."""

    exit_code = 1


class TargetNotEmptyError(BackupError):
    """The restore target already holds tables and `force` was not given; nothing was changed."""

    exit_code = 3


class BadBackupError(BackupError):
    """The backup file is missing, truncated, altered or unreadable; nothing was restored."""

    exit_code = 4


@dataclass(frozen=True)
class Manifest:
    """What a backup file is, written beside it as JSON."""

    format: str
    file: str
    bytes: int
    sha256: str
    database: str
    server_version: str
    revision: str | None
    timescaledb: str | None
    created_at: str
    rows: dict[str, int]


@dataclass(frozen=True)
class Restored:
    """The outcome of a restore: the manifest's counts against the restored tables' counts."""

    manifest: Manifest
    rows: dict[str, int]
    timescaledb: bool
    forced: bool

    @property
    def rows_match(self) -> bool:
        """True when every table the backup counted has the same rows after the restore."""
        return all(self.rows.get(table) == n for table, n in self.manifest.rows.items())


def manifest_path(file: Path) -> Path:
    """Where the manifest of backup `file` lives."""
    return file.with_name(file.name + MANIFEST_SUFFIX)


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _tool_env(url: str) -> tuple[str, dict[str, str]]:
    """A connection string without the password, and an environment carrying it (never on a command line,
    where `ps` would show it)."""
    params = conninfo.conninfo_to_dict(url)
    password = params.pop("password", None)
    env = dict(os.environ)  # PGSSLMODE and the like still apply; what the URL names takes precedence
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return conninfo.make_conninfo(**{k: str(v) for k, v in params.items() if v is not None}), env


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, check=False)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _count_rows(conn: psycopg.Connection[dict[str, Any]]) -> dict[str, int]:
    counts = {}
    for row in conn.execute(_PUBLIC_TABLES).fetchall():
        query = sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier("public", row["tablename"]))
        found = conn.execute(query).fetchone()
        counts[row["tablename"]] = int(found["n"]) if found else 0
    return counts


def _scalar(conn: psycopg.Connection[dict[str, Any]], query: LiteralString) -> Any:
    row = conn.execute(query).fetchone()
    return None if row is None else next(iter(row.values()))


def _timescaledb_version(conn: psycopg.Connection[dict[str, Any]]) -> str | None:
    found = _scalar(conn, "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    return None if found is None else str(found)


def backup(owner_url: str, out: Path) -> Manifest:
    """Dump the database of `owner_url` (as the schema owner) into the new file `out` and write its manifest;
    a half-written file is removed. Raises BackupError with pg_dump's own last line."""
    if out.exists():
        raise BackupError(f"{out} exists; a backup is never overwritten")
    partial = out.with_name(out.name + ".partial")
    target, env = _tool_env(owner_url)
    with psycopg.connect(owner_url, row_factory=dict_row) as conn:
        # pg_dump reads in the snapshot this transaction exports, so the counts are of exactly what it dumps.
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        snapshot = _scalar(conn, "SELECT pg_export_snapshot() AS id")
        rows = _count_rows(conn)
        database = _scalar(conn, "SELECT current_database() AS d")
        version = _scalar(conn, "SHOW server_version")
        timescaledb = _timescaledb_version(conn)
        revision = _scalar(conn, "SELECT version_num FROM alembic_version") if "alembic_version" in rows else None
        dumped = _run([str(find_bindir(CLIENT_TOOLS) / "pg_dump"), "--format=custom", f"--snapshot={snapshot}",
                       f"--file={partial}", f"--dbname={target}"], env)  # fmt: skip
        conn.rollback()
    if dumped.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump: {_last_line(dumped.stderr)}")
    partial.rename(out)
    manifest = Manifest(format=FORMAT, file=out.name, bytes=out.stat().st_size, sha256=_sha256(out),
                        database=str(database), server_version=str(version), revision=revision,
                        timescaledb=timescaledb, created_at=datetime.now(UTC).isoformat(), rows=rows)  # fmt: skip
    manifest_path(out).write_text(json.dumps(asdict(manifest), indent=1) + "\n")
    return manifest


def check_file(file: Path) -> tuple[Manifest, str]:
    """The backup's manifest and pg_restore's table of contents, once the file matches its manifest and
    pg_restore can read it; else BadBackupError naming what is wrong."""
    if not file.is_file():
        raise BadBackupError(f"{file}: no such file")
    try:
        raw = json.loads(manifest_path(file).read_text())
        manifest = Manifest(**raw)
    except FileNotFoundError:
        raise BadBackupError(f"{file}: no manifest beside it ({manifest_path(file).name}); cannot check it") from None
    except (ValueError, TypeError) as exc:
        raise BadBackupError(f"{manifest_path(file)}: not a backup manifest ({exc})") from None
    if manifest.format != FORMAT:
        raise BadBackupError(f"{manifest_path(file)}: unknown format {manifest.format!r}")
    size = file.stat().st_size
    if size != manifest.bytes:
        raise BadBackupError(f"{file}: {size} bytes, the manifest says {manifest.bytes} (truncated or replaced)")
    if _sha256(file) != manifest.sha256:
        raise BadBackupError(f"{file}: SHA-256 differs from the manifest's (corrupted or replaced)")
    listed = _run([str(find_bindir(CLIENT_TOOLS) / "pg_restore"), "--list", str(file)])
    if listed.returncode != 0:
        raise BadBackupError(f"{file}: pg_restore cannot read it: {_last_line(listed.stderr)}")
    return manifest, listed.stdout


@contextmanager
def _timescaledb_restoring(admin_url: str) -> Iterator[None]:
    """TimescaleDB's restore mode on the target database (as a superuser, connected to it): the extension
    created, its background workers stopped and its hooks off while pg_restore runs, then back to normal."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.execute("SELECT timescaledb_pre_restore()")
        try:
            yield
        finally:
            conn.execute("SELECT timescaledb_post_restore()")


def _as_superuser(admin_url: str | None, database: str) -> str:
    """The superuser URL pointed at the target database; a TimescaleDB restore cannot do without it."""
    if admin_url is None:
        raise BackupError("a TimescaleDB backup is restored by a superuser (its chunks go into the extension's "
                          "own schemas): give the superuser's URL (--admin-url)")  # fmt: skip
    return conninfo.make_conninfo(admin_url, dbname=database)


def restore(owner_url: str, file: Path, *, force: bool = False, admin_url: str | None = None) -> Restored:
    """Restore backup `file` into the database of `owner_url` in one transaction. A plain backup is restored
    as the owner, the objects becoming its own; a TimescaleDB one as the superuser of `admin_url`, keeping each
    object's recorded owner (so the target's roles must bear the source's names), in TimescaleDB's restore
    mode. Raises BadBackupError (file), TargetNotEmptyError (without `force`) or BackupError (pg_restore's last
    line, or no superuser for TimescaleDB); in each case nothing was restored."""
    manifest, toc = check_file(file)
    with psycopg.connect(owner_url, row_factory=dict_row, autocommit=True) as conn:
        occupied = int(_scalar(conn, _OCCUPANTS) or 0)
        database = str(_scalar(conn, "SELECT current_database() AS d"))
        if occupied and not force:
            raise TargetNotEmptyError(f"database {database} is not empty ({occupied} tables, views or sequences "
                                      "in public); give --force to replace what the backup holds")  # fmt: skip
        timescaledb = manifest.timescaledb is not None or " EXTENSION - timescaledb" in toc
        args = [str(find_bindir(CLIENT_TOOLS) / "pg_restore"), "--single-transaction", "--exit-on-error"]
        args += ["--clean", "--if-exists"] if force else []
        if timescaledb:
            superuser = _as_superuser(admin_url, database)
            target, env = _tool_env(superuser)
            with _timescaledb_restoring(superuser):
                done = _run([*args, f"--dbname={target}", str(file)], env)
        else:
            target, env = _tool_env(owner_url)
            done = _run([*args, "--no-owner", f"--dbname={target}", str(file)], env)
        if done.returncode != 0:
            raise BackupError(f"pg_restore (nothing restored): {_last_line(done.stderr)}")
        return Restored(manifest=manifest, rows=_count_rows(conn), timescaledb=timescaledb, forced=force)
