"""Service hours, rota and the out-of-hours service of a municipality, as one validated document.

- `service_settings`: the document (`alerts.escalation.service.ServiceSettings`: team hours, dated overrides,
  the weekly rota, required roles, `out_of_hours`), validated by the service before it is stored. Without
  one, alerts route as before (to the worklist at once, around the clock).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""

from alembic import op

from cloud.migrations.helpers import grant_runtime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE service_settings (
            municipality_id uuid PRIMARY KEY REFERENCES municipalities(id),
            document        jsonb NOT NULL,
            updated_by      uuid,
            updated_at      timestamptz NOT NULL DEFAULT now()
        );
        """
    )
    grant_runtime("service_settings", mutable=True)


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
