"""The alert store: the only module that writes `alerts`, `alert_transitions` and `alert_handled` (and an
alert's comments and outcomes, and the patients' pauses and rule silences). `store` applies the lifecycle
transitions, whichever route causes them; `chain` writes the escalation columns the engine decides; `records`
maps rows to the pure lifecycle types; `suppression` holds the pauses and silences detection must respect.
A test scans the SQL of every other module under `cloud/` for writes to these tables."""
