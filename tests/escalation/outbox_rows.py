"""Notifications written straight into the outbox in bulk (as the engine's steps would write them), so a test
can put thousands of rows in front of the outbox within its time budget."""

from __future__ import annotations

from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

_ALERTS = (
    "INSERT INTO alerts (patient_id, rule, alert_class, severity, auto_resolve, opened_at, updated_at, message, "
    "escalation) SELECT %(patient)s, %(prefix)s || i, %(alert_class)s, %(severity)s, false, now(), now(), "
    "'test alert', %(escalation)s FROM generate_series(1, %(count)s) AS i RETURNING id"
)
_NOTIFICATIONS = (
    "INSERT INTO notifications (alert_id, step, kind, channel, target, idempotency_key, due_at, created_at, "
    "next_attempt_at) SELECT id, 1, 'step', %s, %s, gen_random_uuid(), now(), now(), "
    "clock_timestamp() - interval '1 second' FROM unnest(%s::bigint[]) AS id"
)


def enqueue(
    url: str, patient: UUID, count: int, *, channel: str, target: str, event_class: str = "clinical",
    severity: str = "yellow", prefix: str = "bulk.",
) -> list[int]:  # fmt: skip
    """Open `count` alerts of `event_class` and put one due notification each in the outbox; the alert ids."""
    alert_class = "clinical"  # the event class (what escalation and the limits read) is in `escalation`
    escalation = Jsonb({"event_class": event_class, "policy": {"name": "bulk", "classes": [event_class],
                        "steps": [{"after_minutes": 0, "channel": "in_app", "target": "care_team"}]}})  # fmt: skip
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        ids = [row[0] for row in conn.execute(_ALERTS, {"patient": patient, "prefix": prefix, "alert_class":
               alert_class, "severity": severity, "escalation": escalation, "count": count}).fetchall()]  # fmt: skip
        conn.execute(_NOTIFICATIONS, (channel, target, ids))
    return ids
