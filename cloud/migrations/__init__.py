"""Schema migrations (Alembic, plain SQL). Forward-only: health records are never migrated down."""
