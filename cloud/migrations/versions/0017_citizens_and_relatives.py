"""Citizens' own accounts and their relatives (pårørende).

- `citizen_accounts`: a local sign-in (user name and password) for a citizen, for the demo and tests where
  ID-porten is not at hand. It binds by national id exactly as ID-porten's `pid` does: the account names a
  person, never a record, and the person is resolved to their patient record (or to their links as a relative)
  at every sign-in and every request. Refused in production with every local account (`auth_mode=local`).
- `relatives`: a relative the patient invited, with the patient's recorded consent (`consented_at`, by
  whom), until revoked (`revoked_at`). `person_id` is the same for every link of one person (one national id),
  so a relative signed in is one principal whatever the number of people they follow; it names them in the
  audit log without their national id. At most one live link per patient and person.
- The audit log knows relatives as principals (`principal_kind = 'relative'`); the constraint is added NOT VALID
  and validated afterwards, so the scan holds no lock that stops the appends.
- `citizen_sessions` may now belong to a relative, who has no patient record: the session keeps the national
  id it was opened for and how it was opened (`idporten` or a `local` account).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from alembic import op

from cloud.migrations.helpers import grant_runtime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE citizen_accounts (
            id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            username        text NOT NULL UNIQUE
                CHECK (username = lower(username) AND length(username) BETWEEN 1 AND 100),
            password_hash   text NOT NULL,
            national_id     char(11) NOT NULL UNIQUE CHECK (national_id ~ '^[0-9]{11}$'),
            active          boolean NOT NULL DEFAULT true,
            created_at      timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE relatives (
            id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            person_id       uuid NOT NULL,
            patient_id      uuid NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            display_name    text NOT NULL CHECK (length(btrim(display_name)) BETWEEN 1 AND 200),
            national_id     char(11) NOT NULL CHECK (national_id ~ '^[0-9]{11}$'),
            consented_at    timestamptz NOT NULL DEFAULT now(),
            consented_by    text NOT NULL,
            revoked_at      timestamptz,
            revoked_by      text,
            CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
        );
        CREATE UNIQUE INDEX relatives_one_live_link ON relatives (patient_id, national_id) WHERE revoked_at IS NULL;
        CREATE INDEX relatives_person ON relatives (national_id);
        CREATE INDEX relatives_of_patient ON relatives (patient_id);

        ALTER TABLE citizen_sessions ALTER COLUMN patient_id DROP NOT NULL;
        ALTER TABLE citizen_sessions ADD COLUMN national_id char(11) CHECK (national_id ~ '^[0-9]{11}$');
        ALTER TABLE citizen_sessions ADD COLUMN origin text NOT NULL DEFAULT 'idporten'
            CHECK (origin IN ('idporten', 'local'));
        ALTER TABLE citizen_sessions ADD CONSTRAINT citizen_sessions_person
            CHECK (patient_id IS NOT NULL OR national_id IS NOT NULL);

        ALTER TABLE audit_log DROP CONSTRAINT audit_log_principal_kind_check;
        ALTER TABLE audit_log ADD CONSTRAINT audit_log_principal_kind_check CHECK (principal_kind IN ('staff',
            'gateway', 'patient', 'relative', 'anonymous', 'system')) NOT VALID;
        ALTER TABLE audit_log VALIDATE CONSTRAINT audit_log_principal_kind_check;
        """
    )
    grant_runtime("citizen_accounts", "relatives", mutable=True)


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
