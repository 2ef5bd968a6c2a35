"""Gateways and ingest: enrolment codes, credentials, device registrations and assignments with validity
periods, device proposals, gateway status, and the indexes de-duplication needs.
"""

from alembic import op

from cloud.migrations.helpers import grant_runtime, grant_sequences

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.execute(
        """
        -- Non-overlapping validity periods per device (btree_gist is a trusted extension: the database
        -- owner may create it).
        CREATE EXTENSION IF NOT EXISTS btree_gist;

        ALTER TABLE gateways
            ADD COLUMN credential_hash      bytea UNIQUE,
            ADD COLUMN previous_hash        bytea UNIQUE,
            ADD COLUMN previous_valid_until timestamptz,
            ADD COLUMN enrolled_at          timestamptz,
            ADD COLUMN revoked_at           timestamptz,
            ADD COLUMN clock_skew_s         double precision,
            ADD COLUMN heartbeat_interval_s integer CHECK (heartbeat_interval_s BETWEEN 60 AND 86400),
            ADD COLUMN sequence_conflicts   bigint NOT NULL DEFAULT 0;

        CREATE TABLE enrolment_codes (
            code_hash       bytea PRIMARY KEY,
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            home_id         uuid NOT NULL REFERENCES homes(id),
            created_at      timestamptz NOT NULL DEFAULT now(),
            expires_at      timestamptz NOT NULL,
            used_at         timestamptz,
            gateway_id      uuid REFERENCES gateways(id)
        );

        CREATE TABLE enrolment_failures (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            client          text NOT NULL,
            at              timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX enrolment_failures_client ON enrolment_failures (client, at);

        CREATE TABLE device_registrations (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            device_id       uuid NOT NULL REFERENCES devices(id),
            gateway_id      uuid NOT NULL REFERENCES gateways(id),
            valid           tstzrange NOT NULL CHECK (NOT isempty(valid)),
            EXCLUDE USING gist (device_id WITH =, valid WITH &&)
        );
        CREATE INDEX device_registrations_gateway ON device_registrations (gateway_id);

        CREATE TABLE device_assignments (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            device_id       uuid NOT NULL REFERENCES devices(id),
            patient_id      uuid NOT NULL REFERENCES patients(id),
            valid           tstzrange NOT NULL CHECK (NOT isempty(valid)),
            EXCLUDE USING gist (device_id WITH =, valid WITH &&)
        );
        CREATE INDEX device_assignments_patient ON device_assignments (patient_id);

        CREATE TABLE device_proposals (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            gateway_id      uuid NOT NULL REFERENCES gateways(id),
            address         text NOT NULL CHECK (length(address) BETWEEN 1 AND 200),
            profile_id      text NOT NULL CHECK (length(profile_id) BETWEEN 1 AND 200),
            details         jsonb NOT NULL DEFAULT '{}',
            proposed_at     timestamptz NOT NULL DEFAULT now(),
            confirmed_at    timestamptz,
            device_id       uuid REFERENCES devices(id),
            UNIQUE (gateway_id, address)
        );

        CREATE TABLE gateway_status (
            gateway_id      uuid PRIMARY KEY REFERENCES gateways(id),
            reported_at     timestamptz NOT NULL,
            gateway_clock   timestamptz NOT NULL,
            clock_skew_s    double precision NOT NULL,
            report          jsonb NOT NULL
        );

        -- A device that re-sends a stored record under a new sequence number is recognised by content.
        CREATE INDEX observations_device_content ON observations (device_id, metric, measured_at)
            WHERE measured_at IS NOT NULL;
        -- Re-sent batches must not quarantine the same reading twice.
        ALTER TABLE quarantine ADD COLUMN payload_hash bytea;
        CREATE UNIQUE INDEX quarantine_delivery_key ON quarantine (gateway_id, outbox_epoch, seq, payload_hash);
        CREATE INDEX quarantine_device ON quarantine (device_ref, stored_at);
        """
    )
    grant_runtime(
        "enrolment_codes",
        "enrolment_failures",
        "device_registrations",
        "device_assignments",
        "device_proposals",
        "gateway_status",
        mutable=True,
    )
    grant_sequences()


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
