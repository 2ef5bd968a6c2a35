"""A batch of at most `SMALL_BATCH` new readings is written with an INSERT, a larger one with a COPY: both
must store the same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from cloud.ingest.store import SMALL_BATCH
from tests.support.kits import Kit, batch, reading
from tests.support.services import TestDatabase

_COLUMNS = "device_id, patient_id, metric, value, unit, backfilled, context, measured_at"


def test_the_insert_and_the_copy_store_the_same_rows(client: TestClient, kit: Kit, ingest_db: TestDatabase) -> None:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    large = SMALL_BATCH + 1

    # Half an hour apart: the same content twice would be a re-sent record, not stored again.
    def readings(first: int, count: int, at: datetime) -> list[dict[str, object]]:
        return [
            reading(first + i, kit.scale, value=70 + i / 10, measured_at=at + timedelta(seconds=i),
                    **({"context": {"note": "x"}} if i % 2 else {}))
            for i in range(count)
        ]  # fmt: skip

    small_epoch, large_epoch = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
    for epoch, count, day in ((small_epoch, 3, at), (large_epoch, large, at + timedelta(minutes=30))):
        answer = client.post("/api/v1/ingest", json=batch(kit, readings(1, count, day), epoch), headers=kit.auth)
        assert answer.status_code == 200 and answer.json()["stored"] == count
    with psycopg.connect(ingest_db.owner_url) as conn:
        rows = {
            epoch: conn.execute(
                f"SELECT seq, {_COLUMNS} FROM observations WHERE outbox_epoch = %s ORDER BY seq",  # noqa: S608
                (epoch,),
            ).fetchall()
            for epoch in (small_epoch, large_epoch)
        }
    assert len(rows[small_epoch]) == 3 and len(rows[large_epoch]) == large
    for small, copied in zip(rows[small_epoch], rows[large_epoch][:3], strict=True):
        assert small[:-1] == copied[:-1] and small[-1] - copied[-1] == -timedelta(minutes=30)
    assert rows[small_epoch][1][-2] == {"note": "x"} and rows[small_epoch][0][-2] is None
