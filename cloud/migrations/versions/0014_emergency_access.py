"""Break-the-glass and blocking (sperring): emergency access grants and the patient's blocks.

`emergency_access` holds one row per break-the-glass: a staff member opens a patient's record outside their
care teams for a reason from a configured list (`reason_code`; the free-text `note` is for the reviewer, never
shown to the patient), until `expires_at`; the team lead reviews it (`pending` -> `accepted` | `reported`).
`overrides_block` marks a grant that opened a record the patient had blocked the person from.

`access_blocks` holds the patient's blocks of one staff member or one care team (exactly one of the two), asked
for by the patient or registered by a staff member on the patient's behalf; lifting keeps the row (who lifted
it and when). At most one active block per patient and target.

Both tables are owned by `cloud/access/emergency.py` and `cloud/access/blocks.py`; every write is audited in
its transaction. The runtime role may add rows and change only a grant's review and a block's lifting: it can
neither extend a grant nor delete anything the audit records point at.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from alembic import op

from cloud.migrations.helpers import grant_runtime, runtime_role

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE emergency_access (
            id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            patient_id      uuid NOT NULL REFERENCES patients(id),
            staff_id        uuid NOT NULL REFERENCES staff(id),
            reason_code     text NOT NULL CHECK (reason_code ~ '^[a-z_]{1,40}$'),
            note            text NOT NULL DEFAULT '' CHECK (char_length(note) <= 500),
            overrides_block boolean NOT NULL DEFAULT false,
            opened_at       timestamptz NOT NULL DEFAULT now(),
            expires_at      timestamptz NOT NULL,
            review          text NOT NULL DEFAULT 'pending' CHECK (review IN ('pending', 'accepted', 'reported')),
            reviewed_by     uuid REFERENCES staff(id),
            reviewed_at     timestamptz,
            review_note     text NOT NULL DEFAULT '' CHECK (char_length(review_note) <= 500),
            CHECK ((review = 'pending') = (reviewed_by IS NULL AND reviewed_at IS NULL))
        );
        CREATE INDEX emergency_access_holder ON emergency_access (patient_id, staff_id, expires_at);
        CREATE INDEX emergency_access_review ON emergency_access (municipality_id, review, opened_at);

        CREATE TABLE access_blocks (
            id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            patient_id      uuid NOT NULL REFERENCES patients(id),
            staff_id        uuid REFERENCES staff(id),
            care_team_id    uuid REFERENCES care_teams(id),
            requested_by    text NOT NULL CHECK (requested_by IN ('patient', 'staff')),
            created_by      uuid REFERENCES staff(id),
            created_at      timestamptz NOT NULL DEFAULT now(),
            lifted_at       timestamptz,
            lifted_on       text CHECK (lifted_on IN ('patient', 'staff')),
            lifted_by       uuid REFERENCES staff(id),
            CHECK (num_nonnulls(staff_id, care_team_id) = 1),
            CHECK ((requested_by = 'staff') = (created_by IS NOT NULL)),
            CHECK ((lifted_at IS NULL) = (lifted_on IS NULL)),
            CHECK (lifted_by IS NULL OR lifted_on = 'staff')
        );
        CREATE UNIQUE INDEX access_blocks_one_active ON access_blocks (patient_id, coalesce(staff_id, care_team_id))
            WHERE lifted_at IS NULL;
        CREATE INDEX access_blocks_staff ON access_blocks (staff_id) WHERE lifted_at IS NULL;
        CREATE INDEX access_blocks_team ON access_blocks (care_team_id) WHERE lifted_at IS NULL;
        """
    )
    grant_runtime("emergency_access", "access_blocks")
    role = '"' + runtime_role().replace('"', '""') + '"'
    op.execute(f"GRANT UPDATE (review, reviewed_by, reviewed_at, review_note) ON TABLE emergency_access TO {role}")
    op.execute(f"GRANT UPDATE (lifted_at, lifted_on, lifted_by) ON TABLE access_blocks TO {role}")


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
