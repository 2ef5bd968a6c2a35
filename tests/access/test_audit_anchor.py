"""Signed checkpoints anchor the audit chains outside the database (issue 17, finding 6).

The attacks are the probe's: as the database owner, delete the newest rows, or edit a row and recompute every
hash after it. The chain check alone calls both intact; `tryggheim admin audit verify --checkpoints` reports
the first as a truncation and the second as a rewrite, with the chain and the row.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg.rows import dict_row
from pydantic import ValidationError

from cloud.access import anchor, audit
from cloud.access.anchor_runner import AnchorConfigError, anchor_config, start_anchoring
from cloud.access.audit import _COLUMNS, AuditRecord, chain_hash
from cloud.config import CloudSettings, settings_error_line
from cloud.db.pool import connect, make_pool
from cloud.notify.webhook import KEY_HEADER
from tests.escalation.receivers import webhook_server
from tests.support.proc import cloud_serve, env_with, run_cli
from tests.support.services import TestDatabase


def _write(url: str, chains: dict[UUID | None, int]) -> None:
    """Append `n` records to each chain through the service's own writer."""

    async def go() -> None:
        async with await connect(url) as conn:
            for chain, n in chains.items():
                for i in range(n):
                    record = AuditRecord(
                        municipality_id=chain, principal_kind="system", principal_id="test", role=None,
                        action="patient.read", resource=f"/test/{i}", outcome="allowed", correlation_id=f"c{i}",
                    )  # fmt: skip
                    await audit.write(conn, record)

    asyncio.run(go())


def _ids(url: str, chain: UUID | None) -> list[int]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        query = "SELECT id FROM audit_log WHERE municipality_id IS NOT DISTINCT FROM %s ORDER BY id"
        return [row["id"] for row in conn.execute(query, (chain,))]


def _recompute_from(owner_url: str, chain: UUID, first_id: int) -> None:
    """What an owner covering their tracks does: relink and rehash every row of the chain from `first_id` on."""
    with psycopg.connect(owner_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT * FROM audit_log WHERE municipality_id = %s AND id >= %s ORDER BY id", (chain, first_id)
        ).fetchall()
        before = conn.execute(
            "SELECT hash FROM audit_log WHERE municipality_id = %s AND id < %s ORDER BY id DESC LIMIT 1",
            (chain, first_id),
        ).fetchone()
        prev = bytes(before["hash"]) if before else audit.GENESIS
        for row in rows:
            new = chain_hash(prev, [row[c] for c in _COLUMNS])
            conn.execute("UPDATE audit_log SET prev_hash = %s, hash = %s WHERE id = %s", (prev, new, row["id"]))
            prev = new


def _wait(condition: Callable[[], bool], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.1)


def _verify(db: TestDatabase, *args: str, **settings: str) -> tuple[int, dict[str, Any]]:
    env = env_with(TRYGGHEIM_DATABASE_URL=db.runtime_url, **settings)
    result = run_cli("admin", "audit", "verify", *args, env=env)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def _findings(report: dict[str, Any]) -> list[tuple[str, str | None, int | None]]:
    return [(f["kind"], f["chain"], f["head_id"]) for f in report["findings"]]


