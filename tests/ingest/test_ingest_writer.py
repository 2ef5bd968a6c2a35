"""Group commit (cloud/ingest/writer.py, cloud/ingest/store.py): batches that wait for the process's writer are
stored together; each keeps its own outcome, a refused credential or a failing batch costs only its
own batch, a lost connection answers the whole group at once, and a gateway's second batch waits for the next
transaction (it must see the first one's rows)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.access.secrets import token_digest
from cloud.db.pool import make_pool
from cloud.ingest import store
from cloud.ingest.store import CredentialRefused, Upload
from cloud.ingest.validate import ValidReading, validate
from cloud.ingest.writer import IngestWriter
from device_profiles import load_catalogue
from tests.support.kits import Kit, enrol_kit, reading
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants


@pytest.fixture
def kits(client: TestClient, ingest_db: TestDatabase, tenants: Tenants) -> list[Kit]:
    return [enrol_kit(client, ingest_db.runtime_url, tenants.a.municipality_id, tenants.a.patients["nord"])
            for _ in range(4)]  # fmt: skip


@pytest.fixture
def groups(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[UUID]]]:
    """The gateways of every group the writers store, in order (the real store runs)."""
    seen: list[list[UUID]] = []
    real = store.store_group

    async def recorded(conn: Any, uploads: list[Upload]) -> Any:
        seen.append([u.gateway_id for u in uploads])
        return await real(conn, uploads)

    monkeypatch.setattr("cloud.ingest.writer.store_group", recorded)
    yield seen


def _upload(kit: Kit, municipality_id: UUID, seqs: list[int], value: float = 80.5) -> Upload:
    now = datetime.now(UTC)
    readings = []
    for seq in seqs:
        checked = validate(reading(seq, kit.scale, value=value), load_catalogue(), now)
        assert isinstance(checked, ValidReading), checked
        readings.append(checked)
    return Upload(
        gateway_id=kit.gateway_id, municipality_id=municipality_id, epoch=UUID(kit.epoch),
        readings=readings, rejections=[], credential_digest=token_digest(kit.credential),
    )  # fmt: skip


async def _store_all(url: str, uploads: list[Upload], writers: int = 1) -> list[Any]:
    """Hand every upload to one process's writers at once; each one's outcome or exception."""
    pool = make_pool(url, min_size=1, max_size=writers, timeout_s=10)
    await pool.open()
    try:
        writer = IngestWriter(pool, writers)
        return await asyncio.gather(*(writer.store(u) for u in uploads), return_exceptions=True)
    finally:
        await pool.close()


def _stored(url: str, gateway_id: UUID) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT seq FROM observations WHERE gateway_id = %s ORDER BY seq", (gateway_id,))
        return [seq for (seq,) in rows.fetchall()]


def test_batches_waiting_for_the_writer_are_stored_in_one_transaction_each_with_its_own_outcome(
    kits: list[Kit], ingest_db: TestDatabase, tenants: Tenants, groups: list[list[UUID]]
) -> None:
    municipality = tenants.a.municipality_id
    uploads = [_upload(kit, municipality, list(range(1, n + 2))) for n, kit in enumerate(kits)]
    outcomes = asyncio.run(_store_all(ingest_db.runtime_url, uploads))
    # All four were waiting when the writer started: one transaction.
    assert groups == [[k.gateway_id for k in kits]]
    assert [o.stored for o in outcomes] == [1, 2, 3, 4]
    assert [o.committed for o in outcomes] == [list(range(1, n + 2)) for n in range(4)]
    for n, kit in enumerate(kits):
        assert _stored(ingest_db.runtime_url, kit.gateway_id) == list(range(1, n + 2))


def test_a_refused_credential_in_a_group_refuses_only_its_batch(
    kits: list[Kit], ingest_db: TestDatabase, tenants: Tenants, groups: list[list[UUID]]
) -> None:
    with psycopg.connect(ingest_db.owner_url) as conn:
        conn.execute("UPDATE gateways SET revoked_at = now() WHERE id = %s", (kits[2].gateway_id,))
    uploads = [_upload(kit, tenants.a.municipality_id, [1, 2]) for kit in kits]
    outcomes = asyncio.run(_store_all(ingest_db.runtime_url, uploads))
    assert groups == [[k.gateway_id for k in kits]]
    assert isinstance(outcomes[2], CredentialRefused)
    assert _stored(ingest_db.runtime_url, kits[2].gateway_id) == []
    for n in (0, 1, 3):
        assert outcomes[n].stored == 2 and _stored(ingest_db.runtime_url, kits[n].gateway_id) == [1, 2]


def test_a_batch_the_database_refuses_fails_alone_and_the_rest_of_its_group_is_stored(
    kits: list[Kit], ingest_db: TestDatabase, tenants: Tenants, groups: list[list[UUID]]
) -> None:
    """A trigger in this test's own database refuses one gateway's rows, as a constraint would."""
    refused = kits[2].gateway_id
    with psycopg.connect(ingest_db.owner_url) as conn:
        conn.execute(
            "CREATE FUNCTION test_refuse_gateway() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.gateway_id = '{refused}' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$"
        )
        conn.execute("CREATE TRIGGER test_refuse BEFORE INSERT ON observations FOR EACH ROW "
                     "EXECUTE FUNCTION test_refuse_gateway()")  # fmt: skip
    try:
        uploads = [_upload(kit, tenants.a.municipality_id, [1]) for kit in kits]
        outcomes = asyncio.run(_store_all(ingest_db.runtime_url, uploads))
    finally:
        with psycopg.connect(ingest_db.owner_url) as conn:
            conn.execute("DROP TRIGGER test_refuse ON observations")
            conn.execute("DROP FUNCTION test_refuse_gateway()")
    # The group failed, then each of its batches was written on its own.
    assert groups == [[k.gateway_id for k in kits], *([k.gateway_id] for k in kits)]
    assert isinstance(outcomes[2], psycopg.errors.RaiseException)
    assert [outcomes[n].stored for n in (0, 1, 3)] == [1, 1, 1]
    assert [_stored(ingest_db.runtime_url, kit.gateway_id) for kit in kits] == [[1], [1], [], [1]]


def test_a_gateways_second_batch_waits_for_the_next_transaction_and_sees_the_first(
    kits: list[Kit], ingest_db: TestDatabase, tenants: Tenants, groups: list[list[UUID]]
) -> None:
    """A re-sent batch racing its first upload (possible after a timeout): never in the same transaction, so
    the second finds the first's rows and reports them as duplicates instead of storing them again."""
    first, other = kits[0], kits[1]
    municipality = tenants.a.municipality_id
    twice = _upload(first, municipality, [1, 2])
    uploads = [_upload(other, municipality, [1]), twice, twice, _upload(kits[2], municipality, [1])]
    outcomes = asyncio.run(_store_all(ingest_db.runtime_url, uploads))
    assert groups == [[other.gateway_id, first.gateway_id, kits[2].gateway_id], [first.gateway_id]]
    assert (outcomes[1].stored, outcomes[2].stored, outcomes[2].duplicates) == (2, 0, 2)
    assert _stored(ingest_db.runtime_url, first.gateway_id) == [1, 2]


