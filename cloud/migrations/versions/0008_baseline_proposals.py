"""Baseline proposals: personal limits computed at the end of a trial period, approved or rejected by a nurse."""

from alembic import op

from cloud.migrations.helpers import grant_runtime, grant_sequences

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.execute(
        """
        -- One row per proposal. `proposed` rows wait on the worklist; a decision records who, when, why, the
        -- review date (when the next proposal is due) and the audit record of the request that decided.
        -- Approved limits are copied into rule_overrides in the same transaction as the decision.
        CREATE TABLE baseline_proposals (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            patient_id      uuid NOT NULL REFERENCES patients(id),
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            status          text NOT NULL DEFAULT 'proposed'
                                CHECK (status IN ('proposed', 'approved', 'rejected')),
            occasion        text NOT NULL CHECK (occasion IN ('trial_ended', 'review_due')),
            period_from     timestamptz NOT NULL,
            period_to       timestamptz NOT NULL,
            method          jsonb NOT NULL,
            rules           jsonb NOT NULL,
            skipped         jsonb NOT NULL DEFAULT '{}',
            created_at      timestamptz NOT NULL DEFAULT now(),
            decided_by      uuid,
            decided_at      timestamptz,
            reason          text CHECK (reason IS NULL OR length(btrim(reason)) >= 3),
            review_by       date,
            audit_id        bigint,
            CHECK (period_to > period_from),
            CHECK ((status = 'proposed') = (decided_at IS NULL)),
            CHECK (status = 'proposed' OR (decided_by IS NOT NULL AND reason IS NOT NULL AND review_by IS NOT NULL))
        );
        -- At most one proposal waits per patient, whichever replica's sweep made it.
        CREATE UNIQUE INDEX baseline_proposals_one_waiting ON baseline_proposals (patient_id)
            WHERE status = 'proposed';
        CREATE INDEX baseline_proposals_patient ON baseline_proposals (patient_id, id DESC);
        CREATE INDEX baseline_proposals_waiting ON baseline_proposals (municipality_id, created_at)
            WHERE status = 'proposed';
        """
    )
    grant_runtime("baseline_proposals", mutable=True)
    grant_sequences()


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
