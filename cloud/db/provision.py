"""Create the database and its two roles: an owner that runs migrations and a runtime role.

Used by the embedded default, the test fixtures and the benchmarks. In production an operator creates
the roles (docs/operations.md) and hands the service only the runtime URL.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql


@dataclass(frozen=True)
class Provisioned:
    """The two connection URLs of a provisioned database."""

    owner_url: str
    runtime_url: str
    database: str
    owner_role: str
    runtime_role: str


def with_credentials(url: str, *, user: str, password: str, database: str | None = None) -> str:
    """The same server address with another user, password and (optionally) database."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    path = f"/{database}" if database else parts.path
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


def with_database(url: str, database: str) -> str:
    """The same URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def _ensure_role(conn: psycopg.Connection, role: str, password: str) -> None:
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    conn.execute(
        sql.SQL("{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
            sql.SQL(verb), sql.Identifier(role), sql.Literal(password)
        )
    )


def provision(
    admin_url: str,
    *,
    database: str,
    owner_role: str,
    runtime_role: str,
    owner_password: str | None = None,
    runtime_password: str | None = None,
) -> Provisioned:
    """Idempotently create both roles and the database (owned by the owner role)."""
    owner_password = owner_password or secrets.token_urlsafe(18)
    runtime_password = runtime_password or secrets.token_urlsafe(18)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        _ensure_role(conn, owner_role, owner_password)
        _ensure_role(conn, runtime_role, runtime_password)
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0").format(
                    sql.Identifier(database), sql.Identifier(owner_role)
                )
            )
    # Only the owner may create objects; PostgreSQL 15 already withholds CREATE on public from
    # PUBLIC, but a database created from an older template may not.
    owner_url = with_credentials(admin_url, user=owner_role, password=owner_password, database=database)
    with psycopg.connect(with_database(admin_url, database), autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(owner_role)))
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), sql.Identifier(runtime_role))
        )
    return Provisioned(
        owner_url=owner_url,
        runtime_url=with_credentials(admin_url, user=runtime_role, password=runtime_password, database=database),
        database=database,
        owner_role=owner_role,
        runtime_role=runtime_role,
    )


def drop(admin_url: str, *, database: str, roles: list[str]) -> None:
    """Drop a provisioned database and its roles (tests and benchmarks clean up with this)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        for role in roles:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
