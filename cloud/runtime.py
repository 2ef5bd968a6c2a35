"""Start-up of a cloud process: find or start the database, check it, run the HTTP server.

Every start-up failure is a `StartupError` whose message is one line naming the setting and the cause;
the CLI prints it and exits with status 2.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from alembic.util.exc import CommandError

from cloud.access.anchor_runner import AnchorConfigError, anchor_config
from cloud.config import CloudSettings
from cloud.db import migrate
from cloud.db.embedded import EmbeddedPostgres, EmbeddedPostgresError
from cloud.db.leftovers import Notice
from cloud.db.provision import provision, with_credentials
from common.i18n import N_

EMBEDDED_DATABASE, EMBEDDED_OWNER, EMBEDDED_RUNTIME = "tryggheim", "tryggheim_owner", "tryggheim_app"


class StartupError(Exception):
    """A cloud process cannot start; the message is the single line shown to the operator."""


@dataclass(frozen=True)
class Database:
    """Where a cloud process stores data, and with which roles; `notices` say what start-up did to an embedded
    database's state (a leftover server stopped, the schema migrated, a cluster recreated)."""

    runtime_url: str
    owner_url: str | None
    embedded: EmbeddedPostgres | None
    notices: tuple[Notice, ...] = ()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0].strip()


def _credentials_file(state_dir: Path) -> Path:
    return state_dir / "db-credentials"


def _embedded_passwords(state_dir: Path, notices: list[Notice] | None = None) -> tuple[str, str]:
    """Stable passwords for the embedded roles, kept 0600 in the state directory. An unreadable file gets new
    passwords (provisioning sets them on the roles), told to `notices`."""
    path = _credentials_file(state_dir)
    if path.exists():
        try:
            owner, runtime = path.read_text().split()
            return owner, runtime
        except (ValueError, UnicodeDecodeError):
            if notices is not None:
                notices.append(Notice(N_("{path} was unreadable; the database roles get new passwords"),
                                      {"path": path}))  # fmt: skip
    owner, runtime = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    path.write_text(f"{owner}\n{runtime}\n")
    path.chmod(0o600)
    return owner, runtime


@contextlib.contextmanager
def database(settings: CloudSettings) -> Iterator[Database]:
    """The database of this process: the configured one, or a private embedded PostgreSQL
    (provisioned and migrated) that is stopped when the context exits."""
    if settings.database_url:
        check_reachable(settings.database_url, "TRYGGHEIM_DATABASE_URL", settings.db_connect_timeout_s)
        yield Database(settings.database_url, settings.database_owner_url, None)
        return
    state = settings.state_dir / "db"
    try:
        state.mkdir(parents=True, exist_ok=True)
        embedded = EmbeddedPostgres(state)
        admin_url = embedded.start()
    except (EmbeddedPostgresError, OSError) as exc:
        raise StartupError(f"TRYGGHEIM_DATABASE_URL unset, embedded database: {_first_line(exc)}") from exc
    try:
        notices = embedded.notices
        owner_pw, runtime_pw = _embedded_passwords(state, notices)
        roles = provision(
            admin_url,
            database=EMBEDDED_DATABASE,
            owner_role=EMBEDDED_OWNER,
            runtime_role=EMBEDDED_RUNTIME,
            owner_password=owner_pw,
            runtime_password=runtime_pw,
        )
        _migrate(roles.owner_url, roles.runtime_role, state, notices)
        yield Database(roles.runtime_url, roles.owner_url, embedded, tuple(notices))
    finally:
        embedded.stop()


def _migrate(owner_url: str, runtime_role: str, state: Path, notices: list[Notice]) -> None:
    """Bring an embedded database made by an earlier version to this version's schema, saying so."""
    try:
        before = migrate.upgrade(owner_url, runtime_role=runtime_role)
    except CommandError as exc:  # a revision this code does not know: the database of a newer version
        raise StartupError(
            f"TRYGGHEIM_DATABASE_URL unset, embedded database in {state}: {_first_line(exc)}; "
            "this version cannot use it (move the state directory aside)"
        ) from exc
    head = migrate.head_revision()
    if before is not None and before != head:
        notices.append(Notice(N_("The embedded database was migrated from revision {old} to {new}"),
                              {"old": before, "new": head}))  # fmt: skip


def embedded_urls(state_dir: Path) -> tuple[str, str] | None:
    """(runtime URL, owner URL) of the embedded database a running process keeps under `state_dir` (the state
    directory it was started with), or None when none runs there, so that the command line can reach it."""
    state = state_dir / "db"
    try:
        port = int((state / "pg-port").read_text())
        owner_pw, runtime_pw = _credentials_file(state).read_text().split()
    except (OSError, ValueError):
        return None
    server = f"postgresql://127.0.0.1:{port}/postgres"
    owner = with_credentials(server, user=EMBEDDED_OWNER, password=owner_pw, database=EMBEDDED_DATABASE)
    runtime = with_credentials(server, user=EMBEDDED_RUNTIME, password=runtime_pw, database=EMBEDDED_DATABASE)
    try:
        with psycopg.connect(runtime, connect_timeout=2):
            return runtime, owner
    except psycopg.Error:
        return None


def check_reachable(url: str, variable: str, timeout_s: float) -> None:
    """Connect once; raise a one-line StartupError naming `variable` when that fails."""
    parts = urlsplit(url)
    where = f"{parts.hostname or 'socket'}:{parts.port or 5432}"
    try:
        with psycopg.connect(url, connect_timeout=max(1, int(timeout_s))) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        raise StartupError(f"{variable}: cannot connect to {where}: {_first_line(exc)}") from exc


def check_runtime_role(url: str) -> None:
    """The service must not run with DDL rights: refuse a superuser or a schema owner."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT rolsuper, has_schema_privilege(current_user, 'public', 'CREATE') "
            "FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    if row and (row[0] or row[1]):
        raise StartupError(
            "TRYGGHEIM_DATABASE_URL: connects as a role that can change the schema; give the service the "
            "runtime role and use TRYGGHEIM_DATABASE_OWNER_URL for `tryggheim db upgrade`"
        )


def check_schema(url: str) -> None:
    """The schema must be at the revision this code expects."""
    with psycopg.connect(url) as conn:
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except psycopg.errors.UndefinedTable:
            row = None
    head = migrate.head_revision()
    current = row[0] if row else None
    if current != head:
        raise StartupError(
            f"TRYGGHEIM_DATABASE_URL: schema is at revision {current or 'none'}, this version needs {head}; "
            "run `tryggheim db upgrade`"
        )


def check_audit_anchor(settings: CloudSettings) -> None:
    """A configured audit anchor must work: a readable key, a sink, and a file sink that can be appended to."""
    try:
        anchor_config(settings)
    except AnchorConfigError as exc:
        raise StartupError(str(exc)) from exc
