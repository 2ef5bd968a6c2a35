"""The restore drill, with real processes: a database filled through the service's own paths (staff and
tokens, an enrolled kit's readings, an alarm press evaluated into an alert, audited patient reads) is backed up
with `tryggheim admin backup`, restored with `tryggheim admin restore` into a fresh private PostgreSQL on a free
port, and compared table by table; the audit chain verifies there. What must be refused is refused with
nothing changed: a second restore without --force, a truncated copy, a copy without its manifest or with a bit
flipped; a restore that fails half-way restores nothing."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from cloud.access.roles import Role
from cloud.db import backup
from cloud.db.backup import manifest_path
from cloud.db.embedded import CLIENT_TOOLS, EmbeddedPostgres, EmbeddedPostgresError, find_bindir
from cloud.db.provision import Provisioned, provision
from tests.support.app import app_client
from tests.support.db import drain
from tests.support.kits import batch, enrol_kit, reading
from tests.support.proc import env_with, run_cli
from tests.support.services import TestDatabase, killable_postgres
from tests.support.services import test_database as fresh_database
from tests.support.tenants import build_tenants

pytestmark = pytest.mark.slow


@dataclass
class Drill:
    """The filled source, its backup file and the private server to restore into."""

    source: TestDatabase
    file: Path
    server: EmbeddedPostgres
    workdir: Path


def _counts(owner_url: str) -> dict[str, int]:
    """Rows of every table in the public schema (as the owner, who may read them all)."""
    with psycopg.connect(owner_url, row_factory=dict_row) as conn:
        names = [r["tablename"] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        counts = {}
        for name in names:
            row = conn.execute(sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(name))).fetchone()
            assert row is not None
            counts[name] = int(row["n"])
        return counts


def _fill(db: TestDatabase) -> None:
    """Staff, tokens and patients (audited), a kit's readings, an alarm evaluated into an alert, and audited
    reads of the patient's record."""
    tenants = build_tenants(db.runtime_url)
    patient = tenants.a.patients["nord"]
    with app_client(db.runtime_url, evaluation=False, escalation=False) as client:
        kit = enrol_kit(client, db.runtime_url, tenants.a.municipality_id, patient)
        weights = [reading(seq, kit.scale, value=80 + seq / 10) for seq in range(1, 21)]
        press = reading(21, kit.button, metric="alarm.button", value=1, unit="1")
        answer = client.post("/api/v1/ingest", json=batch(kit, [*weights, press]), headers=kit.auth)
        assert answer.status_code == 200 and answer.json()["stored"] == 21, answer.text
        drain(db.runtime_url)
        for _ in range(3):
            assert client.get(f"/api/v1/patients/{patient}", headers=tenants.a.auth(Role.NURSE)).status_code == 200


@pytest.fixture(scope="module")
def drill(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drill]:
    """A filled database backed up by the CLI, and a private server started for the restores."""
    workdir = tmp_path_factory.mktemp("backup")
    with fresh_database(pg_admin_url) as source, killable_postgres("trgt-restore-") as server:
        _fill(source)
        file = workdir / "tryggheim.dump"
        made = run_cli("admin", "backup", "--out", str(file), env=_env(source.roles))
        assert made.returncode == 0, made.stderr
        assert json.loads(made.stdout)["sha256"] == json.loads(manifest_path(file).read_text())["sha256"]
        yield Drill(source, file, server, workdir)


def _env(roles: Provisioned) -> dict[str, str]:
    return env_with(TRYGGHEIM_DATABASE_OWNER_URL=roles.owner_url, TRYGGHEIM_DATABASE_URL=roles.runtime_url)


def _target(drill: Drill, name: str, *, same_roles: bool) -> Provisioned:
    """An empty database on the private server; with the source's role names when it is to be restored into
    (the backup grants the runtime role by name)."""
    roles = drill.source.roles if same_roles else None
    return provision(drill.server.url(), database=name, owner_role=roles.owner_role if roles else f"{name}_owner",
                     runtime_role=roles.runtime_role if roles else f"{name}_app")  # fmt: skip


def test_backup_and_restore(drill: Drill) -> None:
    """One test, so the phases share the filled database and the private server (pytest-xdist's loadgroup does
    not keep a module's tests on one worker in the version locked here, and each set-up costs seconds)."""
    restore_drill_into_a_fresh_server(drill)
    a_truncated_or_unmanifested_backup_is_refused_before_anything_is_restored(drill)
    backup_never_overwrites(drill)
    the_client_tools_are_enough(drill)