@pytest.mark.slow
def test_truncation_and_rewrite_after_a_checkpoint_are_reported(fresh_db: TestDatabase, tmp_path: Path) -> None:
    key_file, sink = tmp_path / "signing.key", tmp_path / "checkpoints.jsonl"
    made = run_cli("admin", "audit", "keygen", "--out", str(key_file))
    assert made.returncode == 0, made.stderr
    public = json.loads(made.stdout)["public_key"]
    assert key_file.stat().st_mode & 0o777 == 0o600

    truncated, rewritten, gapped, untouched = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), None
    _write(fresh_db.runtime_url, dict.fromkeys((truncated, rewritten, gapped, untouched), 5))
    env = env_with(TRYGGHEIM_DATABASE_URL=fresh_db.runtime_url, TRYGGHEIM_AUDIT_SIGNING_KEY_FILE=str(key_file),
                   TRYGGHEIM_AUDIT_CHECKPOINT_FILE=str(sink))  # fmt: skip
    taken = run_cli("admin", "audit", "checkpoint", env=env)
    assert taken.returncode == 0, taken.stderr
    assert sorted(c["count"] for c in json.loads(taken.stdout)["checkpoints"]) == [5, 5, 5, 5]
    _write(fresh_db.runtime_url, dict.fromkeys((truncated, rewritten, gapped, untouched), 2))  # life goes on

    shown = run_cli("admin", "audit", "public-key", env=env)
    assert json.loads(shown.stdout)["public_key"] == public
    # Untouched: clean, with the file and the key taken from the service's settings.
    code, report = _verify(fresh_db, TRYGGHEIM_AUDIT_SIGNING_KEY_FILE=str(key_file),
                           TRYGGHEIM_AUDIT_CHECKPOINT_FILE=str(sink))  # fmt: skip
    assert (code, report["intact"], report["findings"]) == (0, True, [])
    assert report["checkpoints"]["verified"] == 4

    heads = {chain: _ids(fresh_db.runtime_url, chain)[4] for chain in (truncated, rewritten, gapped)}
    with psycopg.connect(fresh_db.owner_url) as conn:
        # (a) The newest rows, the checkpointed head among them, are deleted.
        conn.execute("DELETE FROM audit_log WHERE municipality_id = %s AND id >= %s", (truncated, heads[truncated]))
        # (b) A row is edited and every hash after it recomputed.
        edited = _ids(fresh_db.runtime_url, rewritten)[1]
        conn.execute("UPDATE audit_log SET outcome = 'denied' WHERE id = %s", (edited,))
    _recompute_from(fresh_db.owner_url, rewritten, edited)
    # (c) An old row is deleted and the chain after it recomputed.
    dropped = _ids(fresh_db.runtime_url, gapped)[2]
    with psycopg.connect(fresh_db.owner_url) as conn:
        conn.execute("DELETE FROM audit_log WHERE id = %s", (dropped,))
    _recompute_from(fresh_db.owner_url, gapped, dropped + 1)

    code, report = _verify(fresh_db)  # the chain check alone is fooled by all three
    assert (code, report["intact"], report["breaks"], report["checkpoints"]) == (0, True, [], None)

    code, report = _verify(fresh_db, "--checkpoints", str(sink), "--public-key", public)
    assert code == 1 and report["intact"] is False and report["breaks"] == []
    assert sorted(_findings(report)) == sorted(
        [
            ("truncated", str(truncated), heads[truncated]),
            ("rewritten", str(rewritten), heads[rewritten]),
            ("truncated", str(gapped), heads[gapped]),
            ("rewritten", str(gapped), heads[gapped]),
        ]
    )
    problems = {(f["kind"], f["chain"]): f["problem"] for f in report["findings"]}
    assert f"row {heads[truncated]}" in problems["truncated", str(truncated)]
    assert "is gone; the chain now ends at row" in problems["truncated", str(truncated)]
    assert "recomputed" in problems["rewritten", str(rewritten)]
    assert "1 rows up to row" in problems["truncated", str(gapped)]
    assert all(f["source"].startswith(f"{sink}:") and f["checkpoint_at"] for f in report["findings"])