def test_a_connection_lost_mid_group_answers_the_whole_group_at_once_and_stores_nothing(
    kits: list[Kit], ingest_db: TestDatabase, tenants: Tenants, groups: list[list[UUID]]
) -> None:
    """The database going away is no batch's fault: the group is not retried batch by batch (that would multiply
    the waits of an outage); every batch gets the error, nothing is acknowledged, and the next group is stored
    on a fresh connection. A trigger in this test's own database ends the group's connection from inside the
    INSERT, as a server restart would."""
    victim = kits[1].gateway_id
    with psycopg.connect(ingest_db.owner_url) as conn:
        conn.execute(
            "CREATE FUNCTION test_end_connection() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.gateway_id = '{victim}' THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF; "
            "RETURN NEW; END $$"
        )
        conn.execute("CREATE TRIGGER test_end BEFORE INSERT ON observations FOR EACH ROW "
                     "EXECUTE FUNCTION test_end_connection()")  # fmt: skip
    uploads = [_upload(kit, tenants.a.municipality_id, [1]) for kit in kits]
    try:
        outcomes = asyncio.run(_store_all(ingest_db.runtime_url, uploads))
    finally:
        with psycopg.connect(ingest_db.owner_url) as conn:
            conn.execute("DROP TRIGGER test_end ON observations")
            conn.execute("DROP FUNCTION test_end_connection()")
    assert groups == [[k.gateway_id for k in kits]]  # one attempt, no batch-by-batch retry
    assert all(isinstance(o, psycopg.OperationalError) for o in outcomes), outcomes
    assert [_stored(ingest_db.runtime_url, kit.gateway_id) for kit in kits] == [[], [], [], []]
    again = asyncio.run(_store_all(ingest_db.runtime_url, uploads))
    assert [o.stored for o in again] == [1, 1, 1, 1]
