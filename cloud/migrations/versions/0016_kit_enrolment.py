"""Enrolling a kit through the pages: a code the installer confirms on site, and a gateway's recent heartbeats.

- `enrolment_codes` gains a public `id` (pages and the API name an enrolment by it, never by its code), who
  created the code, and whether a gateway may use it before an installer has confirmed the home on site
  (`needs_confirmation`: codes made on the page or through the API; codes made with the command line by a
  trusted operator keep working at once). `confirmed_*` and `rejected_*` say who decided and when; a rejected
  code is never usable.
- `gateway_heartbeats`: the heartbeats of the last day per gateway (`gateway_status` keeps only the newest),
  for the gateway's page; the writer prunes older ones as it inserts.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from alembic import op

from cloud.migrations.helpers import grant_runtime, grant_sequences

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE enrolment_codes ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY UNIQUE;
        ALTER TABLE enrolment_codes ADD COLUMN needs_confirmation boolean NOT NULL DEFAULT false;
        ALTER TABLE enrolment_codes ADD COLUMN created_by uuid REFERENCES staff(id);
        ALTER TABLE enrolment_codes ADD COLUMN confirmed_at timestamptz;
        ALTER TABLE enrolment_codes ADD COLUMN confirmed_by uuid REFERENCES staff(id);
        ALTER TABLE enrolment_codes ADD COLUMN rejected_at timestamptz;
        ALTER TABLE enrolment_codes ADD COLUMN rejected_by uuid REFERENCES staff(id);
        ALTER TABLE enrolment_codes ADD CONSTRAINT enrolment_codes_one_decision
            CHECK (confirmed_at IS NULL OR rejected_at IS NULL);
        CREATE INDEX enrolment_codes_home ON enrolment_codes (home_id, created_at);

        CREATE TABLE gateway_heartbeats (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            gateway_id      uuid NOT NULL REFERENCES gateways(id),
            reported_at     timestamptz NOT NULL,
            clock_skew_s    double precision NOT NULL,
            report          jsonb NOT NULL
        );
        CREATE INDEX gateway_heartbeats_recent ON gateway_heartbeats (gateway_id, reported_at);
        """
    )
    grant_runtime("gateway_heartbeats", mutable=True)
    grant_sequences()


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