def restore_drill_into_a_fresh_server(drill: Drill) -> None:
    """Restored row counts equal the source's for every public table, the audit chain verifies on the
    restored copy, a second restore without --force is refused with nothing changed, and --force replaces."""
    expected = _counts(drill.source.owner_url)
    assert expected["observations"] == 21 and expected["alerts"] >= 1 and expected["audit_log"] >= 10
    target = _target(drill, "restored", same_roles=True)
    done = run_cli("admin", "restore", str(drill.file), env=_env(target))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rows_match"] is True and report["tables"] == len(expected), report
    assert _counts(target.owner_url) == expected
    verified = run_cli("admin", "audit", "verify", env=_env(target))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["intact"] is True
    assert json.loads(verified.stdout)["checked"] == expected["audit_log"]

    again = run_cli("admin", "restore", str(drill.file), env=_env(target))
    assert again.returncode == 3 and again.stdout == ""
    assert len(again.stderr.strip().splitlines()) == 1 and "--force" in again.stderr, again.stderr
    assert _counts(target.owner_url) == expected

    # In process from here (each CLI start costs seconds of test time): --force replaces what is there.
    forced = backup.restore(target.owner_url, drill.file, force=True)
    assert forced.forced and forced.rows_match and _counts(target.owner_url) == expected


def _public_relations(owner_url: str) -> int:
    with psycopg.connect(owner_url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace").fetchone()
    return int(row[0]) if row else -1


def a_truncated_or_unmanifested_backup_is_refused_before_anything_is_restored(drill: Drill) -> None:
    """A copy cut in half (its manifest beside it) exits 4, and a copy without a manifest or with one bit
    flipped is refused too, each leaving the empty target empty; a restore failing half-way leaves nothing."""
    target = _target(drill, "untouched", same_roles=False)
    data = drill.file.read_bytes()
    cut = drill.workdir / "cut.dump"
    cut.write_bytes(data[: len(data) // 2])
    shutil.copy(manifest_path(drill.file), manifest_path(cut))
    refused = run_cli("admin", "restore", str(cut), env=_env(target))
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "truncated" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert _public_relations(target.owner_url) == 0

    bare = drill.workdir / "bare.dump"
    shutil.copy(drill.file, bare)
    with pytest.raises(backup.BadBackupError, match="no manifest"):
        backup.restore(target.owner_url, bare)
    flipped = drill.workdir / "flipped.dump"
    flipped.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    shutil.copy(manifest_path(drill.file), manifest_path(flipped))
    with pytest.raises(backup.BadBackupError, match="SHA-256"):
        backup.restore(target.owner_url, flipped)
    assert _public_relations(target.owner_url) == 0

    # A restore that fails half-way restores nothing: a composite type (not a table, so the target counts as
    # empty) takes the name of a table the backup creates, and pg_restore's one transaction rolls back.
    with psycopg.connect(target.owner_url, autocommit=True) as conn:
        conn.execute("CREATE TYPE alerts AS (x integer)")
    with pytest.raises(backup.BackupError, match="nothing restored") as failed:
        backup.restore(target.owner_url, drill.file)
    assert failed.value.exit_code == 1 and _public_relations(target.owner_url) == 1


def backup_never_overwrites(drill: Drill) -> None:
    """An existing file is never replaced by a backup (the file and its manifest unchanged)."""
    before = drill.file.read_bytes(), manifest_path(drill.file).read_bytes()
    with pytest.raises(backup.BackupError, match="never overwritten"):
        backup.backup(drill.source.owner_url, drill.file)
    assert (drill.file.read_bytes(), manifest_path(drill.file).read_bytes()) == before


def the_client_tools_are_enough(drill: Drill) -> None:
    """Backup and restore need PostgreSQL's client tools only, which is all the cloud image carries (Debian's
    `postgresql-client-15`; found by running `tryggheim admin backup` in the image, which looked for the server's
    binaries and gave up): a folder with nothing but pg_dump and pg_restore serves, and the server's look-up
    refuses it."""
    client = drill.workdir / "client-only"
    client.mkdir()
    for tool in CLIENT_TOOLS:
        (client / tool).symlink_to(find_bindir() / tool)
    file = drill.workdir / "client-only.dump"
    env = {**_env(drill.source.roles), "TRYGGHEIM_PG_BINDIR": str(client)}
    made = run_cli("admin", "backup", "--out", str(file), env=env)
    assert made.returncode == 0, made.stderr
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRYGGHEIM_PG_BINDIR", str(client))
        assert find_bindir(CLIENT_TOOLS) == client
        with pytest.raises(EmbeddedPostgresError, match="has no postgres, initdb"):
            find_bindir()  # the folder named is the only one looked in
        manifest, listing = backup.check_file(file)  # pg_restore --list, from the folder
    assert manifest.sha256 == json.loads(made.stdout)["sha256"] and "TABLE DATA public observations" in listing