def test_forged_altered_and_foreign_checkpoint_lines_are_reported(fresh_db: TestDatabase, tmp_path: Path) -> None:
    chain = uuid.uuid4()
    _write(fresh_db.runtime_url, {chain: 3})
    key, stranger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()

    async def take() -> list[anchor.Checkpoint]:
        async with await connect(fresh_db.runtime_url) as conn:
            taken = await anchor.take(conn, key)
        assert taken is not None
        return taken

    (genuine,) = asyncio.run(take())
    line = genuine.signed_line(key)
    altered = json.dumps({**json.loads(line), "count": 2})  # fewer rows, to hide a truncation
    # A stranger's checkpoint claiming a different head hash: under our key id, and under its own.
    claim = anchor.Checkpoint(chain, genuine.head_id, bytes(32), 3, genuine.at, genuine.key_id)
    posing = claim.signed_line(stranger)
    own_id = anchor.key_id(stranger.public_key())
    foreign = anchor.Checkpoint(chain, genuine.head_id, bytes(32), 3, genuine.at, own_id).signed_line(stranger)
    sink = tmp_path / "checkpoints.jsonl"
    sink.write_text("\n".join([line, altered, posing, foreign, "{not json"]) + "\n")

    code, report = _verify(
        fresh_db, "--checkpoints", str(sink), "--public-key", anchor.encode_public_key(key.public_key())
    )
    assert code == 1 and report["checkpoints"]["verified"] == 1 and report["checkpoints"]["lines"] == 5
    assert [(f["kind"], f["source"]) for f in report["findings"]] == [
        ("bad_signature", f"{sink}:{n}") for n in (2, 3, 4, 5)
    ]
    problems = [f["problem"] for f in report["findings"]]
    assert "altered or forged" in problems[0] and "altered or forged" in problems[1]
    assert f"signed with key '{own_id}', not one of the public keys given" == problems[2]
    assert "not a checkpoint" in problems[3]


def test_a_tick_that_finds_another_replica_at_work_skips(fresh_db: TestDatabase) -> None:
    _write(fresh_db.runtime_url, {uuid.uuid4(): 1})
    key = Ed25519PrivateKey.generate()

    async def go() -> tuple[object, object]:
        async with (
            await connect(fresh_db.runtime_url, autocommit=False) as other,
            await connect(fresh_db.runtime_url) as conn,
        ):
            await other.execute("SELECT pg_advisory_xact_lock(hashtextextended('audit:checkpoint', 0))")
            busy = await anchor.take(conn, key)
            await other.rollback()
            return busy, await anchor.take(conn, key)

    busy, free = asyncio.run(go())
    assert busy is None
    assert isinstance(free, list) and len(free) == 1


@pytest.mark.slow
def test_the_service_checkpoints_to_a_file_and_a_webhook_on_its_schedule(
    fresh_db: TestDatabase, tmp_path: Path
) -> None:
    chain = uuid.uuid4()
    _write(fresh_db.runtime_url, {chain: 2})
    key = Ed25519PrivateKey.generate()
    public = anchor.encode_public_key(key.public_key())
    sink = tmp_path / "checkpoints.jsonl"
    with (
        webhook_server("hook-secret") as hook,
        cloud_serve(
            fresh_db.runtime_url, TRYGGHEIM_AUDIT_SIGNING_KEY=anchor.encode_private_key(key),
            TRYGGHEIM_AUDIT_CHECKPOINT_FILE=str(sink), TRYGGHEIM_AUDIT_CHECKPOINT_URL=f"{hook.url}/ok",
            TRYGGHEIM_AUDIT_CHECKPOINT_SECRET="hook-secret", TRYGGHEIM_AUDIT_CHECKPOINT_S="1",
            TRYGGHEIM_EVALUATION="false", TRYGGHEIM_ESCALATION="false",
        ),
    ):  # fmt: skip

        def counts() -> list[int]:
            return [json.loads(line)["count"] for line in sink.read_text().splitlines()]

        _wait(lambda: 2 in counts(), "a checkpoint at start-up")
        _write(fresh_db.runtime_url, {chain: 1})  # a row written while the service runs
        _wait(lambda: counts().count(3) >= 2 and len(hook.inbox.items) >= 2, "two more ticks")
    loaded = anchor.read_checkpoints([sink], [key.public_key()])
    assert not loaded.bad and sorted(cp.count for cp in loaded.checkpoints) == [2, 3]
    assert hook.inbox.rejected == 0 and len(hook.inbox.items) >= 2  # every POST carried a valid HMAC
    posted = tmp_path / "posted.jsonl"
    posted.write_text("".join(item.body for item in hook.inbox.items))
    assert all(item.headers["Content-Type"] == "application/x-ndjson" for item in hook.inbox.items)
    assert len({item.headers[KEY_HEADER] for item in hook.inbox.items}) == len(hook.inbox.items)
    assert set(posted.read_text().splitlines()) <= set(sink.read_text().splitlines())  # the same signed lines

    code, report = _verify(fresh_db, "--checkpoints", str(sink), "--checkpoints", str(posted), "--public-key", public)
    assert (code, report["findings"], report["checkpoints"]["distinct"]) == (0, [], 2)


