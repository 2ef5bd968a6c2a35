"""Degraded mode (issue 26): `local_alarm_attempts`, what a gateway did in the home for an alarm it could not
deliver (a Zigbee2MQTT siren or light, an SMS over its own route), one row per attempt, sent with the reading
as `raised_locally` and kept by its delivery key. Append-only: a copy of the alarm sent again later adds only
the attempts not yet kept (the unique key), so the alert's timeline shows every attempt once.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04
"""

from alembic import op

from cloud.migrations.helpers import grant_runtime, grant_sequences

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE local_alarm_attempts (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            gateway_id      uuid NOT NULL REFERENCES gateways(id),
            outbox_epoch    uuid NOT NULL,
            seq             bigint NOT NULL,
            at              timestamptz NOT NULL,
            path            text NOT NULL CHECK (path IN ('siren', 'light', 'sms')),
            ok              boolean NOT NULL,
            detail          text NOT NULL CHECK (length(detail) <= 200),
            stored_at       timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT local_alarm_attempts_once UNIQUE (gateway_id, outbox_epoch, seq, at, path, detail)
        )
        """
    )
    grant_runtime("local_alarm_attempts")
    grant_sequences()
