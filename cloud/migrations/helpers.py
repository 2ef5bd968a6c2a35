"""Helpers the migration scripts share: privileges of the runtime role.

The runtime role's name is not fixed (tests run many databases in one cluster), so it is passed in by
`cloud.db.migrate` and applied here. Append-only tables get SELECT and INSERT only; the runtime role
never receives DDL, TRUNCATE or ownership.
"""

from __future__ import annotations

from alembic import context, op


def runtime_role() -> str:
    """The runtime role this migration run grants to."""
    return str(context.config.attributes["runtime_role"])


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def grant_runtime(*tables: str, mutable: bool = False) -> None:
    """Grant the runtime role what it needs on `tables`: read and append; update/delete if mutable."""
    privileges = "SELECT, INSERT, UPDATE, DELETE" if mutable else "SELECT, INSERT"
    role = _quote(runtime_role())
    for table in tables:
        op.execute(f"GRANT {privileges} ON TABLE {_quote(table)} TO {role}")


def grant_sequences() -> None:
    """Identity columns need USAGE on their sequences for INSERT by the runtime role."""
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {_quote(runtime_role())}")


def grant_read(*tables: str) -> None:
    """Read-only access (for example to `alembic_version`, which `/readyz` compares with the head)."""
    role = _quote(runtime_role())
    for table in tables:
        op.execute(f"GRANT SELECT ON TABLE {_quote(table)} TO {role}")
