"""Interoperability: the municipality's HelseID clients for VKP and PMD, the VKP journal outbox, and PMD sharing.

`interop_clients`: one client configuration per municipality and national service (`vkp`, `pmd`), as VKP
requires one approved HelseID client per system instance and municipality. The private key is never stored:
`key_file` names the file it is read from (a mounted secret). Endpoints of the provider come from its metadata
document, so only the issuer is kept; `base_url` is the service's FHIR base. `active_from`: alerts resolved and
measurements stored before it are not sent (turning VKP on does not journal years of history).

`vkp_journal`: one row per resolved alert or episode that must reach the patient's record, with the document
Bundle frozen when the row is made (seconds after the resolution, by the journal's sweep over recently resolved
alerts, `alerts_resolved_at`), so what the nurse closed is what is journaled, even if sent days later. Rows are
never deleted: `journaled_at` marks success, `last_error` the reason of the last failure ("journaling failed" in
the worklist), `next_attempt_at` the back-off. Every attempt is kept in `vkp_journal_attempts`.

`pmd_consents`: the patient's consent to share measurements with Pasientens måledata (withdrawal recorded on
the row, never deleted). `pmd_cursors`: per patient, the last observation (by `stored_at`, `id`) handed to the
sharing outbox; `pmd_retries`: a measurement PMD refused, with the Observation as it was sent, retried on its
own until shared.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03
"""

from alembic import op

from cloud.migrations.helpers import grant_runtime, grant_sequences

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE interop_clients (
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            service         text NOT NULL CHECK (service IN ('vkp', 'pmd')),
            issuer          text NOT NULL CHECK (issuer ~ '^https?://'),
            client_id       text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 200),
            key_file        text NOT NULL CHECK (length(key_file) BETWEEN 1 AND 1000),
            scopes          text[] NOT NULL CHECK (cardinality(scopes) >= 1),
            base_url        text NOT NULL CHECK (base_url ~ '^https?://'),
            enabled         boolean NOT NULL DEFAULT true,
            active_from     timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now(),
            updated_by      uuid,
            PRIMARY KEY (municipality_id, service)
        );

        CREATE TABLE vkp_journal (
            alert_id        bigint PRIMARY KEY REFERENCES alerts(id),
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            patient_id      uuid NOT NULL REFERENCES patients(id),
            document        jsonb NOT NULL,
            alert_code      text NOT NULL,
            created_at      timestamptz NOT NULL DEFAULT now(),
            attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            last_error      text,
            journaled_at    timestamptz,
            receipt         jsonb
        );
        CREATE INDEX alerts_resolved_at ON alerts (resolved_at) WHERE resolved_at IS NOT NULL;
        CREATE INDEX vkp_journal_due ON vkp_journal (next_attempt_at) WHERE journaled_at IS NULL;
        CREATE INDEX vkp_journal_patient ON vkp_journal (patient_id);

        CREATE TABLE vkp_journal_attempts (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            alert_id        bigint NOT NULL REFERENCES vkp_journal(alert_id),
            at              timestamptz NOT NULL DEFAULT now(),
            ok              boolean NOT NULL,
            status          integer,
            detail          text NOT NULL,
            process         text NOT NULL
        );
        CREATE INDEX vkp_journal_attempts_alert ON vkp_journal_attempts (alert_id, id);

        CREATE TABLE pmd_consents (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            patient_id      uuid NOT NULL REFERENCES patients(id),
            note            text NOT NULL CHECK (length(btrim(note)) >= 3 AND length(note) <= 2000),
            given_at        timestamptz NOT NULL,
            recorded_by     uuid NOT NULL,
            recorded_at     timestamptz NOT NULL DEFAULT now(),
            withdrawn_at    timestamptz,
            withdrawn_by    uuid,
            CHECK ((withdrawn_at IS NULL) = (withdrawn_by IS NULL))
        );
        CREATE UNIQUE INDEX pmd_consents_one_live ON pmd_consents (patient_id) WHERE withdrawn_at IS NULL;

        CREATE TABLE pmd_cursors (
            patient_id      uuid PRIMARY KEY REFERENCES patients(id),
            stored_at       timestamptz NOT NULL,
            observation_id  bigint NOT NULL,
            updated_at      timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE pmd_retries (
            observation_id  bigint PRIMARY KEY,
            patient_id      uuid NOT NULL REFERENCES patients(id),
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            full_url        text NOT NULL UNIQUE,
            resource        jsonb NOT NULL,
            attempts        integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
            next_attempt_at timestamptz NOT NULL,
            last_error      text NOT NULL,
            shared_at       timestamptz
        );
        CREATE INDEX pmd_retries_due ON pmd_retries (next_attempt_at) WHERE shared_at IS NULL;
        """
    )
    grant_runtime("interop_clients", "vkp_journal", "pmd_consents", "pmd_cursors", "pmd_retries", mutable=True)
    grant_runtime("vkp_journal_attempts")
    grant_sequences()
