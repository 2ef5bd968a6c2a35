"""`raised_locally`, the gateway's local attempts on an alarm it could not deliver: checked strictly, kept with
the alarm in `local_alarm_attempts`, and the new ones taken from a later copy of an alarm already stored."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from tests.support.kits import Kit, batch, reading
from tests.support.services import TestDatabase

SIREN = {"at": "2026-12-04T05:00:02+00:00", "path": "siren", "ok": True, "detail": "siren hall-siren: answered"}
SMS = {"at": "2026-12-04T05:00:03+00:00", "path": "sms", "ok": False, "detail": "SMS not sent: route 1: refused (503)"}


def _press(kit: Kit, seq: int, attempts: list[dict[str, Any]] | None, **extra: Any) -> dict[str, Any]:
    body = reading(seq, kit.button, "alarm.button", 1, "1")
    return {**body, **extra} if attempts is None else {**body, "raised_locally": attempts, **extra}


def _history(db: TestDatabase, kit: Kit, seq: int) -> list[dict[str, Any]]:
    with psycopg.connect(db.runtime_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT at, path, ok, detail FROM local_alarm_attempts WHERE gateway_id = %s AND seq = %s ORDER BY id",
            (kit.gateway_id, seq),
        ).fetchall()
        stored = conn.execute(
            "SELECT count(*) AS n FROM observations WHERE gateway_id = %s AND seq = %s", (kit.gateway_id, seq)
        ).fetchone()
    assert stored is not None and stored["n"] == 1, "the alarm itself is stored once"
    return [{**row, "at": row["at"].isoformat()} for row in rows]


def test_local_history_is_kept_with_the_alarm_and_a_later_copy_brings_the_rest(
    client: TestClient, kit: Kit, ingest_db: TestDatabase
) -> None:
    press = _press(kit, 1, [SIREN])
    first = client.post("/api/v1/ingest", json=batch(kit, [press]), headers=kit.auth)
    assert first.json()["stored"] == 1, first.text
    assert _history(ingest_db, kit, 1) == [SIREN]
    # The gateway never heard the answer, raised the SMS too, and sent the alarm again: one row, both attempts.
    again = client.post("/api/v1/ingest", json=batch(kit, [{**press, "raised_locally": [SIREN, SMS]}]),
                        headers=kit.auth)  # fmt: skip
    assert again.json()["duplicates"] == 1 and again.json()["committed"] == [1]
    assert _history(ingest_db, kit, 1) == [SIREN, SMS]


def test_bad_local_histories_are_quarantined_as_malformed(
    client: TestClient, kit: Kit, ingest_db: TestDatabase
) -> None:
    bad = [
        _press(kit, 10, []),  # empty
        _press(kit, 11, [{**SIREN, "path": "pigeon"}]),  # unknown path
        _press(kit, 12, [{**SIREN, "extra": 1}]),  # a field the contract does not have
        _press(kit, 13, [{**SIREN, "at": "yesterday"}]),  # not a time
        _press(kit, 14, [{**SIREN, "detail": "x" * 201}]),  # too long
        _press(kit, 15, [{**SIREN, "ok": "yes"}]),  # not a boolean
        _press(kit, 16, [SIREN] * 51),  # too many
        reading(18, kit.scale, raised_locally=[SIREN]),  # not an alarm
    ]
    response = client.post("/api/v1/ingest", json=batch(kit, bad), headers=kit.auth)
    assert response.status_code == 200, response.text
    assert response.json()["quarantined"] == {"malformed": len(bad)}
    assert response.json()["stored"] == 0
