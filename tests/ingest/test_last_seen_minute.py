"""Ingest writes a device's last-seen moment at most once a minute per process (cloud/gateways/last_seen.py):
a moment less than a minute past the one written is left out, one a minute or more past it is written, a
device heard again after a silence is written at once, a transaction that rolls back is not taken for
written, and a gateway clock far ahead holds nothing back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg
import pytest

from cloud.access.secrets import token_digest
from cloud.db.pool import connect
from cloud.gateways import last_seen
from cloud.ingest import store
from cloud.ingest.store import Upload, store_group
from cloud.ingest.validate import ValidReading, validate
from device_profiles import load_catalogue
from tests.support.kits import Kit, reading
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants


def _upload(kit: Kit, municipality_id: UUID, seq: int, received_at: datetime) -> Upload:
    raw = reading(seq, kit.scale, measured_at=received_at - timedelta(seconds=5), received_at=received_at.isoformat())
    checked = validate(raw, load_catalogue(), datetime.now(UTC))
    assert isinstance(checked, ValidReading), checked
    return Upload(
        gateway_id=kit.gateway_id, municipality_id=municipality_id, epoch=UUID(kit.epoch), readings=[checked],
        rejections=[], credential_digest=token_digest(kit.credential),
    )  # fmt: skip


async def _store(url: str, upload: Upload) -> None:
    async with await connect(url) as conn:
        await store_group(conn, [upload])


def _seen(url: str, kit: Kit) -> datetime:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT s.seen_at FROM device_last_seen s JOIN devices d ON d.id = s.device_id "
            "JOIN gateways g ON g.municipality_id = d.municipality_id WHERE g.id = %s AND d.address = %s",
            (kit.gateway_id, kit.scale),
        ).fetchone()
    assert row is not None
    seen: datetime = row[0]
    return seen


def test_a_device_is_written_at_most_once_a_minute_and_at_once_after_a_silence(
    kit: Kit, ingest_db: TestDatabase, tenants: Tenants, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "_RECENT", last_seen.Recent())  # this process has written nothing yet
    url, municipality = ingest_db.runtime_url, tenants.a.municipality_id
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    for seq, after, written in (
        (101, timedelta(0), timedelta(0)),  # the first moment: written
        (102, timedelta(seconds=30), timedelta(0)),  # half a minute on: left out
        (103, timedelta(seconds=59), timedelta(0)),  # still within the minute of the one written
        (104, timedelta(seconds=60), timedelta(seconds=60)),  # a minute on: written
        (105, timedelta(minutes=90), timedelta(minutes=90)),  # heard again after a silence: written at once
    ):
        asyncio.run(_store(url, _upload(kit, municipality, seq, start + after)))
        assert _seen(url, kit) == start + written, seq


def test_a_rolled_back_group_is_not_taken_for_written(
    kit: Kit, ingest_db: TestDatabase, tenants: Tenants, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trigger in this test's own database refuses one reading of the kit's, so its group's closing batch
    fails after the moments to write were chosen: the next moment, ten seconds after the refused one, must
    still be written."""
    monkeypatch.setattr(store, "_RECENT", last_seen.Recent())
    url, municipality = ingest_db.runtime_url, tenants.a.municipality_id
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    asyncio.run(_store(url, _upload(kit, municipality, 201, start)))
    with psycopg.connect(ingest_db.owner_url) as conn:
        conn.execute(
            "CREATE FUNCTION test_refuse_202() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.gateway_id = '{kit.gateway_id}' AND NEW.seq = 202 THEN RAISE EXCEPTION 'refused'; END IF; "
            "RETURN NEW; END $$"
        )
        conn.execute("CREATE TRIGGER test_refuse BEFORE INSERT ON observations FOR EACH ROW "
                     "EXECUTE FUNCTION test_refuse_202()")  # fmt: skip
    try:
        with pytest.raises(psycopg.errors.RaiseException):
            asyncio.run(_store(url, _upload(kit, municipality, 202, start + timedelta(minutes=5))))
    finally:
        with psycopg.connect(ingest_db.owner_url) as conn:
            conn.execute("DROP TRIGGER test_refuse ON observations")
            conn.execute("DROP FUNCTION test_refuse_202()")
    assert _seen(url, kit) == start
    asyncio.run(_store(url, _upload(kit, municipality, 203, start + timedelta(minutes=5, seconds=10))))
    assert _seen(url, kit) == start + timedelta(minutes=5, seconds=10)


def test_a_moment_from_a_clock_far_ahead_does_not_stop_later_moments_being_written() -> None:
    """A gateway whose clock ran a year ahead (its readings quarantined, but heard all the same) must not hold
    the device's next moments back: the database keeps such a moment as its own clock's now, and so must the
    process's memory of what it wrote."""
    recent, gateway, now = last_seen.Recent(), UUID(int=1), datetime(2026, 12, 4, 12, tzinfo=UTC)
    ahead = {"scale": now + timedelta(days=365)}
    recent.written(gateway, recent.due(gateway, ahead, None, now=now), None, now=now)
    later = now + timedelta(minutes=2)
    assert recent.due(gateway, {"scale": later}, None, now=later) == {"scale": later}
    # The same in the gateway's clock: 30 s ahead of ours, the moment is judged as ours.
    recent.written(gateway, {"scale": later + timedelta(seconds=30)}, 30.0, now=later)
    assert recent.due(gateway, {"scale": later + timedelta(seconds=80)}, 30.0, now=later + timedelta(seconds=50)) == {}
    on_time = {"scale": later + timedelta(seconds=91)}
    assert recent.due(gateway, on_time, 30.0, now=later + timedelta(minutes=2)) == on_time
