"""Access: care teams, staff, sessions, API tokens, login throttling, the audit log."""

from alembic import op

from cloud.migrations.helpers import grant_runtime, grant_sequences

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE care_teams (
            id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            created_at      timestamptz NOT NULL DEFAULT now(),
            UNIQUE (municipality_id, name)
        );

        ALTER TABLE patients ADD COLUMN care_team_id uuid REFERENCES care_teams(id);
        CREATE INDEX patients_care_team ON patients (care_team_id);

        CREATE TABLE staff (
            id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            username        text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._@-]{2,100}$'),
            display_name    text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
            role            text NOT NULL CHECK (role IN ('nurse', 'team_lead', 'response_centre',
                                'municipality_admin', 'installer', 'auditor')),
            password_hash   text,
            active          boolean NOT NULL DEFAULT true,
            created_at      timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE staff_teams (
            staff_id        uuid NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
            team_id         uuid NOT NULL REFERENCES care_teams(id) ON DELETE CASCADE,
            PRIMARY KEY (staff_id, team_id)
        );

        -- Sessions and API tokens are stored as SHA-256 of the secret; the secret itself only ever
        -- exists in the client's cookie or header.
        CREATE TABLE staff_sessions (
            token_hash      bytea PRIMARY KEY,
            staff_id        uuid NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
            csrf_token      text NOT NULL,
            created_at      timestamptz NOT NULL DEFAULT now(),
            expires_at      timestamptz NOT NULL
        );
        CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

        CREATE TABLE api_tokens (
            token_hash      bytea PRIMARY KEY,
            staff_id        uuid NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
            label           text NOT NULL DEFAULT '',
            created_at      timestamptz NOT NULL DEFAULT now(),
            expires_at      timestamptz NOT NULL,
            revoked_at      timestamptz
        );

        CREATE TABLE login_failures (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            username        text NOT NULL,
            client          text NOT NULL,
            at              timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX login_failures_username ON login_failures (username, at);
        CREATE INDEX login_failures_client ON login_failures (client, at);

        -- Append-only and hash-chained per municipality (NULL municipality: requests whose principal
        -- is unknown). hash = SHA-256(prev_hash || canonical record); see cloud/audit/chain.py.
        CREATE TABLE audit_log (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at              timestamptz NOT NULL,
            municipality_id uuid,
            principal_kind  text NOT NULL CHECK (principal_kind IN ('staff', 'gateway', 'patient',
                                'anonymous', 'system')),
            principal_id    text,
            role            text,
            team_ids        uuid[] NOT NULL DEFAULT '{}',
            patient_id      uuid,
            action          text NOT NULL,
            resource        text NOT NULL,
            reason          text NOT NULL DEFAULT '',
            outcome         text NOT NULL CHECK (outcome IN ('allowed', 'denied')),
            correlation_id  text NOT NULL,
            prev_hash       bytea NOT NULL,
            hash            bytea NOT NULL
        );
        CREATE INDEX audit_log_chain ON audit_log (municipality_id, id);
        CREATE INDEX audit_log_patient ON audit_log (patient_id, at);
        """
    )
    grant_runtime("care_teams", "staff", "staff_teams", "staff_sessions", "api_tokens", "login_failures", mutable=True)
    grant_runtime("audit_log")
    grant_sequences()


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
