"""Gateways: enrolment, credentials, status and configuration."""
