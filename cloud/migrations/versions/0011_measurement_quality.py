"""Measurement quality and quiet days: re-measure requests in the transition log, and the alert days a
baseline proposal left out.

A reading the device flagged as doubtful makes detection ask the patient to measure again; the request is a
transition (`remeasure_requested`, no alert) that the evaluation reads back per rule and the patient's and
the gateway's routes list, so a partial index keeps those look-ups off the rest of the log. `evidence_added`
(another rule's trigger joining an open episode) is allowed in the same change of the event check. The
check is added NOT VALID and validated afterwards, so the scan of the log holds no lock that stops
detection from writing.

A baseline proposal records the local days (Europe/Oslo) whose readings it left out because the patient had
an open clinical alert on them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE alert_transitions DROP CONSTRAINT alert_transitions_event_check;
        ALTER TABLE alert_transitions ADD CONSTRAINT alert_transitions_event_check CHECK (event IN ('triggered',
            'repeated', 'severity_changed', 'acknowledged', 'resolved', 'suppressed', 'pause_ended',
            'detector_failed', 'snoozed', 'commented', 'outcome', 'remeasure_requested', 'evidence_added'))
            NOT VALID;
        ALTER TABLE alert_transitions VALIDATE CONSTRAINT alert_transitions_event_check;
        CREATE INDEX alert_transitions_remeasure ON alert_transitions (patient_id, last_input_at)
            WHERE event = 'remeasure_requested';

        ALTER TABLE baseline_proposals ADD COLUMN left_out_days date[] NOT NULL DEFAULT '{}';
        """
    )


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
