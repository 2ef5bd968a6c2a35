"""`tryggheim db ...`: schema migrations, run as the owner role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cloud.config import CloudSettings
from tryggheim.commands._startup import STATE_DIR_HELP, load_settings, reachable, required, use_state_dir

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Database schema: upgrade and status.")


@app.callback()
def db(state_dir: Annotated[Path | None, typer.Option("--state-dir", help=STATE_DIR_HELP)] = None) -> None:
    """Database schema: upgrade and status (on the configured database, or the database of a running demo)."""
    use_state_dir(state_dir)


def _owner_settings() -> tuple[str, str, CloudSettings]:
    settings = load_settings(CloudSettings)
    owner = "TRYGGHEIM_DATABASE_OWNER_URL"
    owner_url = required(settings.database_owner_url, owner, "migrations run as the role that owns the schema")
    runtime_url = required(
        settings.database_url, "TRYGGHEIM_DATABASE_URL", "it names the runtime role that migrations grant to"
    )
    return reachable(owner_url, owner, settings.db_connect_timeout_s), runtime_url, settings


@app.command()
def upgrade() -> None:
    """Migrate the schema to the newest revision (safe to run twice, and from several replicas); on TimescaleDB,
    set the compression and retention policies from the settings."""
    from cloud.db import migrate
    from cloud.db.timescale import StoragePolicy

    owner_url, runtime_url, settings = _owner_settings()
    storage = StoragePolicy(settings.observations_compress_after_days, settings.observations_retention_days)
    before = migrate.upgrade(owner_url, runtime_role=migrate.role_of(runtime_url), storage=storage)
    after = migrate.status(owner_url)
    change = "already current" if before == after.current else f"{before or 'empty'} -> {after.current}"
    print(json.dumps({"revision": after.current, "change": change, "storage": after.storage}))


@app.command()
def status() -> None:
    """Show the schema revision, the newest one this code ships, and the storage path."""
    from cloud.db import migrate

    owner_url, _, _ = _owner_settings()
    st = migrate.status(owner_url)
    print(json.dumps({"revision": st.current, "head": st.head, "up_to_date": st.up_to_date, "storage": st.storage}))
