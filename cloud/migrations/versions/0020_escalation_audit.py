"""The escalation auditor's incidents (cloud/escalation/auditor.py), and sensor-silence alerts folded under
their home's gateway-offline alert (cloud/escalation/inhibition.py).

`ops_incidents`: one row per kind of trouble the auditor sees now (`overdue_steps`, `stale_alarm_outbox`),
shared by every process, so the operations webhook is told once per incident whichever process notices it
first; `notified_at` stays empty until a POST succeeded (a failed POST is tried again on the next check). The
row is deleted when the trouble is over, so the next incident is told again.

`alerts.inhibited_by`: the open gateway-offline alert a sensor-silence alert is folded under while the gateway
is down (its chain holds: `next_due_at` is empty); cleared when that alert resolves.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03
"""

from alembic import op

from cloud.migrations.helpers import grant_runtime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE ops_incidents (
            kind        text PRIMARY KEY CHECK (kind IN ('overdue_steps', 'stale_alarm_outbox')),
            since       timestamptz NOT NULL,
            count       integer NOT NULL CHECK (count > 0),
            notified_at timestamptz,
            notified_by text
        );
        ALTER TABLE alerts ADD COLUMN inhibited_by bigint REFERENCES alerts(id);
        ALTER TABLE alerts ADD CONSTRAINT alerts_inhibited_not_self CHECK (inhibited_by IS NULL OR inhibited_by <> id);
        CREATE INDEX alerts_inhibited ON alerts (inhibited_by) WHERE inhibited_by IS NOT NULL;
        """
    )
    grant_runtime("ops_incidents", mutable=True)


def downgrade() -> None:
    op.execute("ALTER TABLE alerts DROP COLUMN inhibited_by")
    op.execute("DROP TABLE ops_incidents")
