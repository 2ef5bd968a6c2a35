"""The compose database bootstrap, and two migration runs at once on it (two pods of the Job, or compose's
`migrate` on two hosts): one waits for the other on the advisory lock, both succeed, the schema is built once.

Without Docker, on a private PostgreSQL: make-secrets.sh writes the secrets, the database image's roles script
runs with its /run/secrets paths pointed at them, and `tryggheim db upgrade` gets the URLs as secret files."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from cloud.db import migrate
from cloud.db.embedded import EmbeddedPostgres
from cloud.runtime import check_runtime_role, check_schema
from tests.deploy.conftest import DEPLOY
from tests.support.proc import TRYGGHEIM, env_with


@pytest.fixture
def compose_database(tmp_path: Path, private_pg: EmbeddedPostgres) -> Path:
    """A directory with `database_url` and `database_owner_url` files for a database bootstrapped as compose's."""
    shutil.copy(DEPLOY / "compose" / "make-secrets.sh", tmp_path / "make-secrets.sh")
    subprocess.run(["sh", str(tmp_path / "make-secrets.sh")], check=True, capture_output=True, timeout=60)
    secrets = tmp_path / "secrets"
    roles = (DEPLOY / "compose" / "initdb" / "10-tryggheim-roles.sh").read_text()
    (tmp_path / "roles.sh").write_text(roles.replace("/run/secrets/", f"{secrets}/"))
    admin = urlsplit(private_pg.url())
    # The image's superuser is `postgres`, whom the script connects as.
    with psycopg.connect(private_pg.url(), autocommit=True) as conn:
        conn.execute("CREATE ROLE postgres SUPERUSER LOGIN PASSWORD 'image-superuser'")
    pg_env = env_with(PGHOST=admin.hostname, PGPORT=str(admin.port), PGPASSWORD="image-superuser")
    subprocess.run(["sh", str(tmp_path / "roles.sh")], check=True, capture_output=True, timeout=60, env=pg_env)
    local = tmp_path / "local"
    local.mkdir()
    for name in ("database_url", "database_owner_url"):
        url = (secrets / name).read_text().replace("@db:5432/", f"@{admin.hostname}:{admin.port}/")
        (local / name).write_text(url + "\n")
    return local


def _waiting_for_the_lock(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = %s",
            (migrate._LOCK_KEY,),
        ).fetchone()
    return int(row[0]) if row else 0


def test_two_concurrent_upgrades_take_turns(compose_database: Path) -> None:
    env = env_with(
        TRYGGHEIM_DATABASE_URL_FILE=str(compose_database / "database_url"),
        TRYGGHEIM_DATABASE_OWNER_URL_FILE=str(compose_database / "database_owner_url"),
    )
    owner_url = (compose_database / "database_owner_url").read_text().strip()
    head = migrate.head_revision()
    with psycopg.connect(owner_url, autocommit=True) as holder:
        # Hold the lock so that both runs are certainly in flight at once; then let them go together.
        holder.execute("SELECT pg_advisory_lock(%s)", (migrate._LOCK_KEY,))
        runs = [
            subprocess.Popen(
                [TRYGGHEIM, "db", "upgrade"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        deadline = time.monotonic() + 30
        while _waiting_for_the_lock(owner_url) < 2:
            assert time.monotonic() < deadline, "the two runs never both waited for the lock"
            assert all(run.poll() is None for run in runs), [run.communicate() for run in runs]
            time.sleep(0.1)
        holder.execute("SELECT pg_advisory_unlock(%s)", (migrate._LOCK_KEY,))
    results = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], results
    changes = sorted(json.loads(out)["change"] for out, _ in results)
    assert changes == sorted([f"empty -> {head}", "already current"])
    with psycopg.connect(owner_url) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]
    # The runtime role the roles script made is what the service accepts: no DDL, schema current.
    runtime_url = (compose_database / "database_url").read_text().strip()
    check_runtime_role(runtime_url)
    check_schema(runtime_url)
