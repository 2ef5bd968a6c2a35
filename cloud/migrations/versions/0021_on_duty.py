"""Who was on duty when a step fired: `notifications.on_duty`, the staff the municipality's rota names for the
step's role and the patient's team at that moment (read from the rota when the step runs, not when the policy
was copied onto the alert). Empty when the municipality keeps no rota or nobody is on it then.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE notifications ADD COLUMN on_duty text[] NOT NULL DEFAULT '{}'")
