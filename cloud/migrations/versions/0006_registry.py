"""Registry: patients' identity, phone, GP, next of kin and lifecycle history; homes' key notes; device
assignments to a home (shared sensors); consent or documented assessment per supervision sensor; and the
release of quarantined readings.
"""

from alembic import op

from cloud.migrations.helpers import grant_runtime, grant_sequences, runtime_role

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE homes
            ADD COLUMN updated_at   timestamptz NOT NULL DEFAULT now();
        ALTER TABLE homes ADD CONSTRAINT homes_address_length CHECK (length(address) BETWEEN 1 AND 300);

        -- The national identity number (fødselsnummer or D-number) is optional: a referral may come before
        -- it is known. One person is one patient per municipality.
        ALTER TABLE patients
            ADD COLUMN national_id      char(11) CHECK (national_id ~ '^[0-9]{11}$'),
            ADD COLUMN national_id_kind text CHECK (national_id_kind IN ('fnr', 'dnr', 'synthetic')),
            ADD COLUMN phone            text,
            ADD COLUMN gp               jsonb NOT NULL DEFAULT '{}',
            ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT now(),
            ADD CONSTRAINT patients_national_id_kind CHECK ((national_id IS NULL) = (national_id_kind IS NULL));
        CREATE UNIQUE INDEX patients_national_id ON patients (municipality_id, national_id)
            WHERE national_id IS NOT NULL;
        CREATE INDEX patients_home ON patients (home_id);

        -- Next of kin and other contacts, in the order they are to be called.
        CREATE TABLE patient_contacts (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            patient_id      uuid NOT NULL REFERENCES patients(id),
            position        smallint NOT NULL CHECK (position BETWEEN 1 AND 20),
            name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            relation        text NOT NULL CHECK (length(relation) BETWEEN 1 AND 100),
            phone           text NOT NULL CHECK (length(phone) BETWEEN 3 AND 40),
            next_of_kin     boolean NOT NULL DEFAULT false,
            note            text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
            UNIQUE (patient_id, position)
        );

        -- Every change of the service lifecycle, by whom and why (the patient row holds the current one).
        CREATE TABLE patient_lifecycle_events (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            patient_id      uuid NOT NULL REFERENCES patients(id),
            from_state      text NOT NULL,
            to_state        text NOT NULL,
            reason          text NOT NULL CHECK (length(btrim(reason)) >= 3),
            set_by          uuid NOT NULL,
            at              timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX patient_lifecycle_events_patient ON patient_lifecycle_events (patient_id, id);

        -- A shared sensor (a couple's door or motion sensor) is assigned to the home instead of a person.
        -- Its readings are stored with no patient and belong to whoever lives there (cloud/registry/homes.py).
        ALTER TABLE device_assignments
            ALTER COLUMN patient_id DROP NOT NULL,
            ADD COLUMN home_id uuid REFERENCES homes(id),
            ADD COLUMN set_by uuid,
            ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(),
            ADD CONSTRAINT device_assignments_one_target CHECK (num_nonnulls(patient_id, home_id) = 1);
        CREATE INDEX device_assignments_home ON device_assignments (home_id) WHERE home_id IS NOT NULL;
        CREATE INDEX observations_home_device ON observations (device_id, metric, t) WHERE patient_id IS NULL;

        -- Consent, or a documented assessment where consent capacity is lacking, for one supervision sensor
        -- and one person, valid from `valid_from` until the end of the review date (Europe/Oslo) unless
        -- withdrawn earlier. Rows are never deleted: a withdrawal is recorded on the row.
        CREATE TABLE supervision_consents (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            patient_id      uuid NOT NULL REFERENCES patients(id),
            device_id       uuid NOT NULL REFERENCES devices(id),
            basis           text NOT NULL CHECK (basis IN ('consent', 'assessment')),
            note            text NOT NULL CHECK (length(btrim(note)) >= 3 AND length(note) <= 2000),
            valid_from      timestamptz NOT NULL,
            review_by       date NOT NULL,
            expires_at      timestamptz NOT NULL,
            recorded_by     uuid NOT NULL,
            recorded_at     timestamptz NOT NULL DEFAULT now(),
            withdrawn_at    timestamptz,
            withdrawn_by    uuid,
            CHECK (expires_at > valid_from),
            CHECK ((withdrawn_at IS NULL) = (withdrawn_by IS NULL))
        );
        CREATE INDEX supervision_consents_device ON supervision_consents (device_id, patient_id);
        CREATE INDEX supervision_consents_patient ON supervision_consents (patient_id);

        -- Releases of quarantined readings to a patient: who, which device, which time range, how many.
        CREATE TABLE quarantine_releases (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            device_id       uuid NOT NULL REFERENCES devices(id),
            patient_id      uuid NOT NULL REFERENCES patients(id),
            period          tstzrange NOT NULL CHECK (NOT isempty(period)),
            released        integer NOT NULL CHECK (released >= 0),
            released_by     uuid NOT NULL,
            audit_id        bigint NOT NULL,
            at              timestamptz NOT NULL DEFAULT now()
        );
        ALTER TABLE quarantine ADD COLUMN release_id bigint REFERENCES quarantine_releases(id);
        """
    )
    grant_runtime("patient_contacts", "supervision_consents", mutable=True)
    grant_runtime("patient_lifecycle_events", "quarantine_releases")
    # Quarantine stays append-only except for the mark that a reading was released to a patient.
    role = '"' + runtime_role().replace('"', '""') + '"'
    op.execute(f"GRANT UPDATE (release_id) ON TABLE quarantine TO {role}")
    grant_sequences()


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
