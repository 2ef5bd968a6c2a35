"""Sign-in through identity providers (HelseID for staff, ID-porten for citizens).

- `staff.national_id` binds a person a provider vouches for (HelseID's `pid`) to their staff record;
  `hpr_number` is what the provider said last (health personnel register), shown to administrators.
- Sessions gain an idle limit (`last_seen_at`), what opened them (`origin`), whether the sign-in was strong
  enough for patient data (HelseID security level 4) and the provider's ID token, which the sign-out hands back
  to the provider's end-session endpoint (`id_token_hint`).
- `citizen_sessions`: a citizen's browser session, bound to their patient record by national id.
- `oidc_logins`: a browser sign-in under way (state, nonce, PKCE verifier), used once: the callback deletes
  it, so a replayed or forged `state` finds nothing.
- `dpop_proofs`: proof ids seen, kept until the proof could no longer be accepted anyway, so a proof replayed
  to any process of the deployment is refused (RFC 9449 section 11.1).
- `access_secrets`: the key that makes DPoP nonces, shared by every process through the database (made here,
  never configured, never leaves the database).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

import secrets

from alembic import op

from cloud.migrations.helpers import grant_read, grant_runtime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE staff ADD COLUMN national_id char(11) UNIQUE CHECK (national_id ~ '^[0-9]{11}$');
        ALTER TABLE staff ADD COLUMN hpr_number text CHECK (hpr_number ~ '^[0-9]{1,9}$');

        ALTER TABLE staff_sessions ADD COLUMN last_seen_at timestamptz NOT NULL DEFAULT now();
        ALTER TABLE staff_sessions ADD COLUMN origin text NOT NULL DEFAULT 'local' CHECK (origin IN ('local', 'oidc'));
        ALTER TABLE staff_sessions ADD COLUMN id_token text;
        ALTER TABLE staff_sessions ADD COLUMN patient_data boolean NOT NULL DEFAULT true;

        CREATE TABLE citizen_sessions (
            token_hash      bytea PRIMARY KEY,
            patient_id      uuid NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            csrf_token      text NOT NULL,
            acr             text NOT NULL,
            id_token        text,
            created_at      timestamptz NOT NULL DEFAULT now(),
            last_seen_at    timestamptz NOT NULL DEFAULT now(),
            expires_at      timestamptz NOT NULL
        );
        CREATE INDEX citizen_sessions_patient ON citizen_sessions (patient_id);

        CREATE TABLE oidc_logins (
            state_hash      bytea PRIMARY KEY,
            audience        text NOT NULL CHECK (audience IN ('staff', 'citizen')),
            nonce           text NOT NULL,
            code_verifier   text NOT NULL,
            return_to       text NOT NULL DEFAULT '/',
            expires_at      timestamptz NOT NULL
        );

        CREATE TABLE dpop_proofs (
            proof_hash      bytea PRIMARY KEY,
            expires_at      timestamptz NOT NULL
        );
        CREATE INDEX dpop_proofs_expiry ON dpop_proofs (expires_at);

        CREATE TABLE access_secrets (
            name            text PRIMARY KEY,
            value           bytea NOT NULL CHECK (length(value) >= 32)
        );
        """
    )
    op.execute(f"INSERT INTO access_secrets (name, value) VALUES ('dpop_nonce', '\\x{secrets.token_hex(32)}'::bytea)")  # noqa: S608
    grant_runtime("citizen_sessions", "oidc_logins", "dpop_proofs", mutable=True)
    grant_read("access_secrets")


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
