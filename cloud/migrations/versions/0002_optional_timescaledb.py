"""OPTIONAL: make observations a TimescaleDB hypertable when the server has TimescaleDB loaded.

This is the only migration that differs between the two storage paths. The decision rests on what the server
has loaded, not on the extension's files being installed (`cloud.db.timescale.preloaded`): with the
files in place but the library not preloaded, `CREATE EXTENSION` would fail and with it every migration. On
plain PostgreSQL it does nothing but log one line; every query in the service is plain SQL (date_bin,
Europe/Oslo calendar days) so both storage paths answer the same. tests/timescaledb runs both.

A hypertable requires every unique index to contain the partitioning column, so the delivery key
(gateway, epoch, seq) becomes (gateway, epoch, seq, t); ingest already serialises each gateway's
batches and classifies duplicates against the key before inserting, so de-duplication stays exact.
Compression is not enabled here but at the end of the migration run (`cloud.db.timescale.configure`, called
by `cloud.db.migrate.upgrade`): a hypertable with compression refuses some of the later migrations' changes to
`observations` (0010 drops NOT NULL and adds a constraint: "operation not supported on hypertables that have
columnstore enabled"). The compression policy, and a retention policy only when an operator sets one (health
records are kept for years), are set there too, from the settings, on every run.
"""

import logging

from alembic import op

from cloud.db import timescale

revision = "0002"
down_revision = "0001"

log = logging.getLogger("cloud.migrations")


def upgrade() -> None:
    bind = op.get_bind()
    if not timescale.installed(bind):
        log.info("TimescaleDB is not installed on this server: observations is a plain PostgreSQL table")
        return
    if not timescale.preloaded(bind):
        # The operator may have meant to use it: say what is missing, loud enough to be seen.
        log.warning(
            "TimescaleDB is installed but this server does not preload it (shared_preload_libraries): "
            "observations is a plain PostgreSQL table"
        )
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    op.execute("ALTER TABLE observations DROP CONSTRAINT observations_delivery_key")
    op.execute(
        "ALTER TABLE observations ADD CONSTRAINT observations_delivery_key UNIQUE (gateway_id, outbox_epoch, seq, t)"
    )
    op.execute("SELECT create_hypertable('observations', by_range('t', INTERVAL '7 days'), migrate_data => true)")


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
