"""OPTIONAL: make observations a TimescaleDB hypertable when the extension is available.

This is the only place TimescaleDB appears. On plain PostgreSQL (the CI and development machines,
where TimescaleDB cannot be installed) it does nothing; every query in the service is plain SQL
(date_bin, Europe/Oslo calendar days) so both storage paths answer the same. NOT exercised in CI:
see docs/operations.md.

A hypertable requires every unique index to contain the partitioning column, so the delivery key
(gateway, epoch, seq) becomes (gateway, epoch, seq, t); ingest already serialises each gateway's
batches and classifies duplicates against the key before inserting, so de-duplication stays exact.
Compression after 7 days; never a retention policy: health records are kept for years.
"""

from alembic import op
from sqlalchemy import text

revision = "0002"
down_revision = "0001"


def timescaledb_available() -> bool:
    """True when the server could load the TimescaleDB extension."""
    bind = op.get_bind()
    found = bind.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")).first()
    return found is not None


def upgrade() -> None:
    if not timescaledb_available():
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    op.execute("ALTER TABLE observations DROP CONSTRAINT observations_delivery_key")
    op.execute(
        "ALTER TABLE observations ADD CONSTRAINT observations_delivery_key UNIQUE (gateway_id, outbox_epoch, seq, t)"
    )
    op.execute("SELECT create_hypertable('observations', by_range('t', INTERVAL '7 days'), migrate_data => true)")
    op.execute(
        "ALTER TABLE observations SET (timescaledb.compress, "
        "timescaledb.compress_segmentby = 'patient_id, metric', timescaledb.compress_orderby = 't')"
    )
    op.execute("SELECT add_compression_policy('observations', INTERVAL '7 days')")


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
