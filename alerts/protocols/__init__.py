"""Clinical protocols as data: YAML rule sets per condition, validated at load, with overrides.

`load_protocol(name)` gives a packaged protocol; `apply_overrides` layers municipality and per-patient
changes on it. The YAML files in this package are the protocols; docs/detection.md#protocols explains them.
"""

from alerts.protocols.load import ProtocolError, apply_overrides, load_protocol, parse_file, protocol_names
from alerts.protocols.model import Protocol, Rule
from alerts.protocols.schema import PatientSettings, RuleOverride

__all__ = [
    "PatientSettings",
    "Protocol",
    "ProtocolError",
    "Rule",
    "RuleOverride",
    "apply_overrides",
    "load_protocol",
    "parse_file",
    "protocol_names",
]
