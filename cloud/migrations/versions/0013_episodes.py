"""Worsening episodes: a rule's alert that is evidence of the patient's episode points at the episode's alert.

The episode is an alert like any other (rule `episode.clinical`, alerts.episodes); its members keep their own
rows, transitions and explanations, and `episode_id` says which episode they belong to, so the nurse's lists
can leave them out and the episode's page can list them. Alerts opened before this change stay on their own
(`episode_id` null). The foreign key is added NOT VALID and validated afterwards (the column is new and empty,
so the check is cheap, but it then holds no lock that stops detection from writing), and the partial index
covers only members, which are a small share of all alerts. (The transition log's event check already allows
`evidence_added`, since revision 0011.)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE alerts ADD COLUMN episode_id bigint;
        ALTER TABLE alerts ADD CONSTRAINT alerts_episode_fk FOREIGN KEY (episode_id) REFERENCES alerts(id) NOT VALID;
        ALTER TABLE alerts VALIDATE CONSTRAINT alerts_episode_fk;
        ALTER TABLE alerts ADD CONSTRAINT alerts_episode_not_self CHECK (episode_id IS NULL OR episode_id <> id);
        CREATE INDEX alerts_episode ON alerts (episode_id) WHERE episode_id IS NOT NULL;
        """
    )


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
