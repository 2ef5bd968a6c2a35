"""Two migration runs at once (two pods of the Job, or compose's `migrate` on two hosts): one waits for the
other on the advisory lock, both succeed, and the schema is built once."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import psycopg

from cloud.db import migrate
from tests.support.proc import TRYGGHEIM, env_with
from tests.support.services import TestDatabase


def _waiting_for_the_lock(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = %s",
            (migrate._LOCK_KEY,),
        ).fetchone()
    return int(row[0]) if row else 0


def test_two_concurrent_upgrades_take_turns(empty_db: TestDatabase, tmp_path: Path) -> None:
    # The URLs reach the processes as secret files, as in compose and Kubernetes.
    (tmp_path / "url").write_text(empty_db.runtime_url + "\n")
    (tmp_path / "owner").write_text(empty_db.owner_url + "\n")
    env = env_with(
        TRYGGHEIM_DATABASE_URL_FILE=str(tmp_path / "url"), TRYGGHEIM_DATABASE_OWNER_URL_FILE=str(tmp_path / "owner")
    )
    head = migrate.head_revision()
    with psycopg.connect(empty_db.owner_url, autocommit=True) as holder:
        # Hold the lock so that both runs are certainly in flight at once; then let them go together.
        holder.execute("SELECT pg_advisory_lock(%s)", (migrate._LOCK_KEY,))
        runs = [
            subprocess.Popen(
                [TRYGGHEIM, "db", "upgrade"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        deadline = time.monotonic() + 30
        while _waiting_for_the_lock(empty_db.owner_url) < 2:
            assert time.monotonic() < deadline, "the two runs never both waited for the lock"
            assert all(run.poll() is None for run in runs), [run.communicate() for run in runs]
            time.sleep(0.1)
        holder.execute("SELECT pg_advisory_unlock(%s)", (migrate._LOCK_KEY,))
    results = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], results
    changes = sorted(json.loads(out)["change"] for out, _ in results)
    assert changes == sorted([f"empty -> {head}", "already current"])
    with psycopg.connect(empty_db.owner_url) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]
