"""Liveness: when each device was last heard, kept apart from the clinical time of its readings.

`device_last_seen` holds, per device, the newest moment a message of its own reached a gateway: any reading
(stored or quarantined, whatever its device clock says) and the device list of each heartbeat. The liveness
rules and the fleet view read it (cloud/gateways/last_seen.py writes it). Filled here once from what the
database already holds: the receipt times of stored and quarantined readings and the newest heartbeat's
device list, each never later than when the cloud got it. That scans `observations` once.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from alembic import op

from cloud.migrations.helpers import grant_runtime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE device_last_seen (
            device_id       uuid PRIMARY KEY REFERENCES devices(id),
            seen_at         timestamptz NOT NULL
        );
        INSERT INTO device_last_seen (device_id, seen_at)
        SELECT device_id, max(seen_at) FROM (
            SELECT device_id, least(received_at, stored_at) AS seen_at FROM observations WHERE device_id IS NOT NULL
            UNION ALL
            SELECT d.id, least(q.received_at, q.stored_at) FROM quarantine q JOIN gateways g ON g.id = q.gateway_id
            JOIN devices d ON d.municipality_id = g.municipality_id AND d.address = q.device_ref
            WHERE q.received_at IS NOT NULL
            UNION ALL
            SELECT d.id, least((item->>'last_seen')::timestamptz - make_interval(secs => s.clock_skew_s),
                               s.reported_at)
            FROM gateway_status s JOIN gateways g ON g.id = s.gateway_id
            CROSS JOIN LATERAL jsonb_array_elements(coalesce(s.report->'devices', '[]'::jsonb)) item
            JOIN devices d ON d.municipality_id = g.municipality_id AND d.address = item->>'address'
            WHERE item->>'last_seen' IS NOT NULL
        ) heard GROUP BY device_id;
        """
    )
    grant_runtime("device_last_seen", mutable=True)


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
