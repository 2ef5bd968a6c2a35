"""${message}"""

from alembic import op

from cloud.migrations.helpers import grant_runtime

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
