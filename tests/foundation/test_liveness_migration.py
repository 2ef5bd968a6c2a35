"""The liveness migration fills `device_last_seen` from what the database already holds, so an upgrade does not
make every device look never heard (and open a silent alert for each once its limit has passed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from cloud.db import migrate
from tests.support.services import TestDatabase

NOW = datetime.now(UTC).replace(microsecond=0)


def _liveness_revision() -> tuple[str, str]:
    """This migration's revision and the one before it, found by its file name (the number may change when
    other migrations land first)."""
    scripts = ScriptDirectory.from_config(migrate._config())
    found = next(s for s in scripts.walk_revisions() if s.path.endswith("_liveness.py"))
    assert isinstance(found.down_revision, str)
    return found.revision, found.down_revision


def _upgrade_to(db: TestDatabase, revision: str) -> None:
    engine = create_engine(db.owner_url.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            command.upgrade(migrate._config(connection, db.roles.runtime_role), revision)
            connection.commit()
    finally:
        engine.dispose()


def _seed(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, object]:
    """A gateway with four devices: one heard through a stored reading, one only through a quarantined one,
    one only in the newest heartbeat's list, one never."""
    one = conn.execute("INSERT INTO municipalities (kommunenummer, name) VALUES ('0301', 'Oslo') RETURNING id")
    municipality = one.fetchone()[0]  # type: ignore[index]
    gateway = conn.execute(
        "INSERT INTO gateways (municipality_id) VALUES (%s) RETURNING id", (municipality,)
    ).fetchone()[0]  # type: ignore[index]
    ids = {}
    for address in ("stored", "refused", "listed", "never"):
        ids[address] = conn.execute(
            "INSERT INTO devices (municipality_id, profile_id, address) VALUES (%s, 'aqara-motion-rtcgq11lm', %s) "
            "RETURNING id",
            (municipality, address),
        ).fetchone()[0]  # type: ignore[index]
    # A record measured two days ago and received an hour ago: heard an hour ago, not two days ago.
    conn.execute(
        "INSERT INTO observations (gateway_id, outbox_epoch, seq, device_id, metric, value, unit, t, measured_at, "
        "received_at, stored_at) VALUES (%s, gen_random_uuid(), 1, %s, 'motion', 1, '1', %s, %s, %s, %s)",
        (gateway, ids["stored"], NOW - timedelta(days=2), NOW - timedelta(days=2), NOW - timedelta(hours=1), NOW),
    )
    conn.execute(
        "INSERT INTO quarantine (gateway_id, device_ref, reason, payload, received_at, stored_at) "
        "VALUES (%s, 'refused', 'implausible_time', '{}', %s, %s)",
        (gateway, NOW + timedelta(hours=3), NOW - timedelta(minutes=5)),  # a gateway clock hours ahead
    )
    report = json.dumps({"devices": [{"address": "listed", "last_seen": (NOW - timedelta(minutes=2)).isoformat()}]})
    conn.execute(
        "INSERT INTO gateway_status (gateway_id, reported_at, gateway_clock, clock_skew_s, report) "
        "VALUES (%s, %s, %s, 60, %s)",
        (gateway, NOW, NOW + timedelta(minutes=1), report),
    )
    return ids


def test_the_upgrade_fills_when_each_device_was_last_heard(empty_db: TestDatabase) -> None:
    liveness, before = _liveness_revision()
    _upgrade_to(empty_db, before)
    with psycopg.connect(empty_db.owner_url, autocommit=True) as conn:
        ids = _seed(conn)
    _upgrade_to(empty_db, liveness)
    with psycopg.connect(empty_db.runtime_url) as conn:
        seen = dict(conn.execute("SELECT device_id, seen_at FROM device_last_seen").fetchall())
    assert seen == {
        ids["stored"]: NOW - timedelta(hours=1),  # received, not measured
        ids["refused"]: NOW - timedelta(minutes=5),  # never later than the cloud got it
        ids["listed"]: NOW - timedelta(minutes=3),  # the heartbeat's time less the gateway's clock skew
    }
