"""SMS through an HTTP SMS gateway, delivery receipts, and rate limits per channel and municipality.

- `notification_endpoints` and `notifications` accept the channel `sms`. An SMS endpoint's `address` is the
  phone number; `options` holds the gateway's URL, body format and field template and the name of the
  environment variable with its credentials (never the credentials themselves); `secret` (sealed like a
  webhook's) signs the request and verifies the gateway's delivery receipts.
- `notifications.delivered_at`: when a receipt said the message reached the phone; status `suppressed`:
  a non-alarm notification a rate limit held back (the row and its attempt say so: nothing silently lost).
- `notification_rates`: sends, suppressions and alarm sends over the limit per municipality, channel and
  window; `noticed_at` is when the admins and the operations webhook were told the limit tripped (once).
- `alerts_open_alarm`: the open alarm alerts, so the outbox claims their notifications before any other.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03
"""

from alembic import op

from cloud.migrations.helpers import grant_runtime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE notification_endpoints DROP CONSTRAINT notification_endpoints_channel_check;
        ALTER TABLE notification_endpoints ADD CONSTRAINT notification_endpoints_channel_check
            CHECK (channel IN ('email', 'webhook', 'sms'));
        ALTER TABLE notification_endpoints DROP CONSTRAINT notification_endpoints_check;
        ALTER TABLE notification_endpoints ADD CONSTRAINT notification_endpoints_check
            CHECK (channel NOT IN ('webhook', 'sms') OR length(secret) >= 16);
        ALTER TABLE notification_endpoints ADD COLUMN options jsonb;

        ALTER TABLE notifications DROP CONSTRAINT notifications_channel_check;
        ALTER TABLE notifications ADD CONSTRAINT notifications_channel_check
            CHECK (channel IN ('in_app', 'email', 'webhook', 'sms'));
        ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
        ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
            CHECK (status IN ('pending', 'sent', 'dead', 'cancelled', 'suppressed'));
        ALTER TABLE notifications ADD COLUMN delivered_at timestamptz;

        -- The outbox claims alarms first from the few open alarm alerts, whatever else is queued.
        CREATE INDEX alerts_open_alarm ON alerts (id) WHERE resolved_at IS NULL
            AND escalation->>'event_class' = 'alarm';

        CREATE TABLE notification_rates (
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            channel         text NOT NULL,
            window_start    timestamptz NOT NULL,
            sent            integer NOT NULL DEFAULT 0,
            suppressed      integer NOT NULL DEFAULT 0,
            alarm_excess    integer NOT NULL DEFAULT 0,
            tripped_at      timestamptz,
            noticed_at      timestamptz,
            PRIMARY KEY (municipality_id, channel, window_start)
        );
        CREATE INDEX notification_rates_unnoticed ON notification_rates (tripped_at)
            WHERE tripped_at IS NOT NULL AND noticed_at IS NULL;
        """
    )
    grant_runtime("notification_rates", mutable=True)


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
