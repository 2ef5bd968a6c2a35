"""Escalation: the policy copied onto each alert, municipality policies and notification endpoints, the
notifications outbox (one row per alert and step), comments, outcomes and the per-alert timestamps.
"""

from alembic import op

from cloud.migrations.helpers import grant_runtime, grant_sequences

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.execute(
        """
        -- The policy as it was when the alert opened (a later policy change does not rewrite a running
        -- escalation), where the chain stands, and the timestamps of the alert's life for latency metrics.
        ALTER TABLE alerts
            ADD COLUMN escalation          jsonb,
            ADD COLUMN next_step           integer CHECK (next_step >= 0),
            ADD COLUMN next_due_at         timestamptz,
            ADD COLUMN device_event_at     timestamptz,
            ADD COLUMN gateway_received_at timestamptz,
            ADD COLUMN cloud_committed_at  timestamptz,
            ADD COLUMN first_notified_at   timestamptz,
            ADD COLUMN on_site_at          timestamptz;
        -- The tick's query: what is due, oldest first, among open alerts only.
        CREATE INDEX alerts_escalation_due ON alerts (next_due_at) WHERE resolved_at IS NULL
            AND next_due_at IS NOT NULL;

        -- A municipality's own policy document (the shipped YAML default applies without one). Validated
        -- by the service before it is stored (alerts.escalation.parse_policies).
        CREATE TABLE escalation_policies (
            municipality_id uuid PRIMARY KEY REFERENCES municipalities(id),
            document        jsonb NOT NULL,
            updated_by      uuid,
            updated_at      timestamptz NOT NULL DEFAULT now()
        );

        -- Where a named role is reached: an e-mail address or a webhook URL with its signing secret.
        CREATE TABLE notification_endpoints (
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            target          text NOT NULL CHECK (target ~ '^[a-z][a-z0-9_]*$'),
            channel         text NOT NULL CHECK (channel IN ('email', 'webhook')),
            address         text NOT NULL CHECK (length(address) BETWEEN 3 AND 2000),
            secret          text CHECK (channel <> 'webhook' OR length(secret) >= 16),
            PRIMARY KEY (municipality_id, target, channel)
        );

        -- The outbox. Exactly one row per (alert, step): the unique key is what makes a step run once
        -- whichever process ticks. The idempotency key travels with every delivery attempt.
        CREATE TABLE notifications (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            alert_id        bigint NOT NULL REFERENCES alerts(id),
            step            integer NOT NULL CHECK (step >= 0),
            kind            text NOT NULL CHECK (kind IN ('step', 'renotify')),
            channel         text NOT NULL CHECK (channel IN ('in_app', 'email', 'webhook')),
            target          text NOT NULL,
            idempotency_key uuid NOT NULL UNIQUE,
            due_at          timestamptz NOT NULL,
            created_at      timestamptz NOT NULL,
            status          text NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'sent', 'dead', 'cancelled')),
            attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_attempt_at timestamptz NOT NULL,
            sent_at         timestamptz,
            last_error      text,
            receipt         jsonb,
            sent_by         text,
            CONSTRAINT notifications_one_per_step UNIQUE (alert_id, step)
        );
        CREATE INDEX notifications_outbox ON notifications (next_attempt_at) WHERE status = 'pending';

        -- Every delivery attempt, kept: the receipts a municipality shows when asked "was anyone told?".
        CREATE TABLE notification_attempts (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            notification_id bigint NOT NULL REFERENCES notifications(id),
            at              timestamptz NOT NULL,
            ok              boolean NOT NULL,
            detail          text NOT NULL,
            process         text NOT NULL
        );
        CREATE INDEX notification_attempts_notification ON notification_attempts (notification_id, id);

        CREATE TABLE alert_comments (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            alert_id        bigint NOT NULL REFERENCES alerts(id),
            author          uuid NOT NULL,
            body            text NOT NULL CHECK (length(btrim(body)) BETWEEN 1 AND 2000),
            created_at      timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX alert_comments_alert ON alert_comments (alert_id, id);

        -- What was done about an alert, with when it happened (`at`, told by the nurse) and when it was
        -- recorded.
        CREATE TABLE alert_outcomes (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            alert_id        bigint NOT NULL REFERENCES alerts(id),
            outcome         text NOT NULL CHECK (outcome IN ('resolved_by_phone', 'visit_dispatched', 'on_site',
                                'done', 'false_alarm')),
            at              timestamptz NOT NULL,
            note            text CHECK (note IS NULL OR length(note) <= 2000),
            recorded_by     uuid NOT NULL,
            recorded_at     timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX alert_outcomes_alert ON alert_outcomes (alert_id, id);

        ALTER TABLE alert_transitions DROP CONSTRAINT alert_transitions_event_check;
        ALTER TABLE alert_transitions ADD CONSTRAINT alert_transitions_event_check CHECK (event IN ('triggered',
            'repeated', 'severity_changed', 'acknowledged', 'resolved', 'suppressed', 'pause_ended',
            'detector_failed', 'snoozed', 'commented', 'outcome'));
        """
    )
    grant_runtime("escalation_policies", "notification_endpoints", "notifications", mutable=True)
    grant_runtime("notification_attempts", "alert_comments", "alert_outcomes")
    grant_sequences()


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
