"""Durable evaluation: the cloud side of detection.

Ingest queues a `pending_evaluations` row per touched (patient, metric) in its own transaction; any cloud
process drains the queue (`queue`, `FOR UPDATE SKIP LOCKED`), builds the pure inputs of
`alerts.evaluate.evaluate_patient` from the database (`protocols`, `inputs`, `state`) and applies the
transitions through `cloud.alert_store` in the same transaction that deletes the rows. `runner` wakes the
drain on `NOTIFY tryggheim_alarm` and on a poll, and runs the clock-driven sweep with APScheduler on every
replica.
"""
