"""Which VKP document a resolved alert becomes: the mapping of alert_codes.yaml, checked when it is loaded.

The mapping is data so that a municipality's integration lead can read it and a correction after VKP's test
environment is a one-line change. It is checked at load: every detector the detection library knows has an
entry (a new detector cannot go unjournaled by accident), every document it names exists, every code is a
VKP alert code and every severity level one of VKP's (0, 10, 20, 30, 40).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.detectors import DETECTORS

MAPPING_FILE = Path(__file__).with_name("alert_codes.yaml")
BY_METRIC = "by_metric"
_CODE = re.compile(r"^[1-7](\.[0-9]{1,2}){0,2}$")
_LEVELS = frozenset({0, 10, 20, 30, 40})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Document(_Frozen):
    """One VKP document type: its alert code, the code's display text and the ServiceCodes header value."""

    code: str = Field(pattern=_CODE.pattern)
    display: str = Field(min_length=1)
    service_code: Literal["dho", "ta", "dt"]
    unverified: str | None = None


class CodeTable(_Frozen):
    """The whole mapping file."""

    code_system: str
    severity_system: str
    composition_profile: str
    detected_issue_profile: str
    composition_event_system: str
    composition_section_system: str
    severity_extension: str
    severity_extension_unverified: str
    severity_levels: dict[Literal["alarm", "red", "yellow"], int]
    documents: dict[str, Document]
    questionnaire_metrics: tuple[str, ...]
    detectors: dict[str, str | None]
    event_metrics: dict[str, str]
    episode_rules: tuple[str, ...]
    platform_rules: tuple[str, ...]
    skip_classes: tuple[str, ...]

    @model_validator(mode="after")
    def _consistent(self) -> CodeTable:
        missing = sorted(set(DETECTORS) - set(self.detectors))
        if missing:
            raise ValueError(f"detectors without a VKP document: {', '.join(missing)}")
        unknown = sorted(set(self.detectors) - set(DETECTORS))
        if unknown:
            raise ValueError(f"detectors the detection library does not know: {', '.join(unknown)}")
        named = {d for d in self.detectors.values() if d not in (None, BY_METRIC)} | set(self.event_metrics.values())
        absent = sorted(named - set(self.documents) - {"questionnaire", "missing_questionnaire", "summary"})
        required = {"questionnaire", "missing_questionnaire", "summary", "measurement"} - set(self.documents)
        if absent or required:
            raise ValueError(f"documents named but not defined: {', '.join(sorted(set(absent) | required))}")
        bad_levels = {k: v for k, v in self.severity_levels.items() if v not in _LEVELS}
        if bad_levels or set(self.severity_levels) != {"alarm", "red", "yellow"}:
            raise ValueError(f"severity levels must be alarm, red and yellow, each one of {sorted(_LEVELS)}")
        return self


@cache
def mapping() -> CodeTable:
    """The mapping, loaded once and checked (ValueError with the reason when the file is wrong)."""
    return load(MAPPING_FILE.read_text(encoding="utf-8"))


def load(text: str) -> CodeTable:
    """Parse and check a mapping document."""
    return CodeTable.model_validate(yaml.safe_load(text))


def document_name(
    table: CodeTable, *, rule: str, detector: str | None, metrics: Collection[str], alert_class: str
) -> str | None:
    """The name of the document an alert of `rule` becomes, or None when it is not journaled (equipment
    alerts, the platform's own alerts). A rule the patient's protocol no longer has (`detector` None) is
    journaled as a summary alert, so a changed protocol never loses a resolved alert's record."""
    if rule in table.episode_rules:
        return "summary"
    if rule in table.platform_rules or alert_class in table.skip_classes:
        return None
    if detector is None:
        return "summary"
    name = table.detectors.get(detector, "summary")
    if name == BY_METRIC:
        fired = [table.event_metrics[m] for m in metrics if m in table.event_metrics]
        return fired[0] if fired else "measurement"
    asks_questions = any(m in table.questionnaire_metrics for m in metrics)
    if asks_questions and name == "measurement":
        return "questionnaire"
    if asks_questions and name == "missing_measurement":
        return "missing_questionnaire"
    return name


def severity_level(table: CodeTable, *, severity: str, alarm: bool) -> int:
    """VKP's severity level of an alert: critical for alarms, else by colour."""
    if alarm:
        return table.severity_levels["alarm"]
    if severity in ("red", "yellow"):
        return table.severity_levels["red" if severity == "red" else "yellow"]
    return 0
