"""Ingest: what gateways send becomes stored observations or quarantined readings, never nothing."""
