"""Alerts: open and closed alerts, the append-only transition log, silences, pauses, protocol assignment and
overrides, and the pending-evaluation queue that makes detection durable.
"""

from alembic import op

from cloud.migrations.helpers import grant_runtime, grant_sequences

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.execute(
        """
        -- One row per alert. While resolved_at is null the alert is open; the partial unique index keeps at
        -- most one open alert per (patient, rule) whichever cloud process evaluates.
        CREATE TABLE alerts (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            patient_id      uuid NOT NULL REFERENCES patients(id),
            rule            text NOT NULL CHECK (length(rule) BETWEEN 1 AND 200),
            alert_class     text NOT NULL CHECK (alert_class IN ('clinical', 'liveness', 'data_quality')),
            severity        text NOT NULL CHECK (severity IN ('yellow', 'red')),
            state           text NOT NULL DEFAULT 'triggered'
                                CHECK (state IN ('triggered', 'acknowledged', 'resolved')),
            auto_resolve    boolean NOT NULL,
            opened_at       timestamptz NOT NULL,
            updated_at      timestamptz NOT NULL,
            last_input_at   timestamptz,
            repeats         integer NOT NULL DEFAULT 0 CHECK (repeats >= 0),
            message         text NOT NULL,
            last_value      jsonb NOT NULL DEFAULT '{}',
            explanation     jsonb NOT NULL DEFAULT '{}',
            snoozed_until   timestamptz,
            acknowledged_at timestamptz,
            acknowledged_by uuid,
            resolved_at     timestamptz,
            resolved_by     uuid,
            resolution      text,
            CHECK ((state = 'resolved') = (resolved_at IS NOT NULL))
        );
        CREATE UNIQUE INDEX alerts_one_open ON alerts (patient_id, rule) WHERE resolved_at IS NULL;
        CREATE INDEX alerts_patient_opened ON alerts (patient_id, opened_at DESC);

        -- Every transition, including what detection decided not to notify (suppressed_by), with the full
        -- explanation. Append-only: the runtime role may read and insert, never change the history.
        CREATE TABLE alert_transitions (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            alert_id        bigint REFERENCES alerts(id),
            patient_id      uuid NOT NULL REFERENCES patients(id),
            rule            text NOT NULL,
            event           text NOT NULL CHECK (event IN ('triggered', 'repeated', 'severity_changed',
                                'acknowledged', 'resolved', 'suppressed', 'pause_ended', 'detector_failed',
                                'snoozed')),
            alert_class     text NOT NULL,
            severity        text NOT NULL,
            at              timestamptz NOT NULL,
            notify          boolean NOT NULL,
            suppressed_by   text CHECK (suppressed_by IN ('inhibited', 'silenced', 'paused', 'snoozed')),
            last_input_at   timestamptz,
            message         text NOT NULL,
            detail          jsonb NOT NULL,
            recorded_at     timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX alert_transitions_patient ON alert_transitions (patient_id, id);
        CREATE INDEX alert_transitions_alert ON alert_transitions (alert_id) WHERE alert_id IS NOT NULL;

        -- Per (patient, rule): the newest input already accounted for by a closed alert or a recorded
        -- suppression, so an event is alerted at most once (PatientState.handled_until).
        CREATE TABLE alert_handled (
            patient_id      uuid NOT NULL REFERENCES patients(id),
            rule            text NOT NULL,
            handled_until   timestamptz NOT NULL,
            PRIMARY KEY (patient_id, rule)
        );

        CREATE TABLE alert_silences (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            patient_id      uuid NOT NULL REFERENCES patients(id),
            rule            text NOT NULL CHECK (length(rule) BETWEEN 1 AND 200),
            until           timestamptz NOT NULL,
            reason          text NOT NULL CHECK (length(btrim(reason)) >= 3),
            set_by          uuid NOT NULL,
            created_at      timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX alert_silences_patient ON alert_silences (patient_id, until);

        -- A pause (hospital stay). reminded_at is set when the evaluation has raised the "pause ended"
        -- reminder, so it is raised once.
        CREATE TABLE patient_pauses (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            patient_id      uuid NOT NULL REFERENCES patients(id),
            starts_at       timestamptz NOT NULL,
            until           timestamptz,
            reason          text NOT NULL CHECK (length(btrim(reason)) >= 3),
            set_by          uuid NOT NULL,
            created_at      timestamptz NOT NULL DEFAULT now(),
            reminded_at     timestamptz,
            CHECK (until IS NULL OR until > starts_at)
        );
        CREATE INDEX patient_pauses_open ON patient_pauses (patient_id) WHERE reminded_at IS NULL;

        -- Which protocols apply: a municipality default and a per-patient choice (patient wins). Without
        -- either, cloud/evaluation/protocols.py applies its documented default.
        CREATE TABLE municipality_protocols (
            municipality_id uuid PRIMARY KEY REFERENCES municipalities(id),
            protocols       text[] NOT NULL CHECK (cardinality(protocols) >= 1),
            updated_at      timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE patient_protocols (
            patient_id      uuid PRIMARY KEY REFERENCES patients(id),
            protocols       text[] NOT NULL CHECK (cardinality(protocols) >= 1),
            spo2_scale      smallint NOT NULL DEFAULT 1 CHECK (spo2_scale IN (1, 2)),
            spo2_set_by     uuid,
            spo2_reason     text,
            updated_at      timestamptz NOT NULL DEFAULT now(),
            CHECK (spo2_scale = 1 OR (spo2_set_by IS NOT NULL AND length(btrim(spo2_reason)) >= 3))
        );

        -- Rule overrides: municipality layer (patient_id null) and patient layer, each with who, why and a
        -- review date (alerts.protocols.schema.RuleOverride).
        CREATE TABLE rule_overrides (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            municipality_id uuid NOT NULL REFERENCES municipalities(id),
            patient_id      uuid REFERENCES patients(id),
            rule            text NOT NULL,
            params          jsonb NOT NULL DEFAULT '{}',
            severities      jsonb NOT NULL DEFAULT '{}',
            enabled         boolean NOT NULL DEFAULT true,
            reason          text NOT NULL CHECK (length(btrim(reason)) >= 3),
            set_by          uuid NOT NULL,
            review_by       date NOT NULL,
            created_at      timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX rule_overrides_scope ON rule_overrides (municipality_id, patient_id);

        -- The durable hand-over from ingest to detection: one row per touched (patient, metric), written in
        -- the ingest transaction; metric null asks for the clock-driven rules (scheduled sweep). Rows are
        -- deleted in the transaction that applies their evaluation. No unique key: ingest only appends, and
        -- a worker claims all rows of a patient at once.
        CREATE TABLE pending_evaluations (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            patient_id      uuid NOT NULL,
            metric          text,
            alarm           boolean NOT NULL DEFAULT false,
            enqueued_at     timestamptz NOT NULL DEFAULT now(),
            -- A failed evaluation is retried later (with back-off), never dropped.
            attempts        integer NOT NULL DEFAULT 0,
            retry_at        timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX pending_evaluations_drain ON pending_evaluations (alarm DESC, id);
        CREATE INDEX pending_evaluations_patient ON pending_evaluations (patient_id);
        """
    )
    grant_runtime(
        "alerts",
        "alert_handled",
        "alert_silences",
        "patient_pauses",
        "municipality_protocols",
        "patient_protocols",
        "rule_overrides",
        "pending_evaluations",
        mutable=True,
    )
    grant_runtime("alert_transitions")
    grant_sequences()


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup instead")
