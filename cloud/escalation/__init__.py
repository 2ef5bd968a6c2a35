"""The escalation engine: policies copied onto alerts when they open (`policies`), steps run under row locks
(`engine`), the notifications outbox with retries and dead-letter (`outbox`), the per-process scheduler
(`runner`) and the live worklist fan-out over LISTEN/NOTIFY (`live`). Pure decisions live in
`alerts.escalation`; the alert rows themselves are written through `cloud.alert_store`."""
