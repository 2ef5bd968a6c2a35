"""A state directory from an earlier version is migrated, or its cluster kept aside and a new one made, and
start-up says so; the admin and db commands reach a running demo's embedded database by its state directory."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from cloud import runtime
from cloud.config import CloudSettings
from cloud.db import migrate
from cloud.db.embedded import EmbeddedPostgres
from cloud.db.provision import provision
from tests.support.proc import reachable_state_dir, run_cli
from tryggheim.commands import _startup

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo")]


@pytest.fixture
def state() -> Iterator[Path]:
    """A state directory the database and broker users can reach."""
    with reachable_state_dir("trgt-hygiene-") as path:
        yield path


def _earlier_version(state: Path) -> str:
    """An embedded database as the previous schema revision left it; returns that revision."""
    server = EmbeddedPostgres(state / "db")
    admin_url = server.start()
    try:
        owner, app = runtime._embedded_passwords(state / "db")
        names = {"database": runtime.EMBEDDED_DATABASE, "owner_role": runtime.EMBEDDED_OWNER,
                 "runtime_role": runtime.EMBEDDED_RUNTIME}  # fmt: skip
        roles = provision(admin_url, **names, owner_password=owner, runtime_password=app)
        previous = ScriptDirectory.from_config(migrate._config()).get_revision(migrate.head_revision()).down_revision
        assert isinstance(previous, str)
        engine = create_engine(migrate._sqlalchemy_url(roles.owner_url), poolclass=NullPool)
        with engine.connect() as connection:
            command.upgrade(migrate._config(connection, roles.runtime_role), previous)
            connection.commit()
        engine.dispose()
    finally:
        server.stop()
    return previous


def test_an_earlier_versions_database_is_migrated_and_said_so(state: Path) -> None:
    previous = _earlier_version(state)
    (state / "db" / "db-credentials").write_text("garbled")
    settings = CloudSettings(state_dir=state, database_url=None)
    with runtime.database(settings) as db:
        said = [notice.text() for notice in db.notices]
        assert f"The embedded database was migrated from revision {previous} to {migrate.head_revision()}" in said
        assert any("db-credentials was unreadable" in line for line in said), said
        with psycopg.connect(db.runtime_url) as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (migrate.head_revision(),)
        _admin_commands_reach_it(state)


def test_a_cluster_of_another_postgresql_is_kept_aside_and_a_new_one_made(state: Path) -> None:
    server = EmbeddedPostgres(state)
    server.start()
    server.stop()
    (server.data_dir / "PG_VERSION").write_text("14\n")
    again = EmbeddedPostgres(state)
    url = again.start()
    try:
        [moved] = again.notices
        assert moved.values["old"] == "14" and (Path(str(moved.values["aside"])) / "PG_VERSION").read_text() == "14\n"
        assert "PostgreSQL 14" in moved.text() and str(moved.values["aside"]) in moved.text()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        again.stop()


def _admin_commands_reach_it(state: Path) -> None:
    """`--state-dir` reaches the running embedded database; so does TRYGGHEIM_STATE_DIR when no database URL is
    set (said in one line); a state directory where nothing runs is a clear error."""
    added = run_cli("admin", "--state-dir", str(state), "municipality", "add", "0301", "Oslo")
    assert added.returncode == 0, added.stderr
    with pytest.MonkeyPatch.context() as env, contextlib.redirect_stderr(io.StringIO()) as said:
        env.delenv("TRYGGHEIM_DATABASE_URL", raising=False)
        env.delenv("TRYGGHEIM_DATABASE_OWNER_URL", raising=False)
        env.setenv("TRYGGHEIM_STATE_DIR", str(state))
        _startup.use_state_dir(None)
        with psycopg.connect(os.environ["TRYGGHEIM_DATABASE_OWNER_URL"]) as conn:
            assert conn.execute("SELECT count(*) FROM municipalities WHERE kommunenummer = '0301'").fetchone() == (1,)
    assert said.getvalue() == f"tryggheim: using the database of the demo running in {state}\n"
    with pytest.raises(SystemExit) as refused, contextlib.redirect_stderr(io.StringIO()) as error:
        _startup.use_state_dir(state.parent / "nothing")
    assert refused.value.code == 2 and "no running embedded database there" in error.getvalue()
