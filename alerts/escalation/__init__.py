"""Escalation policies as data, and the pure decision of what an alert's chain does next.

`schema` validates policy documents, `load` reads the shipped default (`default.yaml`) and municipality
documents, `chain` decides per alert: fire a step, wait, or stop. No I/O happens here beyond reading the
packaged YAML; the engine that locks rows and sends messages is `cloud.escalation`.
"""

from alerts.escalation.chain import (
    Action,
    ChainState,
    Fire,
    Kind,
    Stop,
    Wait,
    calls_again,
    due_at,
    next_action,
    round_of,
    select,
    stored_step,
)
from alerts.escalation.load import PolicyError, default_policies, parse_policies
from alerts.escalation.schema import PolicyDocument, PolicySpec, StepSpec

__all__ = [
    "Action",
    "ChainState",
    "Fire",
    "Kind",
    "PolicyDocument",
    "PolicyError",
    "PolicySpec",
    "StepSpec",
    "Stop",
    "Wait",
    "calls_again",
    "default_policies",
    "due_at",
    "next_action",
    "parse_policies",
    "round_of",
    "select",
    "stored_step",
]
