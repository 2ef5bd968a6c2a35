"""Manual vitals: a reading a nurse enters at a home visit is an observation like a gateway's, with its
source and its author.

A manual reading has no gateway, outbox, sequence or device, so those columns become nullable; one CHECK
keeps the two kinds apart (a gateway reading has all four and no author, a manual one has an author and
the audit record of the request that entered it, and none of the four). The constraint is added NOT VALID
and validated afterwards, so the scan of existing rows holds no lock that stops ingest.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE observations
            ADD COLUMN source       text NOT NULL DEFAULT 'gateway',
            ADD COLUMN entered_by   uuid,
            ADD COLUMN audit_id     bigint,
            ALTER COLUMN gateway_id DROP NOT NULL,
            ALTER COLUMN outbox_epoch DROP NOT NULL,
            ALTER COLUMN seq DROP NOT NULL,
            ALTER COLUMN device_id DROP NOT NULL;
        ALTER TABLE observations ADD CONSTRAINT observations_source CHECK (
            (source = 'gateway' AND gateway_id IS NOT NULL AND outbox_epoch IS NOT NULL AND seq IS NOT NULL
                AND device_id IS NOT NULL AND entered_by IS NULL AND audit_id IS NULL)
            OR (source = 'manual' AND entered_by IS NOT NULL AND audit_id IS NOT NULL AND patient_id IS NOT NULL
                AND gateway_id IS NULL AND outbox_epoch IS NULL AND seq IS NULL AND device_id IS NULL)
        ) NOT VALID;
        ALTER TABLE observations VALIDATE CONSTRAINT observations_source;
        """
    )


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
