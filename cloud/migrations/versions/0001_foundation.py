"""Foundation tables: municipalities, homes, patients, gateways, devices, observations, quarantine."""

from alembic import op

from cloud.migrations.helpers import grant_read, grant_runtime, grant_sequences

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE municipalities (
            id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            kommunenummer   char(4) NOT NULL UNIQUE CHECK (kommunenummer ~ '^[0-9]{4}$'),
            orgnr           char(9) CHECK (orgnr ~ '^[0-9]{9}$'),
            name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            created_at      timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE homes (
            id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            address         text NOT NULL,
            access_notes    text NOT NULL DEFAULT '',
            phone           text,
            created_at      timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX homes_municipality ON homes (municipality_id);

        CREATE TABLE patients (
            id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            home_id         uuid REFERENCES homes(id),
            display_name    text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
            lifecycle       text NOT NULL DEFAULT 'referral' CHECK (lifecycle IN
                                ('referral', 'trial', 'active', 'paused', 'discharged', 'deceased')),
            created_at      timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX patients_municipality ON patients (municipality_id);

        CREATE TABLE gateways (
            id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            home_id         uuid REFERENCES homes(id),
            label           text NOT NULL DEFAULT '',
            created_at      timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX gateways_municipality ON gateways (municipality_id);

        CREATE TABLE devices (
            id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            profile_id      text NOT NULL,
            address         text NOT NULL,
            serial          text,
            created_at      timestamptz NOT NULL DEFAULT now(),
            UNIQUE (municipality_id, address)
        );

        -- One row per reading. Append-only for the runtime role. No foreign keys: ingest validates
        -- gateway, device and patient before it writes, and per-row FK checks would cost more than
        -- the rest of the insert (docs/architecture.md, "Decisions and why").
        -- t is the clinical time used by every query: the device clock when present and sane,
        -- else the gateway's receive time. measured_at keeps the device clock as sent (may be null).
        CREATE TABLE observations (
            id              bigint GENERATED ALWAYS AS IDENTITY,
            gateway_id      uuid NOT NULL,
            outbox_epoch    uuid NOT NULL,
            seq             bigint NOT NULL CHECK (seq > 0),
            device_id       uuid NOT NULL,
            patient_id      uuid,
            metric          text NOT NULL,
            value           double precision NOT NULL CHECK (value = value AND abs(value) < 'Infinity'),
            unit            text NOT NULL,
            t               timestamptz NOT NULL,
            measured_at     timestamptz,
            received_at     timestamptz NOT NULL,
            stored_at       timestamptz NOT NULL DEFAULT now(),
            context         jsonb,
            backfilled      boolean NOT NULL DEFAULT false,
            CONSTRAINT observations_delivery_key UNIQUE (gateway_id, outbox_epoch, seq)
        );
        CREATE INDEX observations_patient_metric_t ON observations (patient_id, metric, t);

        -- Readings that failed validation: kept with a reason from a closed set, never dropped.
        CREATE TABLE quarantine (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            gateway_id      uuid,
            outbox_epoch    uuid,
            seq             bigint,
            device_ref      text,
            reason          text NOT NULL CHECK (reason IN (
                                'malformed', 'unknown_metric', 'unit_not_convertible', 'implausible_value',
                                'implausible_time', 'unknown_device', 'foreign_device', 'unassigned',
                                'no_consent', 'sequence_conflict')),
            detail          text NOT NULL DEFAULT '',
            payload         jsonb NOT NULL,
            received_at     timestamptz,
            stored_at       timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX quarantine_gateway_reason ON quarantine (gateway_id, reason, stored_at);
        """
    )
    grant_runtime("municipalities", "homes", "patients", "gateways", "devices", mutable=True)
    grant_runtime("observations", "quarantine")
    grant_sequences()
    grant_read("alembic_version")


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
