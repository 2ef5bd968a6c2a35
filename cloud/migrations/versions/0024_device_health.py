"""Per-device health from the heartbeat: `device_health`, one row per device, the newest battery, signal, last
reading and error counts its gateway reported (cloud/gateways/device_health.py is the only writer; the fleet
view reads it).

A figure a heartbeat leaves out keeps its last value: a Zigbee sensor reports its battery about once a day,
and a signal is known only while the device is heard.

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-04
"""

from alembic import op

from cloud.migrations.helpers import grant_runtime

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE device_health (
            device_id         uuid PRIMARY KEY REFERENCES devices(id),
            gateway_id        uuid NOT NULL REFERENCES gateways(id),
            reported_at       timestamptz NOT NULL,
            last_reading_at   timestamptz,
            battery_pct       real CHECK (battery_pct BETWEEN 0 AND 100),
            battery_at        timestamptz,
            rssi_dbm          smallint CHECK (rssi_dbm BETWEEN -127 AND 20),
            link_quality      smallint CHECK (link_quality BETWEEN 0 AND 255),
            signal_at         timestamptz,
            decode_errors     bigint CHECK (decode_errors >= 0),
            connection_errors bigint CHECK (connection_errors >= 0)
        );
        """
    )
    grant_runtime("device_health", mutable=True)