def test_a_misconfigured_anchor_stops_the_service_with_one_line() -> None:
    key = anchor.encode_private_key(Ed25519PrivateKey.generate())
    result = run_cli(
        "cloud", "serve",
        env=env_with(
            # The database does not answer: the anchor is checked before it is ever contacted.
            TRYGGHEIM_DATABASE_URL="postgresql://nobody@127.0.0.1:9/none",
            TRYGGHEIM_AUDIT_SIGNING_KEY=key, TRYGGHEIM_AUDIT_CHECKPOINT_FILE="/no/such/dir/cp.jsonl",
        ),
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (
        2, "tryggheim: TRYGGHEIM_AUDIT_CHECKPOINT_FILE: cannot append to /no/such/dir/cp.jsonl: No such file or "
        "directory\n",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"audit_signing_key": "KEY"}, "TRYGGHEIM_AUDIT_SIGNING_KEY: set, but no sink"),
        ({"audit_signing_key": "KEY", "audit_signing_key_file": "/etc/hostname", "audit_checkpoint_file": "SINK"},
         "TRYGGHEIM_AUDIT_SIGNING_KEY_FILE: TRYGGHEIM_AUDIT_SIGNING_KEY is set as well"),
        ({"audit_signing_key_file": "/no/such/key", "audit_checkpoint_file": "SINK"},
         "TRYGGHEIM_AUDIT_SIGNING_KEY_FILE: cannot read"),
        ({"audit_signing_key_file": "/etc/hostname", "audit_checkpoint_file": "SINK"},
         "TRYGGHEIM_AUDIT_SIGNING_KEY_FILE: not an Ed25519 private key"),
        ({"audit_signing_key": "KEY", "audit_checkpoint_url": "http://127.0.0.1:9/"},
         "TRYGGHEIM_AUDIT_CHECKPOINT_SECRET: needed"),
        ({"audit_checkpoint_file": "SINK"}, "TRYGGHEIM_AUDIT_CHECKPOINT_FILE: set, but no signing key"),
        ({"audit_checkpoint_url": "http://127.0.0.1:9/"}, "TRYGGHEIM_AUDIT_CHECKPOINT_URL: set, but no signing key"),
    ],
)  # fmt: skip
def test_anchor_configuration_errors_name_the_variable(settings: dict[str, str], message: str, tmp_path: Path) -> None:
    key = anchor.encode_private_key(Ed25519PrivateKey.generate())
    values = {k: v.replace("KEY", key).replace("SINK", str(tmp_path / "cp.jsonl")) for k, v in settings.items()}
    with pytest.raises(AnchorConfigError) as error:
        anchor_config(CloudSettings(**values))  # type: ignore[arg-type]
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"audit_signing_key": "c2hvcnQ="}, "TRYGGHEIM_AUDIT_SIGNING_KEY: not an Ed25519 private key"),
        ({"audit_checkpoint_url": "ftp://example.org/"}, "TRYGGHEIM_AUDIT_CHECKPOINT_URL: must be an http"),
    ],
)
def test_anchor_settings_are_checked_when_read(settings: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as error:
        CloudSettings(**settings)  # type: ignore[arg-type]
    assert settings_error_line(error.value).startswith(message)


def test_without_a_key_the_service_says_anchoring_is_off(caplog: pytest.LogCaptureFixture) -> None:
    pool = make_pool("postgresql://nobody@127.0.0.1:9/none", min_size=0, max_size=1, timeout_s=1)
    with caplog.at_level("WARNING", logger="cloud.access.anchor_runner"):
        runner = asyncio.run(start_anchoring(pool, CloudSettings()))
    assert runner is None
    assert [r.getMessage() for r in caplog.records if "audit anchoring is off" in r.getMessage()]
