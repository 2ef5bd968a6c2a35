"""Hardening: revocable tokens, deactivated staff, a sign-in throttle that cannot lock out the real user,
and quarantine quotas per gateway.
"""

from alembic import op

from cloud.migrations.helpers import grant_runtime, grant_sequences

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.execute(
        """
        -- Tokens are listed and revoked by an id (the digest is the lookup key and is never shown).
        ALTER TABLE api_tokens
            ADD COLUMN id           uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
            ADD COLUMN revoked_by   uuid,
            ADD COLUMN last_used_at timestamptz;
        CREATE INDEX api_tokens_staff ON api_tokens (staff_id);

        -- Deactivation keeps the row (audit records point at it) and ends every session and token at once.
        ALTER TABLE staff
            ADD COLUMN deactivated_at timestamptz,
            ADD COLUMN deactivated_by uuid;

        -- One row per (user name, client) pair, counted with an atomic upsert. Only failures count; a pair
        -- that has signed in successfully is known and is not held back by failures from other clients.
        CREATE TABLE login_throttle (
            username        text NOT NULL,
            client          text NOT NULL,
            failures        integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
            first_failure_at timestamptz,
            last_failure_at timestamptz,
            blocked_until   timestamptz,
            last_success_at timestamptz,
            -- Attempts whose password is being checked: they hold the pair's places, but are no failures
            -- (yet) for the user's and the client's limits. Ignored once `pending_since` is old (a crash).
            pending         integer NOT NULL DEFAULT 0 CHECK (pending >= 0),
            pending_since   timestamptz,
            PRIMARY KEY (username, client)
        );
        CREATE INDEX login_throttle_client ON login_throttle (client, last_failure_at);
        -- Replaced by login_throttle (cloud/access/throttle.py); its rows only held recent failures.
        DROP TABLE login_failures;

        -- Quarantined readings beyond a gateway's hourly quota are counted here instead of stored.
        CREATE TABLE quarantine_overflow (
            gateway_id      uuid NOT NULL REFERENCES gateways(id),
            hour            timestamptz NOT NULL,
            readings        integer NOT NULL DEFAULT 0 CHECK (readings >= 0),
            bytes           bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
            PRIMARY KEY (gateway_id, hour)
        );
        -- What each gateway has put into the quarantine this hour: the quota is checked against it in the
        -- statement that writes the quarantine rows (no count over the append-only table per batch), which
        -- also drops the gateway's earlier hours.
        CREATE TABLE quarantine_usage (
            gateway_id      uuid NOT NULL REFERENCES gateways(id),
            hour            timestamptz NOT NULL,
            readings        integer NOT NULL DEFAULT 0 CHECK (readings >= 0),
            bytes           bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
            PRIMARY KEY (gateway_id, hour)
        );
        """
    )
    grant_runtime("login_throttle", "quarantine_overflow", "quarantine_usage", mutable=True)
    grant_sequences()


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
