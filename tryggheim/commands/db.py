"""`tryggheim db ...`: schema migrations, run as the owner role."""

from __future__ import annotations

import json

import typer

from cloud.config import CloudSettings
from tryggheim.commands._startup import load_settings, reachable, required

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Database schema: upgrade and status.")


def _owner_settings() -> tuple[str, str]:
    settings = load_settings(CloudSettings)
    owner = "TRYGGHEIM_DATABASE_OWNER_URL"
    owner_url = required(settings.database_owner_url, owner, "migrations run as the role that owns the schema")
    runtime_url = required(
        settings.database_url, "TRYGGHEIM_DATABASE_URL", "it names the runtime role that migrations grant to"
    )
    return reachable(owner_url, owner, settings.db_connect_timeout_s), runtime_url


@app.command()
def upgrade() -> None:
    """Migrate the schema to the newest revision (safe to run twice, and from several replicas)."""
    from cloud.db import migrate

    owner_url, runtime_url = _owner_settings()
    before = migrate.upgrade(owner_url, runtime_role=migrate.role_of(runtime_url))
    after = migrate.status(owner_url)
    change = "already current" if before == after.current else f"{before or 'empty'} -> {after.current}"
    print(json.dumps({"revision": after.current, "change": change, "storage": after.storage}))


@app.command()
def status() -> None:
    """Show the schema revision, the newest one this code ships, and the storage path."""
    from cloud.db import migrate

    owner_url, _ = _owner_settings()
    st = migrate.status(owner_url)
    print(json.dumps({"revision": st.current, "head": st.head, "up_to_date": st.up_to_date, "storage": st.storage}))
